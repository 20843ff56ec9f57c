"""Real-process runs of the data sources: `python run.py dataset=mnist|csv|registered ...`, the parsed
cache across runs, and the pictures. Every run's user cache is <tmp>/.cache (see cli.run_cli)."""

from __future__ import annotations

import importlib.util
import json
import textwrap
import time
from pathlib import Path

import pytest
from cli import metrics_of, registry_versions, run_cli, run_dirs
from idx_factory import write_idx_folder
from test_csv import write_wine_csv

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
needs_matplotlib = pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed (the plots extra)")


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """A sitecustomize.py on PYTHONPATH that makes every socket connection (and DNS look-up) fail and
    records it in <tmp>/network.log: the runner and the task both start with it."""
    folder = tmp_path / "offline"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(textwrap.dedent("""
        import os, socket
        def _refuse(*args, **kwargs):
            with open(os.environ["NETWORK_LOG"], "a") as fh:
                fh.write(f"{os.getpid()} {args[1:]!r}\\n")
            raise OSError(101, "Network is unreachable (blocked by the test)")
        socket.socket.connect = socket.socket.connect_ex = _refuse
        socket.getaddrinfo = socket.create_connection = _refuse
    """))
    return {"PYTHONPATH": str(folder), "NETWORK_LOG": str(tmp_path / "network.log")}


def _network_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "network.log"
    return log.read_text().splitlines() if log.exists() else []


def _fingerprint(run: Path) -> dict:
    return json.loads((run / "outputs" / "data_fingerprint.json").read_text())


def test_mnist_from_a_filled_cache_makes_no_network_call(tmp_path: Path) -> None:
    write_idx_folder(tmp_path / "mnist-files", n_train=300, n_test=100, rows=28, cols=28, nested="https%3A/x/mnist")
    env = _offline_env(tmp_path)
    args = ("dataset=mnist", "dataset.cache_dir=mnist-files", "model.regularization=0.5")
    first = run_cli(tmp_path, *args, env=env)
    assert first.code == 0, first.output
    assert "using the files cached in" in first.stderr
    second = run_cli(tmp_path, *args, env=env)
    assert second.code == 0, second.output
    assert _network_calls(tmp_path) == []
    runs = run_dirs(tmp_path)
    assert [metrics_of(r)["data_cache"] for r in runs] == ["miss", "hit"]
    assert metrics_of(runs[0])["n_features"] == 784 and metrics_of(runs[0])["accuracy"] >= 0.9
    fingerprint = _fingerprint(runs[1])
    assert fingerprint["source"] == "mnist" and fingerprint["image_shape"] == [28, 28]
    assert len(fingerprint["files"]) == 4 and fingerprint == _fingerprint(runs[0])
    assert list((tmp_path / ".cache" / "aml-runner" / "parsed").glob("idx-*.arrays"))
    entry = json.loads((tmp_path / "registry" / "sklearn_mnist" / "1" / "model.json").read_text())
    assert entry["tags"]["data_sha256"] == fingerprint["content_sha256"]


def test_mnist_with_an_empty_cache_and_no_network_fails_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    result = run_cli(tmp_path, "dataset=mnist", env=_offline_env(tmp_path))
    elapsed = time.perf_counter() - started
    assert result.code == 2 and elapsed < 10, (elapsed, result.output)
    assert "Traceback" not in result.output
    message = result.stderr
    assert f"MNIST is not cached in {tmp_path / '.cache' / 'aml-runner' / 'mnist'}" in message
    # with the azure extra: one short probe fails; without it there is nothing to download with
    probed = importlib.util.find_spec("azureml.opendatasets") is not None
    assert ("downloading it needs the network" if probed else "is not installed") in message
    for alternative in ("dataset.cache_dir=", "dataset=idx_folder dataset.path=", "dataset=digits"):
        assert alternative in message
    assert len(_network_calls(tmp_path)) == int(probed)  # the one short probe, nothing else
    assert not (tmp_path / "registry").exists()
    assert not (tmp_path / ".cache" / "aml-runner" / "mnist").exists()


def test_csv_wine_trains(tmp_path: Path) -> None:
    write_wine_csv(tmp_path / "wine.csv")
    result = run_cli(tmp_path, "dataset=csv", "dataset.path=wine.csv", "dataset.target=label")
    assert result.code == 0, result.output
    [run] = run_dirs(tmp_path)
    metrics = metrics_of(run)
    assert metrics["accuracy"] >= 0.9 and metrics["data_cache"] == "miss"
    assert metrics["params"]["class_names"] == ["class_0", "class_1", "class_2"]
    assert metrics["params"]["data_file"] == str(tmp_path / "wine.csv")
    fingerprint = _fingerprint(run)
    assert fingerprint["table"]["target"] == "label" and fingerprint["files"][0]["path"] == str(tmp_path / "wine.csv")
    assert registry_versions(tmp_path / "registry", "sklearn_csv") == ["1"]


def test_csv_problem_is_one_message(tmp_path: Path) -> None:
    write_wine_csv(tmp_path / "wine.csv")
    result = run_cli(tmp_path, "dataset=csv", "dataset.path=wine.csv", "dataset.target=kind")
    assert result.code != 0 and "Traceback" not in result.output
    assert "target column 'kind' is not in" in result.stderr and "its columns: alcohol, malic_acid" in result.stderr
    assert not (tmp_path / "registry").exists()


def test_registered_dataset_is_refused_locally_before_anything_starts(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "dataset=registered", "dataset.dataset_name=mnist_opendataset")
    assert result.code == 2 and "Traceback" not in result.output
    assert "dataset=registered needs an Azure ML workspace" in result.stderr
    assert "compute=local_tracked" in result.stderr and "dataset=idx_folder" in result.stderr
    # Hydra makes the run folder before the runner starts; nothing else is created
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]
    assert not list((tmp_path / "runs").rglob("outputs")) and not list((tmp_path / "runs").rglob("provenance.json"))


def test_parsed_cache_hit_on_the_second_idx_run(tmp_path: Path) -> None:
    write_idx_folder(tmp_path / "data", n_train=200, n_test=50)
    for _ in range(2):
        assert run_cli(tmp_path, "dataset=idx_folder", "dataset.path=data").code == 0
    off = run_cli(tmp_path, "dataset=idx_folder", "dataset.path=data", "data_cache_dir=null")
    assert off.code == 0, off.output
    assert [metrics_of(r)["data_cache"] for r in run_dirs(tmp_path)] == ["miss", "hit", "off"]


@needs_matplotlib
def test_preview_saves_samples_and_confusion_matrix(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "dataset=digits", "preview=true", "registration.policy=none")
    assert result.code == 0, result.output
    [run] = run_dirs(tmp_path)
    for name in ("samples.png", "confusion_matrix.png"):
        assert (run / "outputs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    table = run_cli(tmp_path, "dataset=iris", "preview=true", "registration.policy=none")
    assert table.code == 0 and "no samples.png written" in table.stderr
    iris = run_dirs(tmp_path)[-1]
    assert not list((iris / "outputs").glob("*.png"))  # not an image dataset


def test_preview_without_matplotlib_is_one_warning(tmp_path: Path) -> None:
    blocked = tmp_path / "no-matplotlib"
    (blocked / "matplotlib").mkdir(parents=True)
    (blocked / "matplotlib" / "__init__.py").write_text("raise ImportError('matplotlib is not installed')\n")
    result = run_cli(tmp_path, "preview=true", "registration.policy=none", env={"PYTHONPATH": str(blocked)})
    assert result.code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "matplotlib" in line]
    assert len(warnings) == 1 and "--preview needs matplotlib" in warnings[0]
    [run] = run_dirs(tmp_path)
    assert not list((run / "outputs").glob("*.png"))
    assert metrics_of(run)["accuracy"] >= 0.95
