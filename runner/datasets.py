"""Data sources on the runner's side: the task's view of each source, and local preparation.

Pure helpers (``task_view``, ``data_flag``, ``describe``) are used while building and printing a
plan. ``prepare_local`` runs in the local backend just before the task starts: it checks that local
data exists and fills the MNIST cache from Azure Open Datasets the first time (the only network
use; ``azureml`` is imported only then). Everything after that — parsing, the parsed-array cache,
the fingerprint — happens in the task (``tasks/``), which runs the same way on Azure ML.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from runner import schema
from runner.errors import DataError

log = logging.getLogger(__name__)

# The four files of the tutorials' MNIST layout; each may also be gzipped (``<name>.gz``).
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# Azure Open Datasets serves MNIST from this blob host; one short connection attempt tells
# "offline" apart from "online" before the SDK (which retries for minutes) is involved.
OPEN_DATASETS_HOST = ("azureopendatastorage.blob.core.windows.net", 443)
PROBE_TIMEOUT = 3.0
OFFLINE_ALTERNATIVES = (
    "Without the network, use a filled cache (dataset.cache_dir=<folder holding the four MNIST files "
    f"{', '.join(n + '[.gz]' for n in MNIST_FILES)}, any depth>), your own copy "
    "(dataset=idx_folder dataset.path=<folder>), or the bundled digits (dataset=digits)."
)


def reads_files(dataset: Any) -> bool:
    """Whether the task parses files for ``dataset`` (everything but scikit-learn's bundled sets)."""
    return not isinstance(dataset, schema.BundledDatasetConfig)


def registered_reference(dataset: schema.RegisteredDatasetConfig) -> str:
    """``azureml:<name>:<version|latest>``: the argv placeholder a remote backend replaces with the input."""
    return f"azureml:{dataset.dataset_name}:{dataset.version if dataset.version is not None else 'latest'}"


def task_view(dataset: Any) -> Any:
    """The dataset as the task reads it: a registered dataset becomes an idx folder or a CSV table
    whose path is its :func:`registered_reference`; every other source is returned unchanged."""
    if not isinstance(dataset, schema.RegisteredDatasetConfig):
        return dataset
    reference = registered_reference(dataset)
    if dataset.content == "csv":
        return schema.CsvDatasetConfig(path=reference, target=dataset.target or "", features=list(dataset.features),
                                       test_size=dataset.test_size, mode=dataset.mode)
    return schema.IdxFolderDatasetConfig(path=reference, mode=dataset.mode)


def data_flag(dataset: Any) -> str | None:
    """The task flag whose value is the data (``--data-folder`` or ``--data-file``), None for bundled sets."""
    view = task_view(dataset)
    for field in dataclasses.fields(view):
        flag = field.metadata.get(schema.FLAG)
        if flag:
            return str(flag)
    return None


def describe(dataset: Any) -> str:
    """One line naming the data source (for the dry-run plan)."""
    if isinstance(dataset, schema.RegisteredDatasetConfig):
        read_as = f"a CSV table ({_table(dataset)})" if dataset.content == "csv" else "MNIST idx files"
        return (f"registered: {registered_reference(dataset)} from the Azure ML workspace (as_{dataset.mode}()), "
                f"read as {read_as}")
    if isinstance(dataset, schema.IdxFolderDatasetConfig):
        return f"idx_folder: MNIST idx files below {dataset.path}"
    if isinstance(dataset, schema.MnistDatasetConfig):
        return (f"mnist: Azure Open Datasets MNIST, cached in {dataset.cache_dir} (downloaded once when "
                f"missing on a local run; as_{dataset.mode}() on Azure ML)")
    if isinstance(dataset, schema.CsvDatasetConfig):
        return f"csv: {dataset.path}, {_table(dataset)}"
    return f"{dataset.name} (bundled with scikit-learn), test_size {dataset.test_size}"


def _table(dataset: schema.CsvDatasetConfig | schema.RegisteredDatasetConfig) -> str:
    features = ", ".join(dataset.features) or "every other column"
    return f"target {dataset.target}, features {features}, test_size {dataset.test_size}"


def prepare_local(dataset: Any, probe_timeout: float = PROBE_TIMEOUT) -> None:
    """Make the data of a local run available or fail with a DataError that says what to do instead."""
    if isinstance(dataset, schema.IdxFolderDatasetConfig) and not Path(dataset.path).is_dir():
        raise DataError(
            f"dataset.path: the data folder {dataset.path} does not exist or is not a folder; "
            f"set dataset.path=<folder holding {', '.join(n + '.gz' for n in MNIST_FILES)} (any depth below it)>."
        )
    if isinstance(dataset, schema.CsvDatasetConfig) and not Path(dataset.path).exists():
        raise DataError(f"dataset.path: {dataset.path} does not exist; set dataset.path=<a CSV file, or a folder "
                        "holding exactly one .csv>.")
    if isinstance(dataset, schema.MnistDatasetConfig):
        ensure_mnist(Path(dataset.cache_dir), probe_timeout)
    if isinstance(dataset, schema.RegisteredDatasetConfig):
        raise DataError(
            f"dataset=registered ({registered_reference(dataset)}) is read from an Azure ML workspace, which "
            "compute=local does not use: run with compute=local_tracked or a cluster, or download the dataset "
            "and use dataset=idx_folder dataset.path=<folder> or dataset=csv dataset.path=<file>."
        )


def missing_mnist_files(folder: Path) -> list[str]:
    """The MNIST file names not found (raw or .gz) anywhere below ``folder``; all four if it is no folder."""
    if not folder.is_dir():
        return list(MNIST_FILES)
    found: set[str] = set()
    for _, _, files in os.walk(folder, followlinks=True):
        found.update(name.removesuffix(".gz") for name in files)
    return [name for name in MNIST_FILES if name not in found]


def ensure_mnist(cache_dir: Path, probe_timeout: float = PROBE_TIMEOUT) -> None:
    """Fill ``cache_dir`` with the four MNIST files unless they are there already (then: no network)."""
    missing = missing_mnist_files(cache_dir)
    if not missing:
        log.info("MNIST: using the files cached in %s (no download)", cache_dir)
        return
    if cache_dir.exists() and (not cache_dir.is_dir() or any(cache_dir.iterdir())):
        raise DataError(
            f"dataset.cache_dir {cache_dir} is not an empty folder but lacks {', '.join(missing)}[.gz]; "
            "empty it (the files are downloaded again) or point dataset.cache_dir at another folder."
        )
    _check_download_possible(cache_dir, probe_timeout)
    _download(cache_dir)


def _check_download_possible(cache_dir: Path, timeout: float) -> None:
    """Fail at once when azureml-opendatasets is missing or the Open Datasets host cannot be reached."""
    try:
        installed = importlib.util.find_spec("azureml.opendatasets") is not None
    except (ImportError, ValueError):  # no azureml at all; a module without a spec
        installed = "azureml.opendatasets" in sys.modules
    if not installed:
        raise DataError(
            f"MNIST is not cached in {cache_dir} and azureml-opendatasets, which downloads it, is not "
            f"installed (pip install 'aml-runner[azure]'). {OFFLINE_ALTERNATIVES}"
        )
    problem = _unreachable(*OPEN_DATASETS_HOST, timeout)
    if problem:
        host, port = OPEN_DATASETS_HOST
        raise DataError(
            f"MNIST is not cached in {cache_dir} and downloading it needs the network, but {host}:{port} "
            f"cannot be reached ({problem}). {OFFLINE_ALTERNATIVES}"
        )


def _unreachable(host: str, port: int, timeout: float) -> str | None:
    """Why ``host:port`` cannot be reached within ``timeout`` seconds (DNS included), or None."""
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except OSError as err:
            outcome.append(err)

    probe = threading.Thread(target=connect, name="open-datasets-probe", daemon=True)
    probe.start()
    probe.join(timeout)  # getaddrinfo ignores socket timeouts: bound the whole attempt here
    if not outcome:
        return f"no answer within {timeout:g} s"
    err = outcome[0]
    return None if err is None else (f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)


def _download(cache_dir: Path) -> None:
    """Download MNIST into a temporary folder next to ``cache_dir``, then rename it into place."""
    try:
        cache_dir.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.", suffix=".partial", dir=cache_dir.parent))
    except OSError as err:
        raise DataError(f"dataset.cache_dir: cannot create a folder next to {cache_dir} ({err.strerror or err}); "
                        "choose a writable dataset.cache_dir.") from None
    try:
        log.info("Downloading MNIST (about 11 MB) from Azure Open Datasets into %s ...", cache_dir)
        started = time.perf_counter()
        try:
            from runner.backends.azureml.open_datasets import download_mnist

            download_mnist(partial)
        except Exception as err:  # noqa: BLE001 - the SDK raises many unrelated types; none leaves a cache
            first = (str(err).strip().splitlines() or [""])[0][:300]
            raise DataError(f"Downloading MNIST from Azure Open Datasets failed ({type(err).__name__}: {first}); "
                            f"nothing was cached in {cache_dir}. {OFFLINE_ALTERNATIVES}") from None
        missing = missing_mnist_files(partial)
        if missing:
            raise DataError(f"The MNIST download finished without {', '.join(missing)}; nothing was cached in "
                            f"{cache_dir}. {OFFLINE_ALTERNATIVES}")
        _move_into_place(partial, cache_dir)
        log.info("Downloaded MNIST in %.1f s; cached in %s", time.perf_counter() - started, cache_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _move_into_place(partial: Path, cache_dir: Path) -> None:
    """Rename the complete download onto ``cache_dir``; a parallel job that got there first wins."""
    try:
        os.rename(partial, cache_dir)  # atomic; replaces an empty folder on POSIX
    except OSError:
        if not missing_mnist_files(cache_dir):
            log.info("MNIST: another job filled %s meanwhile; using its files", cache_dir)
            return
        if cache_dir.is_dir() and not any(cache_dir.iterdir()):
            cache_dir.rmdir()
            os.rename(partial, cache_dir)
            return
        raise
