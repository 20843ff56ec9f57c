"""Where a run came from: git state, interpreter, package versions and a hash of the config."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path, PurePath
from typing import Any, Mapping, Sequence

from runner.errors import ConfigError
from runner.jsonio import write_json

log = logging.getLogger(__name__)

DEFAULT_PACKAGES = ("hydra-core", "omegaconf", "numpy", "scikit-learn", "joblib", "azureml-core")
GIT_TIMEOUT_SECONDS = 10.0
# No index lock (parallel workers may run `git status` at once), stable English messages.
_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True)
class GitState:
    """The commit a run was made from; every field is None when git could not tell."""

    commit: str | None
    dirty: bool | None
    branch: str | None
    root: str | None


class _GitUnavailable(Exception):
    """git could not answer; the message says why."""


def _git(args: Sequence[str], cwd: Path) -> str:
    """Run one git command in cwd and return its stripped stdout, or raise _GitUnavailable."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True,
            timeout=GIT_TIMEOUT_SECONDS, env={**os.environ, **_GIT_ENV}, check=False,
        )
    except FileNotFoundError as exc:
        raise _GitUnavailable("the git executable was not found on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise _GitUnavailable(f"'git {' '.join(args)}' took over {GIT_TIMEOUT_SECONDS:g}s") from exc
    except OSError as exc:
        raise _GitUnavailable(f"git could not be started: {exc}") from exc
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        reason = lines[0] if lines else f"exit status {done.returncode}"
        raise _GitUnavailable(f"'git {' '.join(args)}' failed: {reason}")
    return done.stdout.strip()


def git_state(path: Path) -> GitState:
    """Return the git commit, dirtiness, branch and root of path; all None if git can't tell.

    Untracked files count as dirty, files git ignores do not. A detached HEAD has branch None.
    A repository without commits has commit None and branch None but a root and dirtiness.
    """
    unknown = GitState(commit=None, dirty=None, branch=None, root=None)
    path = Path(path)
    if not path.is_dir():
        log.warning("Git commits won't be recorded: %s is not a folder", path)
        return unknown
    try:
        root = _git(["rev-parse", "--show-toplevel"], path)
        dirty = _git(["status", "--porcelain"], path) != ""
    except _GitUnavailable as exc:
        log.warning("Git commits won't be recorded: %s (in %s)", exc, path)
        return unknown
    try:
        commit = _git(["rev-parse", "--verify", "HEAD"], path)
        branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], path)
    except _GitUnavailable as exc:
        log.warning("Git commit won't be recorded: %s (repository %s has no commits?)", exc, root)
        return GitState(commit=None, dirty=dirty, branch=None, root=root)
    state = GitState(commit, dirty, None if branch == "HEAD" else branch, root)
    log.debug(
        "Git: commit %s%s on %s", commit[:12], " (dirty)" if dirty else "",
        state.branch or "detached HEAD",
    )
    return state


def package_versions(names: Sequence[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    """Return the installed version of each distribution (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def python_version() -> str:
    """Return the running interpreter's version, e.g. '3.11.7'."""
    return platform.python_version()


def platform_name() -> str:
    """Return a one-line description of the OS and machine, as platform.platform() gives it."""
    return platform.platform()


def _plain(value: Any, where: str) -> Any:
    """Return value as plain JSON types (str-keyed dicts, lists, scalars) or raise ConfigError."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ConfigError(
        f"config value at {where or '<root>'!r} has type {type(value).__name__}, which cannot be "
        "hashed; use strings, numbers, booleans, null, lists and mappings."
    )


def config_hash(cfg_section: Mapping[str, Any]) -> str:
    """Return the sha256 hex of a canonical JSON dump (sorted keys, compact) of a config section.

    The runner passes the resolved dataset, model and seed sections, so two runs with the same
    hash train the same model on the same data source. Values are hashed as typed: 1 and 1.0
    differ. Nested mappings (including OmegaConf DictConfig) are converted to plain dicts.
    """
    canonical = json.dumps(
        _plain(cfg_section, ""), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Provenance:
    """Everything recorded about where and how a run was made."""

    git: GitState
    python: str
    platform: str
    packages: Mapping[str, str | None]
    config_hash: str
    created: str
    argv: list[str]

    def tags(self) -> dict[str, str]:
        """Return the registry tags: git_commit, git_dirty and config_hash as strings."""
        dirty = self.git.dirty
        return {
            "git_commit": self.git.commit or "unknown",
            "git_dirty": "unknown" if dirty is None else str(dirty).lower(),
            "config_hash": self.config_hash,
        }

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of every field."""
        data = asdict(self)
        data["packages"] = dict(self.packages)
        data["argv"] = list(self.argv)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """Rebuild a Provenance from the dict to_dict returned (e.g. read back from JSON)."""
        return cls(
            git=GitState(**data["git"]),
            python=data["python"],
            platform=data["platform"],
            packages=dict(data["packages"]),
            config_hash=data["config_hash"],
            created=data["created"],
            argv=list(data["argv"]),
        )


def collect(
    project_root: Path, config_section: Mapping[str, Any], argv: Sequence[str]
) -> Provenance:
    """Gather git state, interpreter, packages and the config hash for a run."""
    provenance = Provenance(
        git=git_state(project_root),
        python=python_version(),
        platform=platform_name(),
        packages=package_versions(),
        config_hash=config_hash(config_section),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        argv=[str(arg) for arg in argv],
    )
    log.info(
        "Provenance: config hash %s, git commit %s",
        provenance.config_hash[:12], provenance.tags()["git_commit"][:12],
    )
    return provenance


def write(provenance: Provenance, path: Path) -> None:
    """Write provenance as UTF-8 JSON (indent 2, sorted keys) atomically via temp + os.replace."""
    write_json(path, provenance.to_dict())
    log.info("Wrote provenance to %s", path)
