"""Tests for runner.provenance: git state, package versions, config hash and the written record."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from runner import provenance
from runner.errors import ConfigError
from runner.provenance import GitState, Provenance, collect, config_hash, git_state

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def git(repo: Path, *args: str) -> str:
    """Run git in repo with a throwaway identity and return stdout."""
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    command = ["git", *identity, "-c", "commit.gpgsign=false", *args]
    done = subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep git from reading user/system config or finding a repository above tmp_path."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit on branch main; build/ is ignored."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('hello')\n")
    (path / ".gitignore").write_text("build/\n")
    git(path, "add", "train.py", ".gitignore")
    git(path, "commit", "-q", "-m", "initial")
    return path


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the provenance module's warning messages."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == provenance.__name__ and r.levelno == logging.WARNING
    ]


def test_git_state_clean_then_dirty(repo: Path) -> None:
    state = git_state(repo)
    assert state.commit == git(repo, "rev-parse", "HEAD")
    assert len(state.commit or "") == 40
    assert state.dirty is False
    assert state.branch == "main"
    assert Path(state.root or "").resolve() == repo.resolve()
    (repo / "train.py").write_text("print('changed')\n")
    assert git_state(repo).dirty is True


def test_untracked_counts_as_dirty_ignored_does_not(repo: Path) -> None:
    (repo / "build").mkdir()
    (repo / "build" / "artifact.bin").write_bytes(b"x")
    assert git_state(repo).dirty is False
    (repo / "notes.txt").write_text("new")
    assert git_state(repo).dirty is True


def test_git_state_from_subfolder_and_detached_head(repo: Path) -> None:
    sub = repo / "conf"
    sub.mkdir()
    git(repo, "checkout", "-q", "--detach")
    state = git_state(sub)
    assert state.commit == git(repo, "rev-parse", "HEAD")
    assert state.branch is None
    assert Path(state.root or "").resolve() == repo.resolve()


def test_repository_without_commits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    git(tmp_path, "init", "-q")
    state = git_state(tmp_path)
    assert state.commit is None and state.branch is None
    assert state.root is not None
    assert len(warnings_of(caplog)) == 1


def test_non_repository_gives_all_none_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    assert git_state(folder) == GitState(commit=None, dirty=None, branch=None, root=None)
    messages = warnings_of(caplog)
    assert len(messages) == 1
    assert "won't be recorded" in messages[0] and "not a git repository" in messages[0]


def test_missing_git_gives_all_none_and_one_warning(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    assert git_state(repo) == GitState(None, None, None, None)
    messages = warnings_of(caplog)
    assert len(messages) == 1 and "git executable was not found" in messages[0]


def test_missing_folder_gives_all_none(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert git_state(tmp_path / "absent") == GitState(None, None, None, None)
    assert len(warnings_of(caplog)) == 1


def test_package_versions() -> None:
    versions = provenance.package_versions(("pytest", "definitely-not-installed-xyz"))
    assert versions["pytest"] == pytest.__version__
    assert versions["definitely-not-installed-xyz"] is None
    assert set(provenance.package_versions()) == set(provenance.DEFAULT_PACKAGES)


def test_python_version_and_platform() -> None:
    major, minor = sys.version_info[:2]
    assert provenance.python_version().startswith(f"{major}.{minor}.")
    assert provenance.platform_name()


def test_config_hash_stable_under_key_order_and_sensitive_to_values() -> None:
    a = {"dataset": {"name": "digits", "test": 0.2}, "model": {"C": 1.0, "k": "rbf"}, "seed": 0}
    b = {"seed": 0, "model": {"k": "rbf", "C": 1.0}, "dataset": {"test": 0.2, "name": "digits"}}
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 64 and int(config_hash(a), 16) >= 0
    changed = {**a, "model": {"C": 0.5, "k": "rbf"}}
    assert config_hash(changed) != config_hash(a)
    assert config_hash({**a, "seed": 1}) != config_hash(a)
    assert config_hash({"layers": [1, 2]}) != config_hash({"layers": [2, 1]})


def test_config_hash_accepts_omegaconf_and_rejects_odd_types() -> None:
    from omegaconf import OmegaConf

    plain = {"dataset": {"name": "iris", "path": "data/iris"}, "seed": 3, "tags": ["a", "b"]}
    cfg = OmegaConf.create(
        {"seed": 3, "base": "data", "tags": ["a", "b"],
         "dataset": {"name": "iris", "path": "${base}/iris"}}
    )
    section = {k: cfg[k] for k in ("dataset", "seed", "tags")}
    assert config_hash(section) == config_hash(plain)
    with pytest.raises(ConfigError, match="'model.estimator' has type object"):
        config_hash({"model": {"estimator": object()}})


def test_tags() -> None:
    base = dict(python="3.11.7", platform="Linux", packages={}, config_hash="c0ffee", created="t")
    base["argv"] = []
    known = Provenance(git=GitState("a" * 40, True, "main", "/r"), **base)  # type: ignore[arg-type]
    assert known.tags() == {"git_commit": "a" * 40, "git_dirty": "true", "config_hash": "c0ffee"}
    clean = Provenance(git=GitState("b" * 40, False, None, "/r"), **base)  # type: ignore[arg-type]
    assert clean.tags()["git_dirty"] == "false"
    unknown = Provenance(git=GitState(None, None, None, None), **base)  # type: ignore[arg-type]
    expected = {"git_commit": "unknown", "git_dirty": "unknown", "config_hash": "c0ffee"}
    assert unknown.tags() == expected


def test_collect_and_write_round_trip(repo: Path, tmp_path: Path) -> None:
    section = {"dataset": {"name": "digits"}, "model": {"C": 1.0}, "seed": 0}
    prov = collect(repo, section, ["run.py", "model.C=1.0"])
    assert prov.git.commit == git(repo, "rev-parse", "HEAD")
    assert prov.config_hash == config_hash(section)
    assert prov.argv == ["run.py", "model.C=1.0"]
    assert set(prov.packages) == set(provenance.DEFAULT_PACKAGES)
    assert prov.python == provenance.python_version()
    assert prov.tags()["git_dirty"] == "false"
    out = tmp_path / "run" / "provenance.json"
    provenance.write(prov, out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data == prov.to_dict()
    assert data["git"]["commit"] == prov.git.commit
    assert Provenance.from_dict(data) == prov
    assert [p.name for p in out.parent.iterdir()] == ["provenance.json"]


def test_modules_import_without_heavy_dependencies() -> None:
    code = (
        "import sys, runner.registry, runner.provenance; "
        "heavy = {'sklearn', 'numpy', 'azureml', 'pandas', 'hydra', 'omegaconf'}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
