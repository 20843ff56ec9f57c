"""Data inputs of a remote run: each data source becomes a ``DatasetConsumptionConfig`` in the argv.

A source knows which argv flag it feeds, how to describe itself offline and how to turn itself
into a consumption config against a workspace. Bundled scikit-learn datasets need no input. To add
a source (a later issue: ``dataset=mnist`` via ``MNIST.get_file_dataset(enable_telemetry=False)``,
or a workspace dataset by name/version), write a class with the :class:`DataSource` methods and
add it to :data:`SOURCES` under its dataset schema.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from runner import schema
from runner.backends.azureml._sdk import DATASET_ARGUMENT_TEMPLATE, Sdk, translate
from runner.errors import ConfigError, DataError

log = logging.getLogger(__name__)

INPUT_NAME = "data"  # the run's named input (os.environ AZUREML_DATAREFERENCE_data on the node)
DATASTORE_PREFIX = "runner-data"
HASH_CHARS = 16
CHUNK = 1 << 20


class DataSource(Protocol):
    """A data input: the argv flag it feeds, an offline description, and its consumption config."""

    flag: str

    def problem(self) -> str | None:
        """Why the input cannot be used (checked before anything is uploaded), or None."""
        ...

    def describe(self) -> list[str]:
        """Dry-run lines: where the data is and how the run would see it (no network)."""
        ...

    def consumption(self, sdk: Sdk, workspace: Any) -> Any:
        """Make the data available in the workspace and return its DatasetConsumptionConfig."""
        ...


@dataclass(frozen=True)
class FolderDigest:
    """A folder's content identity: file count, bytes and sha256 over relative paths and contents."""

    files: int
    total_bytes: int
    sha256: str


def folder_digest(folder: Path) -> FolderDigest:
    """Hash every file below ``folder`` in sorted relative-path order (paths, sizes and bytes)."""
    digest = hashlib.sha256()
    count = total = 0
    for path in _files_below(folder):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        count, total = count + 1, total + size
    return FolderDigest(count, total, digest.hexdigest())


def _files_below(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(Path(root) / name for name in files)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


@dataclass(frozen=True)
class IdxFolderSource:
    """A local folder of MNIST idx files, uploaded once to a content-addressed datastore path."""

    folder: Path
    mode: str
    flag: str = "--data-folder"

    @cached_property
    def digest(self) -> FolderDigest:
        """The folder's content digest (read once)."""
        return folder_digest(self.folder)

    @property
    def datastore_path(self) -> str:
        """``runner-data/<first 16 hex of the content sha256>``: same content, same path, one upload."""
        return f"{DATASTORE_PREFIX}/{self.digest.sha256[:HASH_CHARS]}"

    def problem(self) -> str | None:
        """A missing or empty folder."""
        if not self.folder.is_dir():
            return f"dataset.path: the data folder {self.folder} does not exist or is not a folder"
        if self.digest.files == 0:
            return f"dataset.path: the data folder {self.folder} holds no files"
        return None

    def describe(self) -> list[str]:
        """Local folder, its hash, the datastore path and the mode."""
        problem = self.problem()
        if problem:
            return [f"idx_folder: PROBLEM: {problem}"]
        d = self.digest
        return [
            (f"idx_folder: local folder {self.folder} ({d.files} files, {d.total_bytes:,} bytes), "
             f"content sha256 {d.sha256}"),
            (f"uploaded once to the workspace's default datastore at {self.datastore_path}/ "
             "(files already there are skipped; nothing is uploaded in a dry run)"),
            (f"named input '{INPUT_NAME}', mode {self.mode} (as_{self.mode}()); replaces the value of "
             f"{self.flag} in argv, sent as {DATASET_ARGUMENT_TEMPLATE.format(INPUT_NAME)}"),
        ]

    def consumption(self, sdk: Sdk, workspace: Any) -> Any:
        """Upload (skipping files already present) and return the named download/mount input."""
        hint = "Check that your identity may write to the workspace's default datastore."
        with translate(sdk, f"Uploading {self.folder} to the default datastore", hint):
            datastore = workspace.get_default_datastore()
            log.info("Uploading %s (%d files, %s bytes) to datastore %s at %s/ (files already there are skipped)",
                     self.folder, self.digest.files, f"{self.digest.total_bytes:,}", datastore.name,
                     self.datastore_path)
            sdk.upload_directory(src_dir=str(self.folder), target=(datastore, self.datastore_path),
                                 overwrite=False, show_progress=False)
            dataset = sdk.Dataset.File.from_files(path=(datastore, self.datastore_path + "/"), validate=False)
        named = dataset.as_named_input(INPUT_NAME)
        return named.as_mount() if self.mode == "mount" else named.as_download()


SOURCES: dict[type, Callable[[Any], DataSource]] = {
    schema.IdxFolderDatasetConfig: lambda cfg: IdxFolderSource(Path(cfg.path), cfg.mode),
}
SOURCE_NAMES = ("dataset=idx_folder",)


def data_source(dataset: Any) -> DataSource | None:
    """The data input for a dataset config, or None for data the task loads itself (bundled sets)."""
    if isinstance(dataset, schema.BundledDatasetConfig):
        return None
    factory = SOURCES.get(type(dataset))
    if factory is None:
        supported = ", ".join(sorted(SOURCE_NAMES))
        raise ConfigError(
            f"dataset={getattr(dataset, 'name', type(dataset).__name__)} has no Azure ML data input in this "
            f"version; on Azure ML use a bundled dataset (digits, iris, wine) or {supported}, or compute=local."
        )
    return factory(dataset)


def check_source(source: DataSource | None) -> None:
    """Raise DataError when the input cannot be used."""
    problem = source.problem() if source is not None else None
    if problem:
        raise DataError(problem + ".")


def with_input(argv: Sequence[str], flag: str, value: Any) -> list[Any]:
    """``argv`` with the value after ``flag`` replaced by ``value`` (everything else unchanged)."""
    arguments: list[Any] = list(argv)
    try:
        index = arguments.index(flag)
    except ValueError:
        raise ConfigError(f"The task's argv has no {flag} for the data input: {' '.join(argv)}") from None
    if index + 1 >= len(arguments):
        raise ConfigError(f"The task's argv ends with {flag} and no value: {' '.join(argv)}")
    arguments[index + 1] = value
    return arguments
