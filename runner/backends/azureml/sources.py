"""The remote data inputs, one class per data source (see :mod:`runner.backends.azureml.data`).

Each knows the argv flag it feeds, why it cannot be used (checked before anything is uploaded), how
to describe itself with no workspace, the consumption config it can build offline (only Open
Datasets MNIST can) and the one it builds against a workspace at submit time.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from runner.backends.azureml._sdk import (
    DATASET_ARGUMENT_TEMPLATE,
    Sdk,
    short_message,
    translate,
)
from runner.backends.azureml.upload import (
    FolderDigest,
    content_path,
    folder_digest,
    upload_file,
    upload_folder,
)
from runner.errors import DataError, SubmissionError
from runner.registry import sha256_file

log = logging.getLogger(__name__)

INPUT_NAME = "data"  # the run's named input (os.environ AZUREML_DATAREFERENCE_data on the node)
MNIST_INPUT_NAME = "mnist"  # the tutorial's name for the Open Datasets input
LISTED_DATASETS = 20  # registered dataset names shown when the one asked for is missing (one list request)
STUDIO_HINT = "open the workspace in the studio (ml.azure.com) under Data > Datasets to see names and versions"


def consume(dataset: Any, name: str, mode: str) -> Any:
    """``dataset.as_named_input(name).as_<mode>()``: the DatasetConsumptionConfig that goes into argv."""
    named = dataset.as_named_input(name)
    return named.as_mount() if mode == "mount" else named.as_download()


def input_line(name: str, mode: str, flag: str) -> str:
    """How the run sees an input and where it goes in argv."""
    return (f"named input '{name}', mode {mode} (as_{mode}()); replaces the value of {flag} in argv, "
            f"sent as {DATASET_ARGUMENT_TEMPLATE.format(name)}")


class _BuiltAtSubmit:
    """A source whose consumption config needs the workspace (nothing to show in a dry run)."""

    def offline_consumption(self, sdk: Sdk) -> Any:
        """None: the input is made at submit time."""
        return None


@dataclass(frozen=True)
class IdxFolderSource(_BuiltAtSubmit):
    """A local folder of MNIST idx files, uploaded once to a content-addressed datastore path."""

    folder: Path
    mode: str
    flag: str = "--data-folder"
    input_name: str = INPUT_NAME

    @cached_property
    def digest(self) -> FolderDigest:
        """The folder's content digest (read once)."""
        return folder_digest(self.folder)

    @property
    def datastore_path(self) -> str:
        """``runner-data/<first 16 hex of the content sha256>``: same content, same path, one upload."""
        return content_path(self.digest.sha256)

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
            input_line(self.input_name, self.mode, self.flag),
        ]

    def consumption(self, sdk: Sdk, workspace: Any) -> Any:
        """Upload (skipping files already present) and return the named download/mount input."""
        label = f"{self.folder} ({self.digest.files} files, {self.digest.total_bytes:,} bytes)"
        datastore = upload_folder(sdk, workspace, self.folder, self.datastore_path, label)
        with translate(sdk, f"Making a FileDataset of {self.datastore_path}/", ""):
            dataset = sdk.Dataset.File.from_files(path=(datastore, self.datastore_path + "/"), validate=False)
        return consume(dataset, self.input_name, self.mode)


@dataclass(frozen=True)
class CsvFileSource(_BuiltAtSubmit):
    """A CSV table (a file, or a folder holding exactly one .csv): the file is uploaded once under
    ``runner-data/<content hash>/<name>`` and the run gets a one-file FileDataset of it, i.e. a folder
    holding exactly one .csv, which the task accepts."""

    path: Path
    mode: str
    flag: str = "--data-file"
    input_name: str = INPUT_NAME

    @cached_property
    def found(self) -> tuple[Path | None, str | None]:
        """The CSV file, or why there is none (the task's rule: one .csv anywhere below a folder)."""
        if self.path.is_file():
            return self.path, None
        if not self.path.is_dir():
            return None, f"dataset.path: {self.path} does not exist"
        found = sorted(Path(root) / name for root, _, files in os.walk(self.path, followlinks=True)
                       for name in files if name.lower().endswith(".csv"))
        if len(found) != 1:
            return None, (f"dataset.path: the folder {self.path} holds {len(found)} .csv files, not exactly one; "
                          "set dataset.path=<the CSV file>")
        return found[0], None

    @property
    def file(self) -> Path:
        """The CSV file (call :meth:`problem` first)."""
        file, problem = self.found
        if file is None:
            raise DataError(f"{problem}.")
        return file

    @cached_property
    def sha256(self) -> str:
        """The file's content sha256 (read once)."""
        return sha256_file(self.file)

    @property
    def upload_name(self) -> str:
        """The file's name on the datastore; ``.csv`` is appended when missing, since the task finds the
        table in the downloaded folder by that suffix."""
        name = self.file.name
        return name if name.lower().endswith(".csv") else name + ".csv"

    @property
    def datastore_path(self) -> str:
        """``runner-data/<first 16 hex of the file's sha256>``; the file goes below it under its name."""
        return content_path(self.sha256)

    def problem(self) -> str | None:
        """A missing path, or a folder without exactly one .csv."""
        return self.found[1]

    def describe(self) -> list[str]:
        """Local file, its hash, the datastore path and the mode."""
        problem = self.problem()
        if problem:
            return [f"csv: PROBLEM: {problem}"]
        target = f"{self.datastore_path}/{self.upload_name}"
        return [
            f"csv: local file {self.file} ({self.file.stat().st_size:,} bytes), content sha256 {self.sha256}",
            (f"uploaded once to the workspace's default datastore at {target} (already there: skipped; "
             "nothing is uploaded in a dry run)"),
            (f"Dataset.File.from_files((default datastore, '{target}')): the run sees a folder holding "
             "this one .csv"),
            input_line(self.input_name, self.mode, self.flag),
        ]

    def consumption(self, sdk: Sdk, workspace: Any) -> Any:
        """Upload the file (skipped when already there) and return the named download/mount input."""
        target = f"{self.datastore_path}/{self.upload_name}"
        label = f"{self.file} ({self.file.stat().st_size:,} bytes)"
        datastore = upload_file(sdk, workspace, self.file, self.upload_name, self.datastore_path, label)
        with translate(sdk, f"Making a FileDataset of {target}", ""):
            dataset = sdk.Dataset.File.from_files(path=(datastore, target), validate=False)
        return consume(dataset, self.input_name, self.mode)


@dataclass(frozen=True)
class MnistSource:
    """MNIST from Azure Open Datasets: the open FileDataset itself is the input (no upload, no cache)."""

    mode: str
    flag: str = "--data-folder"
    input_name: str = MNIST_INPUT_NAME

    def problem(self) -> str | None:
        """Nothing to check on this machine (a missing azureml-opendatasets is reported when building)."""
        return None

    def describe(self) -> list[str]:
        """The open dataset, the mode, and what submit adds."""
        return [
            (f"mnist: Azure Open Datasets MNIST FileDataset, as_{self.mode}() "
             "(MNIST.get_file_dataset(enable_telemetry=False), built here offline; no upload, no local cache)"),
            input_line(self.input_name, self.mode, self.flag),
            ("submit saves the FileDataset to the workspace; its id (null in the run configuration below) "
             "is assigned then"),
        ]

    def offline_consumption(self, sdk: Sdk) -> Any:
        """The real consumption config: building the open dataset reads nothing."""
        return consume(sdk.mnist_file_dataset(), self.input_name, self.mode)

    def consumption(self, sdk: Sdk, workspace: Any) -> Any:
        """The same config as offline: the workspace is not needed to build it."""
        log.info("Data input: Azure Open Datasets MNIST FileDataset, as_%s() (no upload)", self.mode)
        return self.offline_consumption(sdk)


@dataclass(frozen=True)
class RegisteredSource(_BuiltAtSubmit):
    """A dataset registered in the workspace, by name and version (None: the latest), resolved at submit."""

    name: str
    version: int | None
    mode: str
    flag: str = "--data-folder"
    input_name: str = INPUT_NAME

    @property
    def label(self) -> str:
        """``'name' version 3`` or ``'name' version latest``."""
        return f"'{self.name}' version {self.version if self.version is not None else 'latest'}"

    def problem(self) -> str | None:
        """Nothing to check without the workspace."""
        return None

    def describe(self) -> list[str]:
        """Name, version and mode; the lookup itself happens at submit time."""
        return [
            (f"registered: workspace dataset {self.label}, mode {self.mode} (as_{self.mode}()); resolved at "
             "submit time with Dataset.get_by_name (a dry run opens no workspace)"),
            input_line(self.input_name, self.mode, self.flag),
        ]

    def consumption(self, sdk: Sdk, workspace: Any) -> Any:
        """``Dataset.get_by_name`` and the named download/mount input; SubmissionError when it is missing."""
        version = self.version if self.version is not None else "latest"
        try:
            dataset = sdk.Dataset.get_by_name(workspace, name=self.name, version=version)
        except sdk.errors as err:
            raise SubmissionError(self._missing(sdk, workspace, err)) from None
        log.info("Using the registered dataset %s as_%s()", self.label, self.mode)
        hint = ("dataset=registered needs a FileDataset (files the task reads), not a TabularDataset; "
                "register the files with Dataset.File.from_files(...).register(...).")
        with translate(sdk, f"Using the registered dataset {self.label} as_{self.mode}()", hint):
            return consume(dataset, self.input_name, self.mode)

    def _missing(self, sdk: Sdk, workspace: Any, err: BaseException) -> str:
        """The message for a dataset or version get_by_name did not return, with what exists if cheap."""
        where = f"workspace '{getattr(workspace, 'name', '?')}'"
        message = f"Could not get the registered dataset {self.label} from {where} ({short_message(err).rstrip('.')})."
        try:
            names = list(itertools.islice(iter(sdk.Dataset.get_all(workspace)), LISTED_DATASETS + 1))
        except sdk.errors:
            return f"{message} Check dataset.dataset_name and dataset.version: {STUDIO_HINT}."
        if self.name in names and self.version is not None:
            return (f"{message} '{self.name}' is registered, but not with version {self.version}: set "
                    f"dataset.version=<an existing version> or drop it for the latest ({STUDIO_HINT}).")
        if not names:
            return f"{message} The workspace has no registered datasets; register one or choose another dataset."
        shown = ", ".join(names[:LISTED_DATASETS]) + (", ..." if len(names) > LISTED_DATASETS else "")
        return f"{message} Registered datasets: {shown}. Set dataset.dataset_name=<one of them>."
