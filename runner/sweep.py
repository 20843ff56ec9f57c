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
from runner.records import RESULT_FILE, plan_from_record, result_from_record
from runner.registration import registration_request
from runner.validate import validate

log = logging.getLogger(__name__)


class SweepCallback(Callback):
    """Hydra callback (configured in conf/run.yaml): checks the output folder before Hydra creates it,
    and turns a sweep's folders into one answer at its end."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Fail with one message (not Hydra's traceback) when the run folder cannot be created."""
        _check_writable(str(config.hydra.run.dir), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Fail with one message when the sweep folder cannot be created."""
        _check_writable(str(config.hydra.sweep.dir), "hydra.sweep.dir")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Summarise the sweep; exit non-zero when any job failed."""
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if OmegaConf.select(config, "dry_run", default=False):
            shutil.rmtree(sweep_dir, ignore_errors=True)  # a private temp folder (see config.py)
            return
        try:
            failed = finish_sweep(config, sweep_dir)
        except RunnerError as err:
            log.error("%s", err)
            sys.exit(err.exit_code)
        if failed:
            log.error("%d of the sweep's jobs did not complete; see %s", failed, sweep_dir / "summary.md")
            sys.exit(1)


def _check_writable(folder: str, key: str) -> None:
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        log.error("%s: cannot create the folder %s (%s); choose a writable one, e.g. %s=runs/my-run.",
                  key, folder, err.strerror or err, key)
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
    if OmegaConf.select(config, "registration.policy", default="each") == "best":
        _register_best(rows, metric, goal)
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
    return sum(1 for r in rows if r.status != "completed")


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


def _register_best(rows: list[summary.JobRow], metric: str, goal: str) -> None:
    """Register only the best job's model (registration.policy=best) and note it in its record."""
    winner = summary.best(rows, metric, goal)
    if winner is None:
        log.warning("No job completed with %s: nothing registered", metric)
        return
    job_dir = winner.run_dir
    plan = plan_from_record(job_dir, winner.record)
    result = result_from_record(job_dir, winner.record)
    request = registration_request(plan, result)
    if request is None:
        return
    entry = get_backend(plan.compute.kind).register(plan, result, request)
    log.info("Best job %d (%s %.4f): registered %s version %d", winner.num, metric, winner.metrics[metric],
             entry.name, entry.version)
    write_json(job_dir / RESULT_FILE, {**winner.record, "registered": dataclasses.asdict(entry)})
