"""What gets uploaded as the run's snapshot: only the task's ``*.py`` files, plus an ``.amlignore``.

Azure ML uploads the whole ``source_directory`` (nothing is excluded by default: ``.git``, data,
outputs and virtualenvs would all go up), and it checks its limits only at submit. So the runner
copies the task files into a fresh folder, writes an ``.amlignore`` there, and checks the limits
itself first. Pure: no azureml import.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from runner.errors import ConfigError, SubmissionError

log = logging.getLogger(__name__)

MAX_FILES = 2000  # azureml._restclient.constants.SNAPSHOT_MAX_FILES
MAX_BYTES = 300 * 1024 * 1024  # azureml._restclient.constants.SNAPSHOT_MAX_SIZE_BYTES
IGNORE_FILE = ".amlignore"
IGNORE_TEXT = (
    "# Written by the runner: this snapshot holds only the task's *.py files.\n"
    "__pycache__/\n*.pyc\noutputs/\n.git/\ndata/\n"
)


@dataclass(frozen=True)
class SnapshotFile:
    """One file of the snapshot: its name and size in bytes."""

    name: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """Every file the snapshot holds, their total size and Azure ML's limits."""

    files: tuple[SnapshotFile, ...]
    max_files: int = MAX_FILES
    max_bytes: int = MAX_BYTES

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes."""
        return sum(f.size for f in self.files)

    def problem(self) -> str | None:
        """Which limit is exceeded, or None."""
        if len(self.files) > self.max_files:
            return f"{len(self.files):,} files, more than Azure ML's limit of {self.max_files:,}"
        if self.total_bytes > self.max_bytes:
            return f"{_mb(self.total_bytes)}, more than Azure ML's limit of {_mb(self.max_bytes)}"
        return None

    def lines(self) -> list[str]:
        """The manifest as text: one line per file, then the total against the limits."""
        width = max((len(f.name) for f in self.files), default=0)
        rows = [f"{f.name:<{width}}  {f.size:>12,} B" for f in self.files]
        rows.append(
            f"total {len(self.files)} files, {self.total_bytes:,} B "
            f"(limits: {self.max_files:,} files, {_mb(self.max_bytes)})"
        )
        return rows


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MB"


def task_files(source_dir: Path, script: str) -> list[Path]:
    """The ``*.py`` files directly in ``source_dir`` (sorted); ConfigError if the script is not among them."""
    if not (source_dir / script).is_file():
        raise ConfigError(f"The task script {source_dir / script} does not exist.")
    return sorted(p for p in source_dir.glob("*.py") if p.is_file())


def plan_manifest(source_dir: Path, script: str) -> Manifest:
    """The manifest of the snapshot that would be built (nothing is copied)."""
    entries = [SnapshotFile(p.name, p.stat().st_size) for p in task_files(source_dir, script)]
    entries.append(SnapshotFile(IGNORE_FILE, len(IGNORE_TEXT.encode("utf-8"))))
    return Manifest(tuple(sorted(entries, key=lambda f: f.name)))


def check_limits(manifest: Manifest) -> None:
    """Raise SubmissionError when the snapshot would exceed Azure ML's limits."""
    problem = manifest.problem()
    if problem:
        raise SubmissionError(
            f"The run's snapshot would hold {problem}; Azure ML refuses it at submit. The snapshot holds "
            "the task folder's *.py files only: move other .py files out of it, and keep data out of the "
            "snapshot (dataset.path is uploaded to the datastore separately)."
        )


def build_snapshot(source_dir: Path, script: str, dest: Path) -> Manifest:
    """Check the limits, then copy the task files into the empty folder ``dest`` and write ``.amlignore``."""
    manifest = plan_manifest(source_dir, script)
    check_limits(manifest)
    dest.mkdir(parents=True, exist_ok=True)
    for path in task_files(source_dir, script):
        shutil.copyfile(path, dest / path.name)
    (dest / IGNORE_FILE).write_text(IGNORE_TEXT, encoding="utf-8")
    log.info("Snapshot: %d files, %s bytes from %s", len(manifest.files), f"{manifest.total_bytes:,}", source_dir)
    return manifest
