"""After submit: wait for the run, then bring its outputs into ``<run_dir>/outputs`` as a local run leaves them."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from runner.backends.azureml._sdk import Sdk, short_message, translate
from runner.backends.base import RunResult
from runner.errors import TaskError
from runner.outputs import OUTPUTS, numeric, read_outputs
from runner.plan import Plan

log = logging.getLogger(__name__)

COMPLETED = "Completed"
SUBMITTED = "submitted"
TAIL_LINES = 20
# The driver log: user_logs/ on the current runtime, azureml-logs/ on the older one.
LOG_CANDIDATES = ("user_logs/std_log.txt", "azureml-logs/70_driver_log.txt")
LOG_MARKERS = ("std_log", "70_driver_log")


def portal_url(sdk: Sdk, run: Any) -> str:
    """The run's page in Azure ML studio."""
    with translate(sdk, "Reading the run's portal URL", "The run was submitted; find it in Azure ML studio."):
        return str(run.get_portal_url())


def submitted(plan: Plan, run: Any, url: str, started: float) -> RunResult:
    """The result of ``compute.wait=false``: submitted, nothing collected (the app then skips registration)."""
    log.info("Not waiting (compute.wait=false); follow the run at %s", url)
    return RunResult(backend="azureml", status=SUBMITTED, run_dir=Path(plan.run_dir), metrics={},
                     duration_seconds=time.monotonic() - started, url=url, run_id=run_id(run), remote_run=run)


def run_id(run: Any) -> str | None:
    """The run's id (kept in the job's record so the run can be found again)."""
    value = getattr(run, "id", None)
    return str(value) if value else None


def wait_and_collect(sdk: Sdk, run: Any, plan: Plan, url: str, started: float) -> RunResult:
    """Stream the driver log until the run ends; TaskError unless it Completed; then download outputs/."""
    run_dir = Path(plan.run_dir)
    try:
        with translate(sdk, "Waiting for the run", f"The run may still be going: {url}"):
            run.wait_for_completion(show_output=True, raise_on_error=False)
            status = str(run.get_status())
    except KeyboardInterrupt:
        log.warning("Stopped waiting; the run goes on in Azure ML (cancel it there): %s", url)
        raise
    if status != COMPLETED:
        raise TaskError(failure_message(sdk, run, status, url, run_dir))
    return download_outputs(sdk, run, run_dir, url, time.monotonic() - started)


def download_outputs(sdk: Sdk, run: Any, run_dir: Path, url: str, duration: float) -> RunResult:
    """Download a completed run's ``outputs/`` into ``run_dir`` and read its metrics (TaskError if missing)."""
    log.info("Run %s completed; downloading %s/ into %s", getattr(run, "id", "?"), OUTPUTS, run_dir)
    with translate(sdk, "Downloading the run's outputs", f"Find them in Azure ML studio: {url}"):
        remote_metrics = run.get_metrics()
        run_dir.mkdir(parents=True, exist_ok=True)
        run.download_files(prefix=OUTPUTS, output_directory=str(run_dir))
    return result_from_outputs(run_dir, remote_metrics, duration, url, run)


def result_from_outputs(run_dir: Path, remote_metrics: dict[str, Any], duration: float, url: str, run: Any) -> RunResult:
    """Build the RunResult from ``<run_dir>/outputs`` (metrics.json wins over metrics logged to the run)."""
    found = read_outputs(run_dir / OUTPUTS, f"The run completed (see {url})")
    metrics = {**numeric(remote_metrics), **found.metrics}
    return RunResult(
        backend="azureml", status="completed", run_dir=run_dir, metrics=metrics,
        params=found.params, model_file=found.model_file, data_fingerprint=found.fingerprint,
        duration_seconds=duration, url=url, run_id=run_id(run), remote_run=run,
    )


def failure_message(sdk: Sdk, run: Any, status: str, url: str, run_dir: Path) -> str:
    """Status, the service's error line, the driver log's tail and the portal URL of a failed run."""
    error = _error_line(sdk, run)
    name, tail = log_tail(sdk, run, run_dir)
    shown = "\n    ".join(tail) if tail else "(no driver log available)"
    where = f"Last lines of {name} (saved to {run_dir / name}):" if name else "Driver log:"
    reason = f" Error: {error}." if error else ""
    return (
        f"The Azure ML run {getattr(run, 'id', '?')} ended with status {status}.{reason} {where}\n    {shown}\n"
        f"Portal: {url}"
    )


def _error_line(sdk: Sdk, run: Any) -> str | None:
    """The service's error message for the run, if it gives one."""
    try:
        details = run.get_details()
    except sdk.errors as err:
        log.debug("No run details: %s", short_message(err))
        return None
    error = (details or {}).get("error") or {}
    inner = error.get("error", error) if isinstance(error, dict) else {}
    message = inner.get("message") if isinstance(inner, dict) else None
    return " ".join(str(message).split())[:400] if message else None


def log_tail(sdk: Sdk, run: Any, run_dir: Path) -> tuple[str | None, list[str]]:
    """Download the driver log into ``run_dir`` (keeping its name) and return its last lines."""
    try:
        names = [str(n) for n in run.get_file_names()]
        name = next((c for c in LOG_CANDIDATES if c in names), None)
        name = name or next((n for n in names if any(m in n for m in LOG_MARKERS)), None)
        if name is None:
            return None, []
        local = run_dir / name
        local.parent.mkdir(parents=True, exist_ok=True)
        run.download_file(name, output_file_path=str(local))
        lines = local.read_text(encoding="utf-8", errors="replace").splitlines()
    except sdk.errors as err:
        log.warning("Could not fetch the run's driver log: %s", short_message(err))
        return None, []
    return name, lines[-TAIL_LINES:]

