"""The end of a remote sweep: re-open every submitted run, wait for all together, collect each one.

Each job's ``result.json`` goes from ``submitted`` to ``completed`` (metrics, ``outputs/`` downloaded
into the job folder, registered now under ``registration.policy=each``) or ``failed`` (the remote
status, the driver log's tail and the portal URL). One job's problem never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.backends.azureml import collect, workspace
from runner.backends.azureml import register as register_module
from runner.backends.azureml._sdk import Sdk
from runner.backends.azureml.tracking import (
    UNREACHABLE,
    Poller,
    RunCache,
    job_labels,
    wait_all,
)
from runner.errors import RunnerError
from runner.plan import Plan
from runner.records import plan_from_record, read_record, result_fields, update_record
from runner.registration import registration_request
from runner.schema import SweepConfig

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One submitted job of the sweep, as found in its folder."""

    run_dir: Path
    record: dict[str, Any]
    label: str
    plan: Plan | None = None
    run: Any = None

    @property
    def url(self) -> str:
        """The run's portal page as recorded at submit (or the job folder)."""
        return str(self.record.get("url") or self.run_dir)


@dataclass(frozen=True)
class Context:
    """What the collection needs from the backend: the SDK, where to look for the workspace, how to poll."""

    load_sdk: Callable[[Plan], Sdk]
    cwd: Path
    environ: Mapping[str, str]
    cache: RunCache
    poller: Poller


def complete_submitted(job_dirs: list[Path], sweep: SweepConfig, ctx: Context) -> None:
    """Wait for the submitted runs of ``job_dirs`` together, then record (and maybe register) each one."""
    jobs = _load(job_dirs)
    followed = [job for job in jobs if job.plan is not None]
    workspaces: dict[str, Any] = {}
    sdk: Sdk | None = None
    for job in followed:
        plan = job.plan
        if plan is None:
            continue
        sdk = sdk or ctx.load_sdk(plan)
        try:
            ws = _workspace(sdk, plan, ctx, workspaces)
            job.run = ctx.cache.reopen(sdk, ws, str(job.record.get("run_id") or ""))
        except RunnerError as err:
            _fail(job, f"Could not follow Azure ML run {job.record.get('run_id')} "
                       f"(experiment {job.record.get('experiment')}): {err} It may still be running: {job.url}")
    followed = [job for job in followed if job.run is not None]
    if not followed or sdk is None:
        return
    try:
        statuses = wait_all(sdk, {str(job.record["run_id"]): job.label for job in followed}, ctx.cache, ctx.poller)
    except KeyboardInterrupt:
        log.warning("Stopped waiting; the runs go on in Azure ML and their records stay 'submitted'")
        raise
    for job in followed:
        _finish(sdk, job, statuses[str(job.record["run_id"])], sweep.metric)


def _load(job_dirs: list[Path]) -> list[Job]:
    """Each job's record and Plan; a job without a run id or a readable config is recorded failed."""
    records = {d: read_record(d) or {} for d in job_dirs}
    labels = job_labels({d: r.get("overrides") or [] for d, r in records.items()})
    jobs = [Job(d, records[d], labels[d]) for d in job_dirs]
    for job in jobs:
        if not job.record.get("run_id"):
            _fail(job, "The job was submitted but its record holds no run_id, so its run cannot be found again.")
            continue
        try:
            job.plan = plan_from_record(job.run_dir, job.record)
        except (RunnerError, OSError) as err:
            _fail(job, f"Could not read the job's saved config: {err} Its run: {job.url}")
    return jobs


def _workspace(sdk: Sdk, plan: Plan, ctx: Context, workspaces: dict[str, Any]) -> Any:
    """Sign in once per workspace config (normally once for the whole sweep); a failure is not retried."""
    key = repr(plan.azure)
    if key not in workspaces:
        try:
            source = workspace.preflight(plan.azure, ctx.cwd, ctx.environ)
            workspaces[key] = workspace.connect(sdk, plan.azure, source, ctx.environ)
        except RunnerError as err:
            workspaces[key] = err
    if isinstance(workspaces[key], RunnerError):
        raise workspaces[key]
    return workspaces[key]


def _finish(sdk: Sdk, job: Job, status: str, metric: str) -> None:
    """Record the ended run: completed (outputs, metrics, registration) or failed (status, log tail, URL)."""
    if status == UNREACHABLE:
        _fail(job, f"The status of Azure ML run {job.run.id} could not be read; it may still be running: {job.url}")
        return
    if status != collect.COMPLETED or job.plan is None:
        _fail(job, collect.failure_message(sdk, job.run, status, job.url, job.run_dir), remote_status=status)
        return
    try:
        result = collect.download_outputs(sdk, job.run, job.run_dir, job.url, _duration(sdk, job))
    except RunnerError as err:
        _fail(job, str(err), remote_status=status)
        return
    entry = None
    try:
        if job.plan.registration.policy == "each":
            request = registration_request(job.plan, result)
            entry = register_module.register_model(sdk, job.plan, result, request) if request else None
    except RunnerError as err:
        update_record(job.run_dir, {**result_fields(result, None), "status": "failed",
                                    "error": f"The run completed but its model was not registered: {err}"})
        log.error("%s: completed, but registration failed: %s", job.label, err)
        return
    update_record(job.run_dir, {**result_fields(result, entry), "remote_status": status})
    value = result.metrics.get(metric)
    log.info("%s: collected (%s %s)%s", job.label, metric, "n/a" if value is None else f"{value:.4f}",
             f"; registered {entry.name} version {entry.version}" if entry else "")


def _fail(job: Job, error: str, remote_status: str | None = None) -> None:
    """Record the job as failed with ``error`` (and the remote status, when known)."""
    log.error("%s: %s", job.label, error)
    update_record(job.run_dir, {"status": "failed", "error": error, "metrics": {}, "registered": None,
                                "remote_status": remote_status})


def _duration(sdk: Sdk, job: Job) -> float:
    """The run's own duration from its start and end times, else the duration recorded at submit."""
    try:
        details = job.run.get_details() or {}
        start, end = (datetime.fromisoformat(str(details[k])) for k in ("startTimeUtc", "endTimeUtc"))
        return max(0.0, (end - start).total_seconds())
    except (*sdk.errors, KeyError, ValueError, TypeError):
        return float(job.record.get("duration_seconds") or 0.0)
