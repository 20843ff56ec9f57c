"""Multirun sweeps: one results table, best-model registration, failures listed, dry runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cli import registry_versions, run_cli

from runner import summary
from runner.app import threads_per_job
from runner.registry import LocalRegistry


def _rows(sweep: Path) -> list[dict[str, str]]:
    with open(sweep / "summary.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_joblib_sweep_writes_summary_and_registers_only_the_best(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(tmp_path, "-m", "model.regularization=0.1,0.2,0.4,0.8", "hydra/launcher=joblib",
                     "hydra.launcher.n_jobs=2", "registration.policy=best", f"hydra.sweep.dir={sweep}")
    assert result.code == 0, result.output
    rows = _rows(sweep)
    assert len(rows) == 4 and all(r["status"] == "completed" for r in rows)
    accuracies = [float(r["accuracy"]) for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    assert (sweep / "summary.md").read_text().count("| completed |") == 4
    assert registry_versions(tmp_path / "registry", "sklearn_digits") == ["1"]
    entry = LocalRegistry(tmp_path / "registry").read("sklearn_digits", 1)
    best_job = sweep / rows[0]["job"]
    assert entry["source_run"] == str(best_job)
    assert entry["metrics"]["accuracy"] == pytest.approx(float(rows[0]["accuracy"]), abs=1e-4)
    assert json.loads((best_job / "result.json").read_text())["registered"]["version"] == 1
    assert "Sweep summary: 4 jobs" in result.stdout


def test_eight_parallel_jobs_register_eight_intact_versions(tmp_path) -> None:
    values = ",".join(str(v) for v in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8))
    result = run_cli(tmp_path, "-m", f"model.regularization={values}", "hydra/launcher=joblib",
                     "hydra.launcher.n_jobs=2", "registration.policy=each", f"hydra.sweep.dir={tmp_path / 's'}")
    assert result.code == 0, result.output
    registry = LocalRegistry(tmp_path / "registry")
    assert registry.versions("sklearn_digits") == list(range(1, 9))
    assert all(registry.verify("sklearn_digits", v) for v in range(1, 9))
    sources = {registry.read("sklearn_digits", v)["source_run"] for v in range(1, 9)}
    assert len(sources) == 8


def test_a_failing_job_does_not_stop_the_others(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(tmp_path, "-m", "model.regularization=0.5,-1", f"hydra.sweep.dir={sweep}")
    assert result.code != 0
    assert "Traceback" not in result.output
    rows = {r["model.regularization"]: r for r in _rows(sweep)}
    assert rows["0.5"]["status"] == "completed" and float(rows["0.5"]["accuracy"]) > 0.9
    assert rows["-1"]["status"] == "failed" and "model.regularization must be greater than 0" in rows["-1"]["error"]
    assert registry_versions(tmp_path / "registry", "sklearn_digits") == ["1"]


def test_fail_fast_skips_the_jobs_after_a_failure(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(tmp_path, "-m", "model.regularization=-1,0.5", "sweep.fail_fast=true", f"hydra.sweep.dir={sweep}")
    assert result.code != 0
    statuses = {r["model.regularization"]: r["status"] for r in _rows(sweep)}
    assert statuses == {"-1": "failed", "0.5": "skipped"}
    assert not (tmp_path / "registry").exists()


def test_dry_multirun_lists_every_plan_and_writes_nothing(tmp_path) -> None:
    cwd, temp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    temp.mkdir()
    result = run_cli(cwd, "-m", "seed=0,1", "model=logistic_regression,svm", "dry_run=true",
                     env={"TMPDIR": str(temp)})
    assert result.code == 0, result.output
    assert result.stdout.count("Plan (dry run") == 4
    assert "Job 3:" in result.stdout and "--model svm" in result.stdout
    assert list(cwd.iterdir()) == [] and list(temp.iterdir()) == []  # Hydra's multirun.yaml went to a removed temp


def test_minimize_goal_ranks_lowest_first(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(tmp_path, "-m", "model.regularization=0.1,0.8", "sweep.metric=fit_seconds",
                     "sweep.goal=minimize", "registration.policy=none", f"hydra.sweep.dir={sweep}")
    assert result.code == 0, result.output
    values = [float(r["fit_seconds"]) for r in _rows(sweep)]
    assert values == sorted(values)


def test_optuna_sweeper_optimises_the_returned_metric(tmp_path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep = tmp_path / "sweep"
    result = run_cli(tmp_path, "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3",
                     "hydra.sweeper.direction=maximize", "model.regularization=interval(0.05,1.0)",
                     "registration.policy=best", f"hydra.sweep.dir={sweep}")
    assert result.code == 0, result.output
    assert len(_rows(sweep)) == 3
    assert (sweep / "optimization_results.yaml").exists()
    assert registry_versions(tmp_path / "registry", "sklearn_digits") == ["1"]


# ----------------------------------------------------------------- units


def _row(num: int, status: str, accuracy: float | None, reg: str) -> summary.JobRow:
    metrics = {"accuracy": accuracy} if accuracy is not None else {}
    return summary.JobRow(num, Path(f"/s/{num}"), {"model.regularization": reg, "seed": "0"}, status,
                          metrics, 1.0, f"/s/{num}", None if status == "completed" else "boom")


def test_rank_puts_best_first_and_failures_last() -> None:
    rows = [_row(0, "completed", 0.9, "0.1"), _row(1, "failed", None, "-1"), _row(2, "completed", 0.95, "0.5")]
    assert [r.num for r in summary.rank(rows, "accuracy", "maximize")] == [2, 0, 1]
    assert [r.num for r in summary.rank(rows, "accuracy", "minimize")] == [0, 2, 1]
    assert summary.best(rows, "accuracy", "maximize").num == 2
    assert summary.best([rows[1]], "accuracy", "maximize") is None


def test_table_shows_only_swept_keys() -> None:
    rows = [_row(0, "completed", 0.9, "0.1"), _row(1, "completed", 0.8, "0.5")]
    header, cells = summary.table(rows, "accuracy", "maximize")
    assert "model.regularization" in header and "seed" not in header
    assert cells[0][:2] == ["1", "0"]
    text = summary.to_csv(header, cells)
    assert text.splitlines()[0].startswith("rank,job,model.regularization,status,accuracy")


def test_threads_per_job() -> None:
    assert threads_per_job(2, -1) == 1
    assert threads_per_job(8, 2) == 4
    assert threads_per_job(2, 8) == 1
    assert threads_per_job(4, 1) == 4


def test_a_used_sweep_folder_is_refused_and_kept(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    assert run_cli(tmp_path, "-m", "seed=0,1", f"hydra.sweep.dir={sweep}").code == 0
    before = (sweep / "summary.csv").read_text()
    result = run_cli(tmp_path, "-m", "model=svm", "model.penalty=5,10", f"hydra.sweep.dir={sweep}")
    assert result.code == 2 and "already holds an earlier sweep" in result.stderr
    assert (sweep / "summary.csv").read_text() == before
    assert "model=svm" not in (sweep / "0" / ".hydra" / "overrides.yaml").read_text()


def test_dry_sweep_with_an_invalid_job_fails(tmp_path) -> None:
    result = run_cli(tmp_path, "-m", "model.regularization=0.1,-1", "dry_run=true")
    assert result.code == 1
    assert "model.regularization must be greater than 0" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_sweep_metric_is_an_error_listing_the_metrics(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(tmp_path, "-m", "model.regularization=0.3,0.6", "sweep.metric=acuracy",
                     "registration.policy=best", f"hydra.sweep.dir={sweep}")
    assert result.code != 0
    assert "sweep.metric 'acuracy' is not a metric the jobs report" in result.stderr and "accuracy" in result.stderr
    assert (sweep / "summary.csv").exists() and not (tmp_path / "registry").exists()
    assert {r["rank"] for r in _rows(sweep)} == {"-"}


def test_failed_best_registration_keeps_the_table(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(tmp_path, "-m", "model.regularization=0.3,0.6", "registration.policy=best",
                     f"hydra.sweep.dir={sweep}", registry=Path("/proc/no/registry"))
    assert result.code != 0 and "Registering the best job" in result.stderr
    assert "Traceback" not in result.output
    assert len(_rows(sweep)) == 2
    best = sweep / _rows(sweep)[0]["job"]
    assert "registration_error" in json.loads((best / "result.json").read_text())
