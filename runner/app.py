"""The runner's main flow: validate → plan → (dry run | backend → registration → summary)."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from runner import provenance
from runner.backends.base import RegisteredModel, RunResult, get_backend
from runner.config import PROJECT_ROOT
from runner.errors import RunnerError
from runner.jsonio import write_json
from runner.plan import Plan, build_plan
from runner.registration import registration_request
from runner.report import PRIMARY_METRIC, describe_plan, summary_line
from runner.validate import RunConfig, validate

log = logging.getLogger(__name__)
TASKS_DIR = PROJECT_ROOT / "tasks"


def main(cfg: DictConfig) -> float | None:
    """Run one job from a composed config; user errors end in one message and a non-zero exit."""
    file_logs: list[logging.Handler] = []
    try:
        return run_job(cfg, file_logs)
    except RunnerError as err:
        log.error("%s", err)
        sys.exit(err.exit_code)
    finally:
        for handler in file_logs:
            logging.getLogger().removeHandler(handler)
            handler.close()


def run_job(cfg: DictConfig, file_logs: list[logging.Handler]) -> float | None:
    """Validate, plan and run ``cfg``; return the primary metric (None for a dry run).

    A real run logs into ``<run>/run.log`` through a handler appended to ``file_logs``;
    the caller removes it when the job ends, so jobs of a sweep never share a log file.
    """
    run = validate(cfg)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    overrides = tuple(HydraConfig.get().overrides.task)
    origin = provenance.collect(PROJECT_ROOT, _hashed_sections(run), overrides)
    plan = build_plan(run, run_dir=str(run_dir), cwd=os.getcwd(), source_dir=str(TASKS_DIR),
                      tags=origin.tags(), overrides=overrides)
    backend = get_backend(plan.compute.kind)
    if plan.dry_run:
        sys.stdout.write(describe_plan(plan, backend.describe(plan)))
        return None
    file_logs.append(_log_to_file(run_dir / "run.log"))
    provenance.write(origin, run_dir / "provenance.json")
    result = backend.run(plan)
    request = registration_request(plan, result)
    entry = backend.register(plan, result, request) if request is not None else None
    _write_result(run_dir / "result.json", plan, result, entry)
    sys.stdout.write(summary_line(result, entry))
    return result.metrics.get(PRIMARY_METRIC)


def _hashed_sections(run: RunConfig) -> dict[str, Any]:
    """The parts of the config that decide the trained model: data, model and seed."""
    return {"dataset": dataclasses.asdict(run.dataset), "model": dataclasses.asdict(run.model), "seed": run.seed}


def _log_to_file(path: Path) -> logging.Handler:
    """Copy the runner's log lines into ``path``; returns the handler to remove later."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def _write_result(path: Path, plan: Plan, result: RunResult, entry: RegisteredModel | None) -> None:
    """Record the outcome of the run next to its outputs."""
    record = {
        "status": result.status,
        "backend": result.backend,
        "experiment": plan.experiment_name,
        "metrics": result.metrics,
        "params": result.params,
        "duration_seconds": round(result.duration_seconds, 3),
        "url": result.url,
        "registered": None if entry is None else dataclasses.asdict(entry),
    }
    write_json(path, record)
