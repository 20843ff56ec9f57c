"""The end of a multirun: wait for remote jobs, write the results table, register the best model."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from runner import summary
from runner.backends.base import get_backend
from runner.errors import RunnerError
from runner.jsonio import write_json
from runner.outputs import OUTPUTS
from runner.records import (
    RESULT_FILE,
    plan_from_record,
    read_record,
    result_from_record,
)
from runner.registration import registration_request
from runner.sweep_state import FAILED_MARKER
from runner.validate import validate

log = logging.getLogger(__name__)


class SweepCallback(Callback):
    """Hydra callback (configured in conf/run.yaml): checks the output folder before Hydra creates it,
    and turns a sweep's folders into one answer at its end."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Before Hydra writes into the run folder: it must be creatable and not hold a finished run."""
        run_dir = Path(str(config.hydra.run.dir))
        _check_writable(run_dir, "hydra.run.dir")
        earlier = read_record(run_dir) or {}
        if earlier.get("status") in ("completed", "submitted") or (run_dir / OUTPUTS / "metrics.json").exists():
            _refuse(f"The run folder {run_dir} already holds a run; it is kept as it is. Choose a new folder "
                    "with hydra.run.dir=<path> (or leave it unset for a fresh timestamped one).")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Before any job: the sweep folder must be creatable and hold no earlier sweep's jobs."""
        sweep_dir = Path(str(config.hydra.sweep.dir))
        _check_writable(sweep_dir, "hydra.sweep.dir")
        earlier = sorted(p.name for p in sweep_dir.iterdir() if p.name.isdigit() or p.name == FAILED_MARKER)
        if earlier:
            _refuse(f"The sweep folder {sweep_dir} already holds an earlier sweep ({', '.join(earlier[:5])}"
                    f"{' ...' if len(earlier) > 5 else ''}); it is kept as it is. Choose a new folder with "
                    "hydra.sweep.dir=<path> (or leave it unset for a fresh timestamped one).")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Summarise the sweep; exit non-zero when any job failed."""
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if OmegaConf.select(config, "dry_run", default=False):
            failed = (sweep_dir / FAILED_MARKER).exists()
            shutil.rmtree(sweep_dir, ignore_errors=True)  # a private temp folder (see config.py)
            if failed:
                log.error("A job of this dry-run sweep has an invalid config (see above)")
                sys.exit(1)
            return
        try:
            failed = finish_sweep(config, sweep_dir)
        except RunnerError as err:
            log.error("%s", err)
            sys.exit(err.exit_code)
        if failed:
            log.error("%d of the sweep's jobs did not complete; see %s", failed, sweep_dir / "summary.md")
            sys.exit(1)


def _check_writable(folder: Path, key: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        _refuse(f"{key}: cannot create the folder {folder} ({err.strerror or err}); choose a writable one, "
                f"e.g. {key}=runs/my-run.")


def _refuse(message: str) -> None:
    log.error("%s", message)
    sys.exit(2)


def finish_sweep(config: DictConfig, sweep_dir: Path) -> int:
    """Wait, summarise and register; return how many jobs did not complete."""
    metric = str(OmegaConf.select(config, "sweep.metric", default="accuracy"))
    goal = str(OmegaConf.select(config, "sweep.goal", default="maximize"))
    _complete_submitted(config, sweep_dir)
    rows = summary.collect_jobs(sweep_dir)
    if not rows:
        log.warning("The sweep in %s has no jobs to summarise", sweep_dir)
        return 0
    problems = _metric_problem(rows, metric)
    if OmegaConf.select(config, "registration.policy", default="each") == "best" and not problems:
        problems = _register_best(rows, metric, goal)
        rows = summary.collect_jobs(sweep_dir)
    header, cells = summary.table(rows, metric, goal)
    (sweep_dir / "summary.csv").write_text(summary.to_csv(header, cells), encoding="utf-8")
    markdown = summary.to_markdown(header, cells)
    (sweep_dir / "summary.md").write_text(markdown, encoding="utf-8")
    picture = summary.plot(rows, metric, sweep_dir / "summary.png")
    shown = summary.to_markdown(*summary.table(rows, metric, goal, compact=True))
    sys.stdout.write(f"\nSweep summary: {len(rows)} jobs, best {metric} first ({goal}); "
                     f"all metrics in {sweep_dir / 'summary.csv'}\n\n{shown}\n")
    log.info("Wrote %s and summary.md%s", sweep_dir / "summary.csv", f" and {picture.name}" if picture else "")
    if problems:
        raise RunnerError(problems)
    return sum(1 for r in rows if r.status != "completed")


def _metric_problem(rows: list[summary.JobRow], metric: str) -> str | None:
    """A message when completed jobs exist but none reports ``sweep.metric`` (a typo, most likely)."""
    done = [r for r in rows if r.status == "completed"]
    if not done or any(metric in r.metrics for r in done):
        return None
    known = sorted({m for r in done for m in r.metrics})
    return f"sweep.metric '{metric}' is not a metric the jobs report; they report: {', '.join(known)}."


def _complete_submitted(config: DictConfig, sweep_dir: Path) -> None:
    """Let the backend wait for jobs that were only submitted (remote sweeps), all together."""
    submitted = [r for r in summary.collect_jobs(sweep_dir) if r.status == "submitted"]
    by_kind: dict[str, list[Path]] = {}
    for row in submitted:
        kind = validate(OmegaConf.load(row.run_dir / ".hydra" / "config.yaml")).compute.kind
        by_kind.setdefault(kind, []).append(row.run_dir)
    for kind, job_dirs in by_kind.items():
        backend = get_backend(kind)
        complete = getattr(backend, "complete_submitted", None)
        if complete is None:
            raise RunnerError(f"{len(job_dirs)} jobs are still submitted and backend '{kind}' cannot wait for them.")
        log.info("Waiting for %d submitted %s jobs", len(job_dirs), kind)
        complete(job_dirs, validate(config).sweep)


def _register_best(rows: list[summary.JobRow], metric: str, goal: str) -> str | None:
    """Register only the best job's model (registration.policy=best) and note it in its record.

    Returns the registration's error message (also kept in the winner's record), or None.
    """
    winner = summary.best(rows, metric, goal)
    if winner is None:
        log.warning("No job completed with %s: nothing registered", metric)
        return None
    job_dir = winner.run_dir
    try:
        plan = plan_from_record(job_dir, winner.record)
        result = result_from_record(job_dir, winner.record)
        request = registration_request(plan, result)
        if request is None:
            return None
        entry = get_backend(plan.compute.kind).register(plan, result, request)
    except RunnerError as err:
        message = f"Registering the best job {winner.num} failed: {err}"
        write_json(job_dir / RESULT_FILE, {**winner.record, "registration_error": str(err)})
        return message
    log.info("Best job %d (%s %.4f): registered %s version %d", winner.num, metric, winner.metrics[metric],
             entry.name, entry.version)
    write_json(job_dir / RESULT_FILE, {**winner.record, "registered": dataclasses.asdict(entry)})
    return None
