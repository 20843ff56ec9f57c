"""Follow many Azure ML runs at once: re-open them by id, poll their statuses, cap a sweep's runs in flight.

A sweep's jobs submit from one process (basic launcher) or from parallel workers (joblib launcher),
so the runs in flight are read from the sweep folder's job records (status ``submitted`` with a
``run_id``); each process keeps the Run objects it already holds in a :class:`RunCache`, so a run is
re-opened (``Workspace.get_run``) at most once per process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.backends.azureml._sdk import Sdk, short_message, translate
from runner.errors import SubmissionError
from runner.plan import Plan
from runner.records import read_record

log = logging.getLogger(__name__)

TERMINAL = ("Completed", "Failed", "Canceled")  # azureml.core.run.RunStatus: nothing follows these
UNREACHABLE = "Unreachable"  # ours: the status could not be read STATUS_ERROR_LIMIT times in a row
ENDED = (*TERMINAL, UNREACHABLE)
POLL_SECONDS = 10.0
STATUS_ERROR_LIMIT = 5
SUBMITTED = "submitted"


@dataclass(frozen=True)
class Poller:
    """How often statuses are read and how to wait in between (injectable, so tests never sleep)."""

    interval: float = POLL_SECONDS
    sleep: Callable[[float], None] = time.sleep

    def pause(self) -> None:
        """Wait one polling interval."""
        self.sleep(self.interval)


class RunCache:
    """The Run objects this process holds, by run id, with the status last seen of each."""

    def __init__(self) -> None:
        """Start empty."""
        self.runs: dict[str, Any] = {}
        self.statuses: dict[str, str] = {}
        self.read_errors: dict[str, int] = {}
        self.lost: set[str] = set()  # ids that could not be re-opened (warned about once)

    def add(self, run: Any) -> None:
        """Keep a run this process submitted."""
        self.runs[str(run.id)] = run

    def reopen(self, sdk: Sdk, ws: Any, run_id: str) -> Any:
        """The run with ``run_id``: the cached object, else ``ws.get_run(run_id)`` (SubmissionError if that fails)."""
        if run_id not in self.runs:
            hint = "Check that the run still exists in the workspace."
            with translate(sdk, f"Re-opening Azure ML run {run_id}", hint):
                self.runs[run_id] = ws.get_run(run_id)
        return self.runs[run_id]

    def poll(self, sdk: Sdk, labels: Mapping[str, str]) -> dict[str, str]:
        """Read once the status of each run in ``labels`` (run id → label); log one line per change."""
        return {run_id: self._status(sdk, run_id, label) for run_id, label in labels.items()}

    def _status(self, sdk: Sdk, run_id: str, label: str) -> str:
        before = self.statuses.get(run_id)
        if before in ENDED:
            return before
        try:
            status = str(self.runs[run_id].get_status())
            self.read_errors.pop(run_id, None)
        except sdk.errors as err:
            errors = self.read_errors[run_id] = self.read_errors.get(run_id, 0) + 1
            log.warning("%s: could not read the run's status (%d/%d): %s", label, errors, STATUS_ERROR_LIMIT,
                        short_message(err))
            status = UNREACHABLE if errors >= STATUS_ERROR_LIMIT else (before or "Unknown")
        if status != before:
            log.info("%s: %s", label, f"{before} \u2192 {status}" if before else status)
            self.statuses[run_id] = status
        return status


SHARED_CACHE = RunCache()  # one per process: every job of a basic-launcher sweep shares it


def job_labels(overrides: Mapping[Path, Sequence[str]]) -> dict[Path, str]:
    """'job 3 (model.regularization=0.4)': the job number and the overrides that differ between the jobs."""
    parsed = {job: dict(o.partition("=")[::2] for o in items if not o.startswith(("hydra.", "hydra/")))
              for job, items in overrides.items()}
    keys = sorted({k for p in parsed.values() for k in p})
    if len(parsed) > 1:
        keys = [k for k in keys if len({p.get(k) for p in parsed.values()}) > 1]
    labels = {}
    for job, values in parsed.items():
        shown = " ".join(f"{k}={values[k]}" for k in keys if k in values)
        labels[job] = f"job {job.name} ({shown})" if shown else f"job {job.name}"
    return labels


def wait_all(sdk: Sdk, labels: Mapping[str, str], cache: RunCache, poller: Poller) -> dict[str, str]:
    """Poll every run (run id → label) until all have ended; return each one's final status."""
    log.info("Waiting for %d Azure ML runs together (one line per status change, every %gs)",
             len(labels), poller.interval)
    while True:
        statuses = cache.poll(sdk, labels)
        if all(status in ENDED for status in statuses.values()):
            return statuses
        poller.pause()


def wait_for_slot(sdk: Sdk, ws: Any, plan: Plan, cache: RunCache, poller: Poller) -> None:
    """Before a sweep job submits: wait while ``sweep.max_concurrent`` runs of its sweep are in flight."""
    if plan.sweep_dir is None or plan.max_concurrent is None:
        return
    announced = False
    while True:
        candidates = sweep_runs(plan, cache)
        if len(candidates) < plan.max_concurrent:  # no need to ask the service
            return
        labels = _reopened(sdk, ws, candidates, cache)
        in_flight = [i for i, status in cache.poll(sdk, labels).items() if status not in ENDED]
        if len(in_flight) < plan.max_concurrent:
            return
        if not announced:
            log.info("%d runs of this sweep are in flight (sweep.max_concurrent=%d): waiting for one to end "
                     "before submitting", len(in_flight), plan.max_concurrent)
            announced = True
        poller.pause()


def sweep_runs(plan: Plan, cache: RunCache) -> dict[str, str]:
    """Run id → label of the plan's sibling jobs recorded as submitted whose run may not have ended yet."""
    sweep_dir, own_dir = Path(str(plan.sweep_dir)), Path(plan.run_dir).resolve()
    records = {}
    job_dirs = sweep_dir.iterdir() if sweep_dir.is_dir() else iter(())
    for job_dir in (p for p in job_dirs if p.is_dir() and p.name.isdigit() and p.resolve() != own_dir):
        record = read_record(job_dir)
        if record is not None:
            records[job_dir] = record
    labels = job_labels({**{job: r.get("overrides") or [] for job, r in records.items()}, own_dir: plan.overrides})
    found = {}
    for job_dir, record in records.items():
        run_id = str(record.get("run_id") or "")
        if (record.get("status") == SUBMITTED and run_id and run_id not in cache.lost
                and cache.statuses.get(run_id) not in ENDED):
            found[run_id] = labels[job_dir]
    return found


def _reopened(sdk: Sdk, ws: Any, labels: Mapping[str, str], cache: RunCache) -> dict[str, str]:
    """The runs of ``labels`` that could be re-opened; a lost one is warned about once and not counted."""
    found = {}
    for run_id, label in labels.items():
        try:
            cache.reopen(sdk, ws, run_id)
        except SubmissionError as err:  # one lost run must not block the sweep
            cache.lost.add(run_id)
            log.warning("%s: not counted as in flight (%s)", label, err)
            continue
        found[run_id] = label
    return found
