"""Fit one scikit-learn classifier on one dataset and write model, data fingerprint and metrics.

Runs unchanged locally and as an Azure ML script run; exit codes: 0 ok, 2 user error, 1 crash.
scikit-learn and joblib are imported inside the functions that use them, so --help and flag
errors answer at once instead of after the ~1 s scikit-learn import.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

import data_flags
import data_sources
import idx_format
import pictures

if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin

log = logging.getLogger(__name__)

PROG = "train.py"
MODEL_FILE = "model.joblib"
FINGERPRINT_FILE = "data_fingerprint.json"
METRICS_FILE = "metrics.json"
SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")
KERNELS = ("linear", "poly", "rbf", "sigmoid")
# model -> {flag dest: default}; flags given explicitly for another model are an error. The same
# values as runner/schema.py (the runner always passes every flag; these serve standalone use).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"regularization": 0.5, "solver": "lbfgs", "max_iter": 1000},
    "svm": {"kernel": "rbf", "penalty": 1.0, "gamma": "scale", "degree": 3},
    "random_forest": {"n_estimators": 100, "max_depth": None, "min_samples_leaf": 1, "n_jobs": 1},
}


def _number(kind: Callable[[str], Any], check: Callable[[Any], bool], rule: str) -> Callable[[str], Any]:
    """Return an argparse type that parses with `kind` and requires `check` (described by `rule`)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__} {rule}, got {text!r}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    return parse


def _gamma(text: str) -> str | float:
    """Parse --gamma: "scale", "auto" or a positive float."""
    if text in ("scale", "auto"):
        return text
    return _number(float, lambda v: v > 0, '"scale", "auto" or a float > 0')(text)


def _max_depth(text: str) -> int | None:
    """Parse --max-depth: an int >= 1, or "none" for unlimited depth."""
    if text.lower() == "none":
        return None
    return _number(int, lambda v: v >= 1, ">= 1 (or none)")(text)


POSITIVE_FLOAT = _number(float, lambda v: v > 0, "> 0")
POSITIVE_INT = _number(int, lambda v: v >= 1, ">= 1")
N_JOBS = _number(int, lambda v: v >= 1 or v == -1, ">= 1 or -1 (all cores)")


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    """Add the per-model hyperparameter flags, one argument group per model."""
    s = argparse.SUPPRESS  # absent from the namespace unless given, so misuse can be detected
    lr = parser.add_argument_group("logistic_regression options (only with --model logistic_regression)")
    lr.add_argument("--regularization", metavar="FLOAT", type=POSITIVE_FLOAT, default=s,
                    help="inverse of C: C = 1/regularization (default 0.5)")
    lr.add_argument("--solver", choices=SOLVERS, default=s,
                    help="optimizer (default lbfgs); liblinear on >2 classes is wrapped in one-vs-rest")
    lr.add_argument("--max-iter", metavar="INT", type=POSITIVE_INT, default=s,
                    help="maximum solver iterations (default 1000)")
    svm = parser.add_argument_group("svm options (only with --model svm)")
    svm.add_argument("--kernel", choices=KERNELS, default=s, help="kernel (default rbf)")
    svm.add_argument("--penalty", metavar="FLOAT", type=POSITIVE_FLOAT, default=s,
                     help="C, the misclassification penalty (default 1.0)")
    svm.add_argument("--gamma", metavar="GAMMA", type=_gamma, default=s,
                     help='kernel coefficient: "scale", "auto" or a float > 0 (default scale)')
    svm.add_argument("--degree", metavar="INT", type=POSITIVE_INT, default=s,
                     help="degree of the poly kernel (default 3)")
    rf = parser.add_argument_group("random_forest options (only with --model random_forest)")
    rf.add_argument("--n-estimators", metavar="INT", type=POSITIVE_INT, default=s,
                    help="number of trees (default 100)")
    rf.add_argument("--max-depth", metavar="INT", type=_max_depth, default=s,
                    help="maximum tree depth, or none for unlimited (default none)")
    rf.add_argument("--min-samples-leaf", metavar="INT", type=POSITIVE_INT, default=s,
                    help="minimum samples per leaf (default 1)")
    rf.add_argument("--n-jobs", metavar="INT", type=N_JOBS, default=s,
                    help="parallel jobs, -1 for all cores (default 1)")


def build_parser() -> argparse.ArgumentParser:
    """Return the flat command-line parser (data, model, per-model, run flags)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        allow_abbrev=False,  # "--mode" must never be taken for "--model"
        description="Fit a scikit-learn classifier and write model.joblib, data_fingerprint.json, "
        "confusion_matrix.png (image data, with matplotlib) and metrics.json (last) into --output-dir. "
        "Exit codes: 0 ok, 2 user error, 1 crash.",
    )
    data_flags.add_data_flags(parser)
    parser.add_argument("--model", choices=tuple(MODEL_DEFAULTS), default="logistic_regression",
                        help="classifier (default logistic_regression)")
    _add_model_flags(parser)
    parser.add_argument("--seed", metavar="INT", type=_number(int, lambda v: 0 <= v < 2**32, "in [0, 2**32)"),
                        default=0,
                        help="random_state for the split and every estimator (default 0)")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs"), metavar="PATH",
                        help="where outputs go, relative to the current folder (default outputs)")
    return parser


def _flag(dest: str) -> str:
    """Return the command-line spelling of an argparse dest."""
    return "--" + dest.replace("_", "-")


def resolve_params(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """Check cross-flag rules and return the effective hyperparameters (defaults filled in)."""
    given = vars(args)
    wrong = [f"{_flag(d)} (only for --model {model})" for model, defaults in MODEL_DEFAULTS.items()
             if model != args.model for d in defaults if d in given]
    if wrong:
        parser.error(f"not valid with --model {args.model}: {', '.join(wrong)}")
    data = data_flags.data_params(parser, args)
    params: dict[str, Any] = {"model": args.model}
    params.update({d: given.get(d, v) for d, v in MODEL_DEFAULTS[args.model].items()})
    if args.model == "logistic_regression":
        params["C"] = 1.0 / params["regularization"]
    params.update(seed=args.seed, **data)
    return params


def build_estimator(params: dict[str, Any], n_classes: int) -> tuple[ClassifierMixin, str]:
    """Return the unfitted estimator for params and its display name."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import SVC

    seed, model = params["seed"], params["model"]
    if model == "svm":
        est = SVC(kernel=params["kernel"], C=params["penalty"], gamma=params["gamma"],
                  degree=params["degree"], random_state=seed)
        return est, "SVC"
    if model == "random_forest":
        est = RandomForestClassifier(
            n_estimators=params["n_estimators"], max_depth=params["max_depth"],
            min_samples_leaf=params["min_samples_leaf"], n_jobs=params["n_jobs"], random_state=seed)
        return est, "RandomForestClassifier"
    lr = LogisticRegression(C=params["C"], solver=params["solver"], max_iter=params["max_iter"],
                            random_state=seed)
    if params["solver"] == "liblinear" and n_classes > 2:
        log.info("solver liblinear is binary-only: fitting one-vs-rest over %d classes", n_classes)
        return OneVsRestClassifier(lr), "OneVsRestClassifier(LogisticRegression)"
    return lr, "LogisticRegression"


def fit(estimator: ClassifierMixin, X: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Fit in place; return (seconds, ConvergenceWarning count), logging each warning as one line."""
    from sklearn.exceptions import ConvergenceWarning

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(X, y)
    seconds = time.perf_counter() - start
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    if convergence:
        first = next((ln.strip() for ln in str(convergence[0].message).splitlines() if ln.strip()), "")
        times = f" (x{len(convergence)})" if len(convergence) > 1 else ""
        log.warning("ConvergenceWarning%s: %s; consider raising --max-iter", times, first.rstrip(":"))
    for other in (w for w in caught if not issubclass(w.category, ConvergenceWarning)):
        log.warning("%s: %s", other.category.__name__, " ".join(str(other.message).split()))
    return seconds, len(convergence)


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call write(fh) on a temp file in path's folder, fsync it, then os.replace it onto path."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("Wrote %s", path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write data as indented UTF-8 JSON to path atomically."""
    atomic_write(path, lambda fh: fh.write((json.dumps(data, indent=2) + "\n").encode("utf-8")))


def write_model(path: Path, estimator: ClassifierMixin) -> None:
    """joblib.dump the fitted estimator to path atomically."""
    import joblib

    atomic_write(path, lambda fh: joblib.dump(estimator, fh))


def log_to_azure(metrics: dict[str, Any]) -> None:
    """Inside an Azure ML run (AZUREML_RUN_ID set), log each numeric metric to the run."""
    if not os.environ.get("AZUREML_RUN_ID"):
        return
    os.environ.setdefault("HBI_WORKSPACE_JOB", "true")  # keeps the SDK's telemetry off
    try:
        from azureml.core import Run
    except Exception as exc:  # noqa: BLE001 - any import failure just means no run logging
        log.warning("AZUREML_RUN_ID is set but azureml.core cannot be imported (%s); "
                    "metrics not logged to the run", exc)
        return
    try:
        run = Run.get_context()
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                run.log(name, value)
    except Exception as exc:  # noqa: BLE001 - outputs are already written; do not fail the run
        log.warning("could not log metrics to the Azure ML run: %s", exc)
        return
    log.info("Logged metrics to Azure ML run %s", os.environ["AZUREML_RUN_ID"])


def count_classes(split: data_sources.Split) -> int:
    """Return the number of distinct labels across train and test."""
    return len(np.unique(np.concatenate([split.y_train, split.y_test])))


def load(params: dict[str, Any], cache_dir: Path | None = None) -> tuple[data_sources.Split, float]:
    """Load the split named by params (parsed arrays cached in cache_dir); return it and the seconds it took."""
    start = time.perf_counter()
    split = data_sources.load(data_flags.data_spec(params, params["seed"], cache_dir))
    seconds = time.perf_counter() - start
    n_classes = count_classes(split)
    log.info("Loaded %s: %d train / %d test, %d features, %d classes in %.2f s (data cache %s)", params["dataset"],
             len(split.y_train), len(split.y_test), split.X_train.shape[1], n_classes, seconds, split.cache)
    return split, seconds


def train_and_evaluate(params: dict[str, Any], output_dir: Path, cache_dir: Path | None = None,
                       preview: bool = False) -> dict[str, Any]:
    """Load, fit, evaluate and write model, fingerprint, pictures and (last) metrics; return the metrics."""
    split, load_seconds = load(params, cache_dir)  # before importing scikit-learn: data errors answer at once
    from sklearn.metrics import accuracy_score, f1_score

    if split.class_names is not None:
        params["class_names"] = list(split.class_names)
    n_classes = count_classes(split)
    estimator, name = build_estimator(params, n_classes)
    fit_seconds, n_convergence = fit(estimator, split.X_train, split.y_train)
    log.info("Fitted %s in %.2f s", name, fit_seconds)
    predicted = estimator.predict(split.X_test)
    metrics: dict[str, Any] = {
        "accuracy": float(accuracy_score(split.y_test, predicted)),
        "f1_macro": float(f1_score(split.y_test, predicted, average="macro")),
        "fit_seconds": round(fit_seconds, 4),
        "load_seconds": round(load_seconds, 4),
        "data_cache": split.cache,
        "n_train": len(split.y_train),
        "n_test": len(split.y_test),
        "n_features": int(split.X_train.shape[1]),
        "n_classes": n_classes,
        "convergence_warnings": n_convergence,
    }
    log.info("accuracy %.4f", metrics["accuracy"])
    log.info("f1_macro %.4f", metrics["f1_macro"])
    metrics.update(params=params, estimator=name, model_file=MODEL_FILE)
    write_model(output_dir / MODEL_FILE, estimator)
    write_json(output_dir / FINGERPRINT_FILE, data_sources.fingerprint(split))
    pictures.save_pictures(split, predicted, output_dir, preview, atomic_write)
    write_json(output_dir / METRICS_FILE, metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Run the training for argv; return 0, or 2 on a data error (flag errors raise SystemExit(2))."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    params = resolve_params(parser, args)
    try:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        # metrics.json marks a finished run: drop one left by an earlier run before starting this one
        (args.output_dir / METRICS_FILE).unlink(missing_ok=True)
    except OSError as exc:
        parser.error(f"cannot use --output-dir {args.output_dir}: {exc.strerror or exc}")
    try:
        metrics = train_and_evaluate(params, args.output_dir, args.cache_dir, args.preview)
    except (data_sources.DataSourceError, idx_format.IdxFormatError) as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    log_to_azure(metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
