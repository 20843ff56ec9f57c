"""Data inputs of a remote run: each data source becomes a ``DatasetConsumptionConfig`` in the argv.

A source knows which argv flag it feeds (:func:`runner.datasets.data_flag`), how to describe itself
offline and how to turn itself into a consumption config against a workspace; the classes live in
:mod:`runner.backends.azureml.sources`, the content-addressed upload in
:mod:`runner.backends.azureml.upload`. Bundled scikit-learn datasets need no input. On
``compute=local_tracked`` the run executes on this machine, so every source but a registered dataset
is read from its local path as it is (no upload, no input). To add a source, write a class with the
:class:`DataSource` methods and add it to :data:`SOURCES` under its dataset schema.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from runner import datasets, schema
from runner.backends.azureml._sdk import Sdk
from runner.backends.azureml.sources import (
    CsvFileSource,
    IdxFolderSource,
    MnistSource,
    RegisteredSource,
)
from runner.backends.azureml.upload import FolderDigest, folder_digest
from runner.errors import ConfigError, DataError

log = logging.getLogger(__name__)

__all__ = ["SOURCES", "DataSource", "FolderDigest", "check_source", "data_source", "folder_digest",
           "reads_local_path", "with_input"]


class DataSource(Protocol):
    """A data input: the argv flag it feeds, an offline description, and its consumption config."""

    flag: str
    input_name: str

    def problem(self) -> str | None:
        """Why the input cannot be used (checked before anything is uploaded), or None."""
        ...

    def describe(self) -> list[str]:
        """Dry-run lines: where the data is and how the run would see it (no network)."""
        ...

    def offline_consumption(self, sdk: Sdk) -> Any:
        """The DatasetConsumptionConfig if it builds with no workspace and no network, else None."""
        ...

    def consumption(self, sdk: Sdk, workspace: Any) -> Any:
        """Make the data available in the workspace and return its DatasetConsumptionConfig."""
        ...


def _flag(cfg: Any) -> str:
    return datasets.data_flag(cfg) or ""


SOURCES: dict[type, Callable[[Any], DataSource]] = {
    schema.IdxFolderDatasetConfig: lambda cfg: IdxFolderSource(Path(cfg.path), cfg.mode, _flag(cfg)),
    schema.MnistDatasetConfig: lambda cfg: MnistSource(cfg.mode, _flag(cfg)),
    schema.CsvDatasetConfig: lambda cfg: CsvFileSource(Path(cfg.path), cfg.mode, _flag(cfg)),
    schema.RegisteredDatasetConfig: lambda cfg: RegisteredSource(cfg.dataset_name, cfg.version, cfg.mode, _flag(cfg)),
}
SOURCE_NAMES = ("dataset=idx_folder", "dataset=mnist", "dataset=csv", "dataset=registered")


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


def reads_local_path(dataset: Any, compute: Any) -> bool:
    """True when the task reads the data from this machine's path on an Azure ML run: compute=local_tracked
    (the run executes here) with any file source but a registered dataset, which only the workspace has."""
    return (isinstance(compute, schema.LocalTrackedComputeConfig) and datasets.reads_files(dataset)
            and not isinstance(dataset, schema.RegisteredDatasetConfig))


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
