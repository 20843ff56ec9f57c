"""Real-process CLI tests: `python run.py ...` in a temporary folder, as a user would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli import metrics_of, registry_versions, run_cli, run_dirs
from idx_factory import corrupt_magic, idx_file, write_idx_folder

TIMINGS = {"fit_seconds", "load_seconds"}


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output, result.output


def test_default_run_trains_evaluates_and_registers(tmp_path) -> None:
    result = run_cli(tmp_path)
    assert result.code == 0, result.output
    line = result.stdout.strip().splitlines()[-1]
    accuracy = float(line.split("|")[0].split()[1])
    assert accuracy >= 0.95
    [run] = run_dirs(tmp_path)
    assert str(run) in line and "registered sklearn_digits version 1" in line
    metrics = metrics_of(run)
    assert metrics["accuracy"] == pytest.approx(accuracy, abs=1e-4)
    for key in ("f1_macro", "fit_seconds", "load_seconds", "n_train", "n_test", "params"):
        assert key in metrics
    for name in ("provenance.json", "run.log", "task.log", "result.json", "outputs/model.joblib",
                 "outputs/data_fingerprint.json", ".hydra/config.yaml"):
        assert (run / name).is_file(), name
    entry = json.loads((tmp_path / "registry" / "sklearn_digits" / "1" / "model.json").read_text())
    assert entry["version"] == 1 and entry["framework"] == "ScikitLearn"
    assert {"git_commit", "git_dirty", "config_hash", "data_sha256"} <= set(entry["tags"])
    assert entry["source_run"] == str(run)
    provenance = json.loads((run / "provenance.json").read_text())
    assert provenance["packages"]["scikit-learn"] and provenance["python"].startswith("3.11")
    assert provenance["config_hash"] == entry["tags"]["config_hash"]


def test_second_run_gets_version_two(tmp_path) -> None:
    assert run_cli(tmp_path, "model.regularization=0.5").code == 0
    assert run_cli(tmp_path, "model.regularization=0.5").code == 0
    assert registry_versions(tmp_path / "registry", "sklearn_digits") == ["1", "2"]


@pytest.mark.parametrize(
    ("args", "model_name", "min_accuracy"),
    [
        (["model=svm", "dataset=iris"], "sklearn_iris", 0.9),
        (["experiment=iris_svm"], "sklearn-iris", 0.9),
        (["model.solver=liblinear"], "sklearn_digits", 0.9),
        (["model=random_forest", "dataset=wine", "model.n_estimators=50"], "sklearn_wine", 0.9),
    ],
)
def test_documented_variants(tmp_path, args, model_name, min_accuracy) -> None:
    result = run_cli(tmp_path, *args)
    assert result.code == 0, result.output
    [run] = run_dirs(tmp_path)
    assert metrics_of(run)["accuracy"] >= min_accuracy
    assert registry_versions(tmp_path / "registry", model_name) == ["1"]


def test_iris_svm_registers_framework_and_resources(tmp_path) -> None:
    assert run_cli(tmp_path, "experiment=iris_svm").code == 0
    entry = json.loads((tmp_path / "registry" / "sklearn-iris" / "1" / "model.json").read_text())
    assert entry["resource_configuration"] == {"cpu": 1.0, "memory_in_gb": 0.5}
    assert entry["tags"]["area"] == "iris"
    [run] = run_dirs(tmp_path)
    assert run.parts[-3] == "Tutorial-TrainIRIS"
    assert metrics_of(run)["params"]["kernel"] == "linear"


def test_run_dir_and_registry_dir_are_overridable(tmp_path) -> None:
    result = run_cli(tmp_path, f"hydra.run.dir={tmp_path / 'here'}", registry=tmp_path / "models")
    assert result.code == 0, result.output
    assert (tmp_path / "here" / "outputs" / "metrics.json").is_file()
    assert registry_versions(tmp_path / "models", "sklearn_digits") == ["1"]


def test_idx_folder_trains(tmp_path) -> None:
    write_idx_folder(tmp_path / "mnist", n_train=300, n_test=100)
    result = run_cli(tmp_path, "dataset=idx_folder", "dataset.path=mnist")
    assert result.code == 0, result.output
    [run] = run_dirs(tmp_path)
    metrics = metrics_of(run)
    assert (metrics["n_train"], metrics["n_test"]) == (300, 100)
    assert metrics["accuracy"] >= 0.9
    fingerprint = json.loads((run / "outputs" / "data_fingerprint.json").read_text())
    assert len(fingerprint["files"]) == 4


def test_rerun_from_the_saved_config_gives_the_same_metrics(tmp_path) -> None:
    assert run_cli(tmp_path, "model.regularization=0.2", "seed=3").code == 0
    [first] = run_dirs(tmp_path)
    again = run_cli(tmp_path, "--config-dir", str(first / ".hydra"), "--config-name", "config",
                    f"hydra.run.dir={tmp_path / 'again'}")
    assert again.code == 0, again.output
    before, after = metrics_of(first), metrics_of(tmp_path / "again")
    assert after["params"]["regularization"] == 0.2 and after["params"]["seed"] == 3
    assert {k: v for k, v in before.items() if k not in TIMINGS} == {
        k: v for k, v in after.items() if k not in TIMINGS
    }


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path) -> None:
    result = run_cli(tmp_path, "dry_run=true", "model.regularization=0.1")
    assert result.code == 0, result.output
    for word in ("train.py", "--regularization 0.1", "compute", "digits", "sklearn-env", "sklearn_digits"):
        assert word in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_help_lists_groups(tmp_path) -> None:
    result = run_cli(tmp_path, "--help")
    assert result.code == 0
    for group in ("compute:", "dataset:", "model:", "experiment:", "iris_svm", "--config-dir"):
        assert group in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["model.regularization=0"], "model.regularization must be greater than 0"),
        (["model.regularization=-1"], "model.regularization must be greater than 0"),
        (["compute=cpu_cluster", "compute.min_nodes=5", "compute.max_nodes=2"], "must not exceed compute.max_nodes"),
        (["compute=cpu_cluster", "compute.min_nodes=-1"], "compute.min_nodes must be 0 or more"),
        (["registration.model_name=bad/name"], "is not a valid model name"),
        (["model=xgboost"], "Could not find 'model/xgboost'"),
        (["model.regularization=lots"], "could not be converted to Float"),
        (["model.learning_rate=0.1"], "learning_rate"),
        (["dataset=idx_folder"], "dataset.path is required"),
        (["dataset=idx_folder", "dataset.path=nowhere"], "does not exist"),
    ],
)
def test_user_errors_end_in_one_message(tmp_path, args, expected) -> None:
    result = run_cli(tmp_path, *args)
    assert result.code != 0
    assert expected in result.stderr, result.output
    _no_traceback(result)
    assert not (tmp_path / "registry").exists()


def test_corrupt_idx_file_is_reported_and_nothing_registered(tmp_path) -> None:
    folder = write_idx_folder(tmp_path / "mnist")
    corrupt_magic(idx_file(folder, "train_images"))
    result = run_cli(tmp_path, "dataset=idx_folder", "dataset.path=mnist")
    assert result.code != 0
    assert "train-images-idx3-ubyte" in result.stderr and "magic" in result.stderr.lower()
    _no_traceback(result)
    assert not (tmp_path / "registry").exists()


def test_existing_run_folder_is_never_overwritten(tmp_path) -> None:
    target = tmp_path / "fixed"
    assert run_cli(tmp_path, f"hydra.run.dir={target}").code == 0
    kept = ["outputs/metrics.json", "result.json", "provenance.json", ".hydra/config.yaml", ".hydra/overrides.yaml"]
    before = {name: (target / name).read_text() for name in kept}
    result = run_cli(tmp_path, f"hydra.run.dir={target}", "model.regularization=0.9")
    assert result.code != 0 and "already holds a run; it is kept as it is" in result.stderr
    _no_traceback(result)
    assert {name: (target / name).read_text() for name in kept} == before
    assert registry_versions(tmp_path / "registry", "sklearn_digits") == ["1"]


def test_unwritable_run_folder_is_one_message(tmp_path) -> None:
    result = run_cli(tmp_path, "hydra.run.dir=/proc/no/such/run")
    assert result.code == 2
    assert "hydra.run.dir: cannot create the folder /proc/no/such/run" in result.stderr
    _no_traceback(result)


def test_unwritable_registry_is_one_message_and_keeps_the_run(tmp_path) -> None:
    result = run_cli(tmp_path, registry=Path("/proc/no/registry"))
    assert result.code != 0
    assert "/proc/no/registry" in result.stderr
    _no_traceback(result)
    [run] = run_dirs(tmp_path)
    assert (run / "outputs" / "metrics.json").is_file()
