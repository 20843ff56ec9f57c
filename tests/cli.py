"""Run ``python run.py`` as a real process in a temporary folder (shared by the CLI tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_PY = ROOT / "run.py"


@dataclass(frozen=True)
class CliRun:
    """The outcome of one ``python run.py`` process."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together."""
        return self.stdout + self.stderr


def run_cli(cwd: Path, *args: str, registry: Path | None = None, timeout: float = 300,
            env: dict[str, str] | None = None) -> CliRun:
    """Run run.py in ``cwd``; the registry always goes under ``cwd`` unless ``args`` set it.

    The user cache folder (MNIST files, parsed data) is ``XDG_CACHE_HOME=<cwd>/.cache`` so no test
    writes to the real home; ``env`` adds or overrides variables of the child process.
    """
    argv = list(args)
    if not any(a.startswith("registration.registry_dir=") for a in argv) and "--cfg" not in argv:
        argv.append(f"registration.registry_dir={registry or cwd / 'registry'}")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HYDRA_")},
           "XDG_CACHE_HOME": str(cwd / ".cache"), **(env or {})}
    proc = subprocess.run(
        [sys.executable, str(RUN_PY), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def run_dirs(cwd: Path) -> list[Path]:
    """Every run folder (one holding .hydra/) under ``cwd``, oldest first."""
    return sorted((p.parent for p in cwd.rglob(".hydra")), key=lambda p: p.stat().st_mtime)


def metrics_of(run_dir: Path) -> dict:
    """The task's metrics.json of a run folder."""
    return json.loads((run_dir / "outputs" / "metrics.json").read_text())


def registry_versions(registry: Path, name: str) -> list[str]:
    """Version folder names present for ``name`` (empty when none)."""
    folder = registry / name
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
