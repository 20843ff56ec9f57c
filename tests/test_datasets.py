"""Runner-side data sources (runner/datasets.py): the MNIST cache and its download, local checks.

The network and azureml-opendatasets are the cloud boundary: tests replace ``socket`` functions
and put a stand-in ``azureml.opendatasets`` module in ``sys.modules``; everything else is real.
"""

from __future__ import annotations

import importlib.machinery
import logging
import os
import socket
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from idx_factory import FILE_NAMES, write_idx_folder

from runner import datasets, schema
from runner.errors import DataError


class NetworkLog:
    """Every attempted connection; each one fails as if offline (or succeeds when ``online``)."""

    def __init__(self, online: bool = False) -> None:
        self.calls: list[tuple] = []
        self.online = online

    def create_connection(self, address, *args, **kwargs):  # socket's signature
        self.calls.append(("create_connection", address))
        if not self.online:
            raise socket.gaierror(-2, "Name or service not known")
        return _Closing()

    def connect(self, sock, address):
        self.calls.append(("connect", address))
        raise OSError(101, "Network is unreachable")


class _Closing:
    def __enter__(self) -> _Closing:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> NetworkLog:
    """Offline unless a test sets ``network.online = True``; records every attempt."""
    net = NetworkLog()
    monkeypatch.setattr(socket, "create_connection", net.create_connection)
    monkeypatch.setattr(socket.socket, "connect", lambda sock, address: net.connect(sock, address))
    return net


def fake_opendatasets(monkeypatch: pytest.MonkeyPatch, download) -> list[dict]:
    """Install a stand-in ``azureml.opendatasets`` whose MNIST download runs ``download(target)``."""
    calls: list[dict] = []

    class FileDataset:
        def download(self, target_path: str, overwrite: bool) -> list[str]:
            calls.append({"target_path": target_path, "overwrite": overwrite,
                          "telemetry_env": os.environ.get("HBI_WORKSPACE_JOB")})
            download(Path(target_path))
            return []

    class MNIST:
        @staticmethod
        def get_file_dataset(enable_telemetry: bool = True) -> FileDataset:
            calls.append({"enable_telemetry": enable_telemetry})
            return FileDataset()

    module = types.ModuleType("azureml.opendatasets")
    module.MNIST = MNIST  # type: ignore[attr-defined]
    module.__spec__ = importlib.machinery.ModuleSpec("azureml.opendatasets", None)
    monkeypatch.setitem(sys.modules, "azureml.opendatasets", module)
    return calls


def _mnist_like(target: Path) -> None:
    """What the real download leaves: the four gzipped files below a URL-shaped sub-folder."""
    write_idx_folder(target, n_train=30, n_test=10, nested="https%3A/%2Fazureopendatastorage/mnist")


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.endswith(".partial")]


# ---------------------------------------------------------------- filled cache: no network


def test_filled_cache_makes_no_network_call(tmp_path: Path, network: NetworkLog) -> None:
    write_idx_folder(tmp_path / "cache", nested="deep/er")
    datasets.prepare_local(schema.MnistDatasetConfig(cache_dir=str(tmp_path / "cache")))
    assert network.calls == []


def test_raw_files_count_as_cached(tmp_path: Path, network: NetworkLog) -> None:
    write_idx_folder(tmp_path / "cache", gz=False)
    assert datasets.missing_mnist_files(tmp_path / "cache") == []
    datasets.ensure_mnist(tmp_path / "cache")
    assert network.calls == []


# ---------------------------------------------------------------- offline / not installed


def test_offline_fails_fast_naming_the_alternatives(tmp_path: Path, network: NetworkLog) -> None:
    started = time.perf_counter()
    with pytest.raises(DataError) as err:
        datasets.ensure_mnist(tmp_path / "cache")
    assert time.perf_counter() - started < 10
    message = str(err.value)
    assert "needs the network" in message and "azureopendatastorage.blob.core.windows.net:443" in message
    for alternative in ("dataset.cache_dir=", "dataset=idx_folder dataset.path=", "dataset=digits"):
        assert alternative in message
    assert network.calls == [("create_connection", datasets.OPEN_DATASETS_HOST)]
    assert not (tmp_path / "cache").exists() and _leftovers(tmp_path) == []


def test_a_hanging_probe_is_cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hang(*args: object, **kwargs: object) -> None:  # a DNS look-up that never answers
        release.wait(30)
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hang)
    started = time.perf_counter()
    try:
        assert datasets._unreachable("example.invalid", 443, 0.2) == "no answer within 0.2 s"
        assert time.perf_counter() - started < 2
    finally:
        release.set()


def test_missing_opendatasets_package(tmp_path: Path, network: NetworkLog, monkeypatch: pytest.MonkeyPatch) -> None:
    real = datasets.importlib.util.find_spec
    monkeypatch.setattr(datasets.importlib.util, "find_spec",
                        lambda name, *a: None if name == "azureml.opendatasets" else real(name, *a))
    with pytest.raises(DataError, match=r"azureml-opendatasets, which downloads it, is not installed .*dataset=digits"):
        datasets.ensure_mnist(tmp_path / "cache")
    assert network.calls == []


def test_partly_filled_cache_is_not_touched(tmp_path: Path, network: NetworkLog) -> None:
    folder = write_idx_folder(tmp_path / "cache")
    (folder / (FILE_NAMES["test_labels"] + ".gz")).unlink()
    with pytest.raises(DataError, match=r"is not an empty folder but lacks t10k-labels-idx1-ubyte\[\.gz\]"):
        datasets.ensure_mnist(tmp_path / "cache")
    assert network.calls == [] and len(list((tmp_path / "cache").rglob("*.gz"))) == 3


# ---------------------------------------------------------------- download (stand-in SDK)


def test_download_fills_the_cache_atomically(tmp_path: Path, network: NetworkLog,
                                             monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    network.online = True
    monkeypatch.delenv("HBI_WORKSPACE_JOB", raising=False)
    calls = fake_opendatasets(monkeypatch, _mnist_like)
    with caplog.at_level(logging.INFO):
        datasets.ensure_mnist(tmp_path / "cache" / "mnist")
    assert datasets.missing_mnist_files(tmp_path / "cache" / "mnist") == []
    assert calls[0] == {"enable_telemetry": False}
    assert calls[1]["overwrite"] is False and calls[1]["telemetry_env"] == "true"
    assert Path(calls[1]["target_path"]).parent == tmp_path / "cache"  # a temp folder next to the cache
    assert _leftovers(tmp_path / "cache") == []
    assert "Downloading MNIST (about 11 MB) from Azure Open Datasets" in caplog.text
    calls.clear()
    datasets.ensure_mnist(tmp_path / "cache" / "mnist")  # second time: cached, no SDK call
    assert calls == []


def test_an_empty_cache_folder_is_filled(tmp_path: Path, network: NetworkLog, monkeypatch: pytest.MonkeyPatch) -> None:
    network.online = True
    fake_opendatasets(monkeypatch, _mnist_like)
    (tmp_path / "cache").mkdir()
    datasets.ensure_mnist(tmp_path / "cache")
    assert datasets.missing_mnist_files(tmp_path / "cache") == []


def test_failed_download_leaves_no_half_filled_cache(tmp_path: Path, network: NetworkLog,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    network.online = True

    def half_then_fail(target: Path) -> None:
        write_idx_folder(target, n_train=30, n_test=10)
        raise ConnectionResetError("connection reset by peer")

    fake_opendatasets(monkeypatch, half_then_fail)
    with pytest.raises(DataError, match=r"Downloading MNIST from Azure Open Datasets failed \(ConnectionResetError: "
                                        r"connection reset by peer\); nothing was cached"):
        datasets.ensure_mnist(tmp_path / "cache")
    assert not (tmp_path / "cache").exists() and _leftovers(tmp_path) == []


def test_incomplete_download_is_not_cached(tmp_path: Path, network: NetworkLog, monkeypatch: pytest.MonkeyPatch) -> None:
    network.online = True

    def three_files(target: Path) -> None:
        folder = write_idx_folder(target, n_train=30, n_test=10)
        (folder / (FILE_NAMES["train_images"] + ".gz")).unlink()

    fake_opendatasets(monkeypatch, three_files)
    with pytest.raises(DataError, match="finished without train-images-idx3-ubyte"):
        datasets.ensure_mnist(tmp_path / "cache")
    assert not (tmp_path / "cache").exists() and _leftovers(tmp_path) == []


def test_a_parallel_job_that_filled_the_cache_first_wins(tmp_path: Path, network: NetworkLog,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    network.online = True
    cache = tmp_path / "cache"

    def other_job_finishes_first(target: Path) -> None:
        _mnist_like(target)
        write_idx_folder(cache, n_train=30, n_test=10, nested="theirs")

    fake_opendatasets(monkeypatch, other_job_finishes_first)
    datasets.ensure_mnist(cache)
    assert [p.name for p in cache.iterdir()] == ["theirs"] and _leftovers(tmp_path) == []


# ---------------------------------------------------------------- other sources


def test_registered_is_refused_locally() -> None:
    with pytest.raises(DataError, match=r"dataset=registered \(azureml:mnist_opendataset:latest\) is read from an "
                                        r"Azure ML workspace.*compute=local_tracked"):
        datasets.prepare_local(schema.RegisteredDatasetConfig(dataset_name="mnist_opendataset"))


def test_local_paths_are_checked(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="the data folder .* does not exist"):
        datasets.prepare_local(schema.IdxFolderDatasetConfig(path=str(tmp_path / "nope")))
    with pytest.raises(DataError, match=r"nope.csv does not exist; set dataset.path=<a CSV file"):
        datasets.prepare_local(schema.CsvDatasetConfig(path=str(tmp_path / "nope.csv"), target="y"))
    datasets.prepare_local(schema.BundledDatasetConfig())  # nothing to check


def test_task_view_and_data_flag() -> None:
    idx = datasets.task_view(schema.RegisteredDatasetConfig(dataset_name="m", mode="mount"))
    assert idx == schema.IdxFolderDatasetConfig(path="azureml:m:latest", mode="mount")
    table = datasets.task_view(schema.RegisteredDatasetConfig(dataset_name="t", version=3, content="csv", target="y"))
    assert isinstance(table, schema.CsvDatasetConfig) and (table.path, table.target) == ("azureml:t:3", "y")
    assert datasets.data_flag(schema.RegisteredDatasetConfig(dataset_name="t", content="csv")) == "--data-file"
    assert datasets.data_flag(schema.MnistDatasetConfig()) == "--data-folder"
    assert datasets.data_flag(schema.BundledDatasetConfig()) is None
