"""Remote sweeps against a fake cloud: jobs only submit, max_concurrent caps runs in flight, the sweep's
end waits for all runs together, collects them, and registers the best (or each) model."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_azure import (
    SP_AUTH,
    SP_ENV,
    TAGS,
    TASKS_DIR,
    FakeCloud,
    RunScript,
    write_workspace_config,
)
from omegaconf import OmegaConf

from runner import app
from runner import sweep as sweep_module
from runner.backends.azureml import AzureMLBackend
from runner.backends.azureml.tracking import Poller, RunCache
from runner.plan import build_plan
from runner.records import read_record, result_from_record, write_result
from runner.registration import registration_request
from runner.sweep import finish_sweep
from runner.validate import validate

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::DeprecationWarning")

REMOTE = (SP_AUTH, "compute=cpu_cluster")


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCloud:
    """A fake workspace; cwd holds .azureml/config.json; snapshot temp folders go under tmp_path."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.chdir(tmp_path)
    write_workspace_config(tmp_path)
    return FakeCloud()


def backend_for(cloud: FakeCloud, tmp_path: Path, cache: RunCache | None = None) -> AzureMLBackend:
    """A backend of one process (its own run cache); waiting one poll interval is one cloud.tick()."""
    return AzureMLBackend(sdk=cloud.sdk(), cwd=tmp_path, environ=dict(SP_ENV),
                          poller=Poller(interval=5.0, sleep=cloud.tick), cache=cache or RunCache())


def submit_sweep(backend: AzureMLBackend, compose_cfg: Callable[..., Any], sweep: Path, values: list[str],
                 *extra: str) -> list[Path]:
    """Run one job per ``model.regularization`` value as run.py does in a multirun (records included)."""
    job_dirs = []
    for num, value in enumerate(values):
        overrides = (*REMOTE, f"model.regularization={value}", *extra)
        cfg = compose_cfg(*overrides)
        run = app._for_sweep(validate(cfg), sweeping=True)
        job_dir = sweep / str(num)
        plan = build_plan(run, run_dir=str(job_dir), cwd=str(sweep.parent), source_dir=str(TASKS_DIR),
                          tags=TAGS, overrides=overrides, sweep_dir=str(sweep))
        (job_dir / ".hydra").mkdir(parents=True)
        OmegaConf.save(cfg, job_dir / ".hydra" / "config.yaml")
        result = backend.run(plan)
        write_result(job_dir, plan, result, app._register(plan, result, backend, sweeping=True))
        job_dirs.append(job_dir)
    return job_dirs


def finish(backend: AzureMLBackend, compose_cfg: Callable[..., Any], sweep: Path, monkeypatch: pytest.MonkeyPatch,
           *extra: str) -> int:
    """The sweep's end (SweepCallback.on_multirun_end) with ``backend`` as the Azure ML backend."""
    monkeypatch.setattr(sweep_module, "get_backend", lambda kind: backend)
    return finish_sweep(compose_cfg(*REMOTE, *extra), sweep)


def test_sweep_jobs_submit_without_waiting(cloud, compose_cfg, tmp_path) -> None:
    sweep = tmp_path / "sweep"
    job_dirs = submit_sweep(backend_for(cloud, tmp_path), compose_cfg, sweep, ["0.1", "0.2", "0.4"])
    assert len(cloud.submissions) == 3 and cloud.ticks == 0
    assert all(name != "wait_for_completion" for run in cloud.runs for name, _ in run.calls)
    for job_dir, run in zip(job_dirs, cloud.runs):
        record = read_record(job_dir)
        assert record["status"] == "submitted" and record["run_id"] == run.id
        assert record["experiment"] == "digits_logistic_regression" and record["url"] == run.get_portal_url()
        assert SP_ENV["AZUREML_SERVICE_PRINCIPAL_PASSWORD"] not in (job_dir / "result.json").read_text()
    assert not (job_dirs[0] / "outputs").exists() and cloud.models == []


def test_max_concurrent_makes_the_third_submit_wait_for_a_run_to_end(cloud, compose_cfg, tmp_path, caplog) -> None:
    cloud.scripts = [RunScript(timeline=["Queued", "Running"]), RunScript(timeline=["Running"] * 5),
                     RunScript(timeline=["Running"]), RunScript()]
    backend = backend_for(cloud, tmp_path)
    with caplog.at_level(logging.INFO):
        submit_sweep(backend, compose_cfg, tmp_path / "sweep", ["0.1", "0.2", "0.4", "0.8"], "sweep.max_concurrent=2")
    # Job 2 waits two rounds (job 0 ends); job 3 one more (job 2's run ends; job 1's still runs).
    assert [s.tick for s in cloud.submissions] == [0, 0, 2, 3]
    assert cloud.reopened == []  # one process: the runs it submitted are cached, never re-opened
    assert "job 0 (model.regularization=0.1): Queued \u2192 Running" in caplog.messages
    assert "job 0 (model.regularization=0.1): Running \u2192 Completed" in caplog.messages
    assert "job 2 (model.regularization=0.4): Running \u2192 Completed" in caplog.messages
    waits = [m for m in caplog.messages if "sweep.max_concurrent=2" in m]
    assert len(waits) == 2 and waits[0].startswith("2 runs of this sweep are in flight")


def test_parallel_workers_count_runs_from_the_records(cloud, compose_cfg, tmp_path) -> None:
    """Each joblib worker has its own cache: siblings' runs are re-opened by id from their records."""
    cloud.scripts = [RunScript(timeline=["Running"]), RunScript(timeline=["Running"] * 3)]
    sweep = tmp_path / "sweep"
    submit_sweep(backend_for(cloud, tmp_path), compose_cfg, sweep, ["0.1", "0.2"], "sweep.max_concurrent=2")
    other_worker = backend_for(cloud, tmp_path)
    overrides = (*REMOTE, "model.regularization=0.4", "sweep.max_concurrent=2")
    run = app._for_sweep(validate(compose_cfg(*overrides)), sweeping=True)
    plan = build_plan(run, run_dir=str(sweep / "2"), cwd=str(tmp_path), source_dir=str(TASKS_DIR), tags=TAGS,
                      overrides=overrides, sweep_dir=str(sweep))
    other_worker.run(plan)
    assert sorted(cloud.reopened) == sorted(r.id for r in cloud.runs[:2])
    assert cloud.submissions[2].tick == 1


def test_the_end_waits_for_all_runs_together_and_collects_them(cloud, compose_cfg, tmp_path, monkeypatch,
                                                                caplog) -> None:
    cloud.scripts = [RunScript(timeline=["Running"]), RunScript(timeline=["Queued", "Running", "Running"]),
                     RunScript(timeline=["Running", "Running"])]
    sweep = tmp_path / "sweep"
    job_dirs = submit_sweep(backend_for(cloud, tmp_path), compose_cfg, sweep, ["0.1", "0.2", "0.4"],
                            "registration.policy=none")
    connects = len(cloud.connects)
    with caplog.at_level(logging.INFO):
        failed = finish(backend_for(cloud, tmp_path), compose_cfg, sweep, monkeypatch, "registration.policy=none")
    assert failed == 0
    assert cloud.ticks == 3  # together: as long as the slowest run, not the sum of all
    assert len(cloud.connects) == connects + 1 and sorted(cloud.reopened) == sorted(r.id for r in cloud.runs)
    assert "job 1 (model.regularization=0.2): Queued" in caplog.messages
    assert "job 1 (model.regularization=0.2): Running \u2192 Completed" in caplog.messages
    assert "job 2 (model.regularization=0.4): Running \u2192 Completed" in caplog.messages
    for job_dir, run in zip(job_dirs, cloud.runs):
        assert ("download_files", {"prefix": "outputs", "output_directory": str(job_dir)}) in run.calls
        assert all(name != "wait_for_completion" for name, _ in run.calls)
        record = read_record(job_dir)
        assert record["status"] == "completed" and record["error"] is None and record["run_id"] == run.id
        assert record["metrics"] == {"accuracy": 0.91, "f1_macro": 0.9, "n_train": 100.0}
        assert record["model_file"] == str(job_dir / "outputs" / "model.joblib")
        assert (job_dir / "outputs" / "model.joblib").is_file() and record["registered"] is None
    assert (sweep / "summary.csv").read_text().count(",completed,") == 3
    assert cloud.models == []


def test_a_remote_failure_is_listed_and_the_others_are_collected(cloud, compose_cfg, tmp_path, monkeypatch) -> None:
    cloud.scripts = [RunScript(timeline=["Running"]),
                     RunScript(status="Failed", timeline=["Running"], error="UserError: train.py exited with code 2"),
                     RunScript(), RunScript()]
    sweep = tmp_path / "sweep"
    job_dirs = submit_sweep(backend_for(cloud, tmp_path), compose_cfg, sweep, ["0.1", "0.2", "0.4", "0.8"],
                            "registration.policy=none")
    cloud.deleted.add(cloud.runs[3].id)
    assert finish(backend_for(cloud, tmp_path), compose_cfg, sweep, monkeypatch, "registration.policy=none") == 2
    statuses = [read_record(d)["status"] for d in job_dirs]
    assert statuses == ["completed", "failed", "completed", "failed"]
    failed = read_record(job_dirs[1])
    error = failed["error"]
    assert "ended with status Failed" in error and "train.py exited with code 2" in error
    assert "line 30" in error and "line 10\n" not in error and cloud.runs[1].get_portal_url() in error
    assert failed["remote_status"] == "Failed" and failed["run_id"] == cloud.runs[1].id
    assert (job_dirs[1] / "user_logs" / "std_log.txt").is_file() and not (job_dirs[1] / "outputs").exists()
    lost = read_record(job_dirs[3])["error"]
    assert f"Could not follow Azure ML run {cloud.runs[3].id}" in lost and "RunNotFound" in lost
    assert cloud.runs[3].get_portal_url() in lost
    summary_md = (sweep / "summary.md").read_text()
    assert summary_md.count("| failed |") == 2 and summary_md.count("| completed |") == 2


def test_best_policy_registers_only_the_best_run(cloud, compose_cfg, tmp_path, monkeypatch) -> None:
    cloud.scripts = [RunScript(metrics={"accuracy": 0.8}, timeline=["Running"]),
                     RunScript(metrics={"accuracy": 0.95}, timeline=["Running", "Running"]),
                     RunScript(metrics={"accuracy": 0.9})]
    sweep = tmp_path / "sweep"
    job_dirs = submit_sweep(backend_for(cloud, tmp_path), compose_cfg, sweep, ["0.1", "0.2", "0.4"],
                            "registration.policy=best")
    assert finish(backend_for(cloud, tmp_path), compose_cfg, sweep, monkeypatch, "registration.policy=best") == 0
    assert [name for run in cloud.runs for name, _ in run.calls if name == "register_model"] == ["register_model"]
    [(_, kwargs)] = [call for call in cloud.runs[1].calls if call[0] == "register_model"]
    assert kwargs["model_name"] == "sklearn_digits" and kwargs["model_path"] == "outputs/model.joblib"
    assert kwargs["model_framework"] == "ScikitLearn"
    assert kwargs["tags"] == {**TAGS, "data_sha256": "abc"}
    assert kwargs["properties"]["metric.accuracy"] == "0.95"
    assert read_record(job_dirs[1])["registered"]["location"] == "azureml:sklearn_digits:1"
    assert read_record(job_dirs[0])["registered"] is None and read_record(job_dirs[2])["registered"] is None


def test_register_reopens_the_run_by_id(cloud, compose_cfg, tmp_path, monkeypatch) -> None:
    """Registering from a record alone (no Run object in this process) finds the run by its id."""
    sweep = tmp_path / "sweep"
    [job_dir] = submit_sweep(backend_for(cloud, tmp_path), compose_cfg, sweep, ["0.1"], "registration.policy=none")
    finish(backend_for(cloud, tmp_path), compose_cfg, sweep, monkeypatch, "registration.policy=none")
    cloud.reopened.clear()
    fresh = backend_for(cloud, tmp_path)
    result = result_from_record(job_dir, read_record(job_dir))
    assert result.remote_run is None and result.run_id == cloud.runs[0].id
    plan = build_plan(validate(compose_cfg(*REMOTE)), run_dir=str(job_dir), cwd=str(tmp_path),
                      source_dir=str(TASKS_DIR), tags=TAGS)
    entry = fresh.register(plan, result, registration_request(plan, result))
    assert cloud.reopened == [cloud.runs[0].id] and entry.version == 1
    assert [name for name, _ in cloud.runs[0].calls].count("register_model") == 1


def test_each_policy_registers_every_completed_run_at_collection(cloud, compose_cfg, tmp_path, monkeypatch) -> None:
    cloud.scripts = [RunScript(timeline=["Running"]), RunScript(status="Canceled", timeline=["Running"]),
                     RunScript(metrics={"accuracy": 0.7})]
    sweep = tmp_path / "sweep"
    job_dirs = submit_sweep(backend_for(cloud, tmp_path), compose_cfg, sweep, ["0.1", "0.2", "0.4"],
                            "registration.policy=each")
    assert cloud.models == []  # nothing to register at submit time
    assert finish(backend_for(cloud, tmp_path), compose_cfg, sweep, monkeypatch, "registration.policy=each") == 1
    registered = [run.id for run in cloud.runs for name, _ in run.calls if name == "register_model"]
    assert registered == [cloud.runs[0].id, cloud.runs[2].id]
    versions = [(read_record(d)["registered"] or {}).get("version") for d in job_dirs]
    assert versions == [1, None, 2]
    assert "ended with status Canceled" in read_record(job_dirs[1])["error"]


def test_a_waited_run_keeps_its_id(cloud, compose_cfg, tmp_path) -> None:
    plan = build_plan(validate(compose_cfg(*REMOTE)), run_dir=str(tmp_path / "run"), cwd=str(tmp_path),
                      source_dir=str(TASKS_DIR), tags=TAGS)
    result = backend_for(cloud, tmp_path).run(plan)
    assert result.status == "completed" and result.run_id == cloud.runs[0].id


def test_progress_labels_show_what_differs(tmp_path) -> None:
    from runner.backends.azureml.tracking import job_labels

    labels = job_labels({tmp_path / "0": ["compute=cpu_cluster", "model.regularization=0.1", "hydra.x=1"],
                         tmp_path / "1": ["compute=cpu_cluster", "model.regularization=0.4"]})
    assert labels == {tmp_path / "0": "job 0 (model.regularization=0.1)",
                      tmp_path / "1": "job 1 (model.regularization=0.4)"}
    assert job_labels({tmp_path / "3": []}) == {tmp_path / "3": "job 3"}



def test_a_lost_sibling_run_is_not_counted_in_flight(cloud, compose_cfg, tmp_path, caplog) -> None:
    cloud.scripts = [RunScript(timeline=["Running"] * 9), RunScript(timeline=["Running"] * 9)]
    sweep = tmp_path / "sweep"
    submit_sweep(backend_for(cloud, tmp_path), compose_cfg, sweep, ["0.1", "0.2"], "sweep.max_concurrent=2")
    cloud.deleted.add(cloud.runs[0].id)
    with caplog.at_level(logging.WARNING):
        overrides = (*REMOTE, "model.regularization=0.4", "sweep.max_concurrent=2")
        run = app._for_sweep(validate(compose_cfg(*overrides)), sweeping=True)
        plan = build_plan(run, run_dir=str(sweep / "2"), cwd=str(tmp_path), source_dir=str(TASKS_DIR), tags=TAGS,
                          overrides=overrides, sweep_dir=str(sweep))
        backend_for(cloud, tmp_path).run(plan)
    assert cloud.ticks == 0 and len(cloud.submissions) == 3  # one run still in flight: no waiting
    [warning] = [m for m in caplog.messages if "not counted as in flight" in m]
    assert warning.startswith("job 0 (model.regularization=0.1)") and "RunNotFound" in warning


def test_sign_in_failing_at_the_end_fails_every_job_once(cloud, compose_cfg, tmp_path, monkeypatch) -> None:
    sweep = tmp_path / "sweep"
    job_dirs = submit_sweep(backend_for(cloud, tmp_path), compose_cfg, sweep, ["0.1", "0.2"], "registration.policy=none")
    connects = len(cloud.connects)
    cloud.connect_error = cloud.real.AuthenticationException("AADSTS7000215: Invalid client secret provided.")
    assert finish(backend_for(cloud, tmp_path), compose_cfg, sweep, monkeypatch, "registration.policy=none") == 2
    assert len(cloud.connects) == connects + 1  # not once per job
    for job_dir, run in zip(job_dirs, cloud.runs):
        record = read_record(job_dir)
        assert record["status"] == "failed" and "Invalid client secret" in record["error"]
        assert f"It may still be running: {run.get_portal_url()}" in record["error"]
