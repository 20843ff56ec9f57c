"""End-to-end tests of tasks/train.py, run as a real subprocess with cwd=tmp_path."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from idx_factory import corrupt_magic, idx_file, write_idx_folder

TASKS = Path(__file__).resolve().parents[1] / "tasks"
TRAIN = TASKS / "train.py"
METRIC_KEYS = {"accuracy", "f1_macro", "fit_seconds", "load_seconds", "n_train", "n_test",
               "n_features", "n_classes", "params", "model_file", "estimator"}
TIMINGS = {"fit_seconds", "load_seconds"}
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _env(**extra: str) -> dict[str, str]:
    """Return a clean environment (no Azure ML run variables) plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZUREML_")}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def run_train(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run tasks/train.py with args in cwd and return the finished process."""
    return subprocess.run([sys.executable, str(TRAIN), *args], cwd=cwd, env=_env(**env),
                          capture_output=True, text=True, timeout=120, check=False)


def read_metrics(folder: Path) -> dict[str, Any]:
    """Return the parsed metrics.json in folder."""
    return json.loads((folder / "metrics.json").read_text())


def assert_user_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Check exit code 2, a 'train.py: error:' line naming every fragment, and no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("train.py: error: ")]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help_describes_every_flag(tmp_path: Path) -> None:
    proc = run_train(tmp_path, "--help")
    assert proc.returncode == 0
    for flag in ("--dataset", "--data-folder", "--test-size", "--model", "--regularization", "--solver",
                 "--max-iter", "--kernel", "--penalty", "--gamma", "--degree", "--n-estimators",
                 "--max-depth", "--min-samples-leaf", "--n-jobs", "--seed", "--output-dir",
                 "--data-file", "--target", "--features", "--cache-dir", "--preview"):
        assert flag in proc.stdout
    assert "idx_folder" in proc.stdout and "newton-cholesky" in proc.stdout
    assert not list(tmp_path.iterdir())  # --help writes nothing


def test_digits_default_run(tmp_path: Path) -> None:
    proc = run_train(tmp_path, "--regularization", "0.5")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "outputs"
    pictures = ["confusion_matrix.png"] if HAS_MATPLOTLIB else []  # digits are images
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["data_fingerprint.json", "metrics.json", "model.joblib", *pictures])
    metrics = read_metrics(out)
    assert METRIC_KEYS <= set(metrics) and metrics["data_cache"] == "off"
    assert metrics["accuracy"] >= 0.95 and metrics["f1_macro"] >= 0.95
    sizes = (metrics["n_train"], metrics["n_test"], metrics["n_features"], metrics["n_classes"])
    assert sizes == (1347, 450, 64, 10)
    assert metrics["params"] == {"model": "logistic_regression", "regularization": 0.5, "solver": "lbfgs",
                                 "max_iter": 1000, "C": 2.0, "seed": 0, "dataset": "digits", "test_size": 0.25}
    assert metrics["estimator"] == "LogisticRegression" and metrics["model_file"] == "model.joblib"
    fp = json.loads((out / "data_fingerprint.json").read_text())
    assert fp["source"] == "sklearn:digits" and fp["shapes"]["X_test"] == [450, 64]
    assert "Loaded digits: 1347 train / 450 test, 64 features, 10 classes" in proc.stderr
    assert "accuracy 0.9" in proc.stderr and "Wrote outputs/metrics.json" in proc.stderr
    assert proc.stderr.index("Wrote outputs/model.joblib") < proc.stderr.index("Wrote outputs/metrics.json")
    import joblib  # the model round-trips and predicts

    model = joblib.load(out / "model.joblib")
    assert model.predict([[0.0] * 64]).shape == (1,)


def test_iris_linear_svm(tmp_path: Path) -> None:
    proc = run_train(tmp_path, "--dataset", "iris", "--model", "svm", "--kernel", "linear",
                     "--penalty", "1.0", "--output-dir", "o")
    assert proc.returncode == 0, proc.stderr
    metrics = read_metrics(tmp_path / "o")
    assert metrics["estimator"] == "SVC" and metrics["accuracy"] >= 0.9
    assert metrics["params"] == {"model": "svm", "kernel": "linear", "penalty": 1.0, "gamma": "scale",
                                 "degree": 3, "seed": 0, "dataset": "iris", "test_size": 0.25}


def test_random_forest_on_wine(tmp_path: Path) -> None:
    proc = run_train(tmp_path, "--dataset", "wine", "--model", "random_forest", "--n-estimators", "50",
                     "--max-depth", "5", "--test-size", "0.3")
    assert proc.returncode == 0, proc.stderr
    metrics = read_metrics(tmp_path / "outputs")
    assert metrics["estimator"] == "RandomForestClassifier" and metrics["accuracy"] >= 0.9
    assert metrics["params"]["max_depth"] == 5 and metrics["params"]["min_samples_leaf"] == 1
    assert metrics["params"]["test_size"] == 0.3 and metrics["n_test"] == 54


def test_liblinear_on_ten_classes_uses_one_vs_rest(tmp_path: Path) -> None:
    proc = run_train(tmp_path, "--solver", "liblinear", "--regularization", "0.5")
    assert proc.returncode == 0, proc.stderr
    metrics = read_metrics(tmp_path / "outputs")
    assert metrics["estimator"] == "OneVsRestClassifier(LogisticRegression)"
    assert metrics["accuracy"] >= 0.9 and metrics["params"]["solver"] == "liblinear"
    assert "one-vs-rest over 10 classes" in proc.stderr


def test_idx_folder_run(tmp_path: Path) -> None:
    write_idx_folder(tmp_path / "data", n_train=200, n_test=50)
    proc = run_train(tmp_path, "--dataset", "idx_folder", "--data-folder", "data", "--regularization", "0.5")
    assert proc.returncode == 0, proc.stderr
    metrics = read_metrics(tmp_path / "outputs")
    assert metrics["accuracy"] >= 0.9
    assert (metrics["n_train"], metrics["n_test"], metrics["n_features"]) == (200, 50, 64)
    assert metrics["params"]["data_folder"] == "data" and "test_size" not in metrics["params"]
    fp = json.loads((tmp_path / "outputs" / "data_fingerprint.json").read_text())
    assert fp["source"] == "idx_folder" and len(fp["files"]) == 4 and fp["image_shape"] == [8, 8]


def test_same_seed_same_metrics(tmp_path: Path) -> None:
    args = ("--model", "random_forest", "--n-estimators", "20", "--seed", "7")
    first = run_train(tmp_path, *args, "--output-dir", "a")
    second = run_train(tmp_path, *args, "--output-dir", "b")
    assert first.returncode == second.returncode == 0
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert {k: v for k, v in a.items() if k not in TIMINGS} == {k: v for k, v in b.items() if k not in TIMINGS}
    fingerprints = [(tmp_path / d / "data_fingerprint.json").read_text() for d in ("a", "b")]
    assert fingerprints[0] == fingerprints[1]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--dataset", "idx_folder", "--data-folder", "missing"), ("data folder missing does not exist",)),
        (("--dataset", "idx_folder"), ("requires --data-folder",)),
        (("--data-folder", "x"), ("--data-folder is only used with --dataset idx_folder", "digits")),
        (("--kernel", "linear"),
         ("not valid with --model logistic_regression: --kernel (only for --model svm)",)),
        (("--model", "svm", "--solver", "saga", "--n-jobs", "2"),
         (("not valid with --model svm: --solver (only for --model logistic_regression), "
           "--n-jobs (only for --model random_forest)"),)),
        (("--regularization", "0"), ("argument --regularization: must be > 0, got 0",)),
        (("--regularization", "-1"), ("argument --regularization: must be > 0, got -1",)),
        (("--regularization", "abc"), ("expected float > 0, got 'abc'",)),
        (("--max-iter", "0"), ("argument --max-iter: must be >= 1",)),
        (("--test-size", "1.5"), ("argument --test-size: must be in (0, 1), got 1.5",)),
        (("--model", "svm", "--gamma", "-2"), ("argument --gamma",)),
        (("--model", "random_forest", "--n-estimators", "0"), ("argument --n-estimators: must be >= 1",)),
        (("--dataset", "cifar"), ("argument --dataset: invalid choice: 'cifar'",)),
        (("--dataset", "mnist"), ("--dataset mnist requires --data-folder PATH",)),
        (("--dataset", "csv", "--data-file", "t.csv"), ("--dataset csv requires --data-file PATH --target NAME",)),
        (("--dataset", "iris", "--target", "y"), ("--target is only used with --dataset csv, not --dataset iris",)),
        (("--dataset", "mnist", "--data-folder", ".", "--data-file", "t.csv"),
         ("--data-file is only used with --dataset csv, not --dataset mnist",)),
        (("--seed", "-1"), ("argument --seed: must be in [0, 2**32), got -1",)),
        (("--dataset", "idx_folder", "--data-folder", ".", "--test-size", "0.2"),
         ("--test-size only applies to bundled datasets",)),
    ],
)
def test_user_errors_exit_2(tmp_path: Path, args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    assert_user_error(run_train(tmp_path, *args), *fragments)
    assert not (tmp_path / "outputs" / "metrics.json").exists()


def test_corrupt_file_exits_2(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "data", n_train=40, n_test=10)
    corrupt_magic(idx_file(folder, "train_labels"))
    proc = run_train(tmp_path, "--dataset", "idx_folder", "--data-folder", "data")
    assert_user_error(proc, "train-labels-idx1-ubyte.gz: bad idx magic", "found 12 34")
    assert not (tmp_path / "outputs" / "metrics.json").exists()


def test_output_dir_that_is_a_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    assert_user_error(run_train(tmp_path, "--output-dir", "taken"), "cannot use --output-dir taken")


def test_stale_metrics_removed_and_no_temp_files(tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    assert run_train(tmp_path, "--dataset", "iris").returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["data_fingerprint.json", "metrics.json", "model.joblib"]
    proc = run_train(tmp_path, "--dataset", "idx_folder", "--data-folder", "missing")
    assert_user_error(proc, "does not exist")
    assert not (out / "metrics.json").exists()  # an earlier run's metrics never pass for this one


def test_convergence_warning_is_one_line(tmp_path: Path) -> None:
    proc = run_train(tmp_path, "--dataset", "wine", "--max-iter", "5")
    assert proc.returncode == 0, proc.stderr
    warning_lines = [ln for ln in proc.stderr.splitlines() if "ConvergenceWarning" in ln]
    assert len(warning_lines) == 1 and "failed to converge" in warning_lines[0]
    assert read_metrics(tmp_path / "outputs")["convergence_warnings"] >= 1


def test_local_run_does_not_import_azureml(tmp_path: Path) -> None:
    wrapper = tmp_path / "wrap.py"
    wrapper.write_text(textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(TASKS)!r})
        import train
        code = train.main(["--dataset", "iris", "--output-dir", "o"])
        azureml = sorted(m for m in sys.modules if m.startswith("azureml"))
        print(json.dumps({{"code": code, "azureml": azureml}}))
    """))
    proc = subprocess.run([sys.executable, str(wrapper)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"code": 0, "azureml": []}


def _fake_azureml(root: Path, core_source: str) -> Path:
    """Write a stand-in azureml package under root and return root (for PYTHONPATH)."""
    (root / "azureml").mkdir(parents=True)
    (root / "azureml" / "__init__.py").write_text("")
    (root / "azureml" / "core.py").write_text(textwrap.dedent(core_source))
    return root


def test_azureml_run_logs_numeric_metrics(tmp_path: Path) -> None:
    fake = _fake_azureml(tmp_path / "fake", """
        import json, os
        TELEMETRY = os.environ.get("HBI_WORKSPACE_JOB")
        class _Run:
            def log(self, name, value):
                with open(os.environ["FAKE_RUN_LOG"], "a") as fh:
                    fh.write(json.dumps([name, value, TELEMETRY]) + "\\n")
        class Run:
            @staticmethod
            def get_context():
                return _Run()
    """)
    log_file = tmp_path / "run_log.jsonl"
    proc = run_train(tmp_path, "--dataset", "iris", AZUREML_RUN_ID="run-1", PYTHONPATH=str(fake),
                     FAKE_RUN_LOG=str(log_file))
    assert proc.returncode == 0, proc.stderr
    logged = [json.loads(line) for line in log_file.read_text().splitlines()]
    names = {name for name, _, _ in logged}
    assert {"accuracy", "f1_macro", "fit_seconds", "load_seconds", "n_train", "n_test", "n_features",
            "n_classes"} <= names
    assert "params" not in names and "estimator" not in names
    assert all(telemetry == "true" for _, _, telemetry in logged)
    metrics = read_metrics(tmp_path / "outputs")
    assert {n: v for n, v, _ in logged}["accuracy"] == metrics["accuracy"]


def test_azureml_import_failure_only_warns(tmp_path: Path) -> None:
    fake = _fake_azureml(tmp_path / "fake", "raise ImportError('no azureml here')\n")
    proc = run_train(tmp_path, "--dataset", "iris", AZUREML_RUN_ID="run-1", PYTHONPATH=str(fake))
    assert proc.returncode == 0, proc.stderr
    assert "azureml.core cannot be imported (no azureml here)" in proc.stderr
    assert (tmp_path / "outputs" / "metrics.json").exists()


def test_abbreviated_flags_are_refused(tmp_path) -> None:
    proc = subprocess.run([sys.executable, str(TRAIN), "--mode", "svm"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unrecognized arguments: --mode" in proc.stderr
