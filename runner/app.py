"""The runner's main flow: validate → plan → (dry run | backend → registration → record → summary)."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from runner import config, provenance
from runner.backends.base import RegisteredModel, RunResult, get_backend
from runner.config import PROJECT_ROOT, TASKS_DIR
from runner.errors import JobSkipped, RunnerError
from runner.plan import Plan, build_plan
from runner.records import write_failure, write_result
from runner.registration import registration_request
from runner.report import describe_plan, summary_line
from runner.sweep_state import SweepState
from runner.validate import RunConfig, validate

# Registered at import, not only in run.py: joblib launcher workers unpickle main() from a fresh
# process and must resolve ${run_dir:...} and friends too.
config.setup()

log = logging.getLogger(__name__)
DATA_LOCATION_FIELDS = ("path", "cache_dir", "mode")


def main(cfg: DictConfig) -> float | None:
    """Run one job; a user error ends a single run with one message and a non-zero exit.

    In a multirun the error is recorded in the job's result.json instead and the sweep goes
    on; the sweep's summary lists it and the sweep exits non-zero at the end.
    """
    hydra_cfg = HydraConfig.get()
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    run_dir = Path(hydra_cfg.runtime.output_dir)
    dry_run = bool(OmegaConf.select(cfg, "dry_run", default=False))
    file_logs: list[logging.Handler] = []
    try:
        return run_job(cfg, file_logs, run_dir, sweeping)
    except RunnerError as err:
        log.error("%s", err)
        skipped = isinstance(err, JobSkipped)
        if not dry_run:
            write_failure(run_dir, "skipped" if skipped else "failed", str(err), list(hydra_cfg.overrides.task))
        if sweeping:
            if not skipped:
                SweepState(hydra_cfg.sweep.dir).job_failed()
            return None
        sys.exit(err.exit_code)
    except Exception as err:  # a bug in one job must not take the rest of a sweep down
        if not sweeping:
            raise
        log.exception("Job %s failed unexpectedly", run_dir)
        write_failure(run_dir, "failed", f"{type(err).__name__}: {err}", list(hydra_cfg.overrides.task))
        SweepState(hydra_cfg.sweep.dir).job_failed()
        return None
    finally:
        for handler in file_logs:
            logging.getLogger().removeHandler(handler)
            handler.close()


def run_job(cfg: DictConfig, file_logs: list[logging.Handler], run_dir: Path, sweeping: bool) -> float | None:
    """Validate, plan and run ``cfg``; return the primary metric (None for a dry run).

    A real run logs into ``<run>/run.log`` through a handler appended to ``file_logs``;
    the caller removes it when the job ends, so jobs of a sweep never share a log file.
    """
    run = validate(cfg)
    hydra_cfg = HydraConfig.get()
    overrides = tuple(hydra_cfg.overrides.task)
    if sweeping and SweepState(hydra_cfg.sweep.dir).should_skip(run.sweep.fail_fast):
        raise JobSkipped("Skipped: an earlier job of this sweep failed and sweep.fail_fast=true.")
    run = _for_sweep(_with_thread_limit(run, hydra_cfg, sweeping), sweeping)
    origin = provenance.collect(PROJECT_ROOT, _hashed_sections(run), overrides)
    plan = build_plan(run, run_dir=str(run_dir), cwd=os.getcwd(), source_dir=str(TASKS_DIR),
                      tags=origin.tags(), overrides=overrides,
                      sweep_dir=os.path.abspath(hydra_cfg.sweep.dir) if sweeping else None)
    backend = get_backend(plan.compute.kind)
    if plan.dry_run:
        header = f"Job {hydra_cfg.job.num}: {' '.join(overrides) or '(no overrides)'}\n" if sweeping else ""
        sys.stdout.write(header + describe_plan(plan, backend.describe(plan)))
        return None
    handler = _log_to_file(run_dir / "run.log")
    if handler is not None:
        file_logs.append(handler)
    provenance.write(origin, run_dir / "provenance.json")
    result = backend.run(plan)
    entry = _register(plan, result, backend, sweeping)
    write_result(run_dir, plan, result, entry)
    sys.stdout.write(summary_line(result, entry, run.sweep.metric))
    return result.metrics.get(run.sweep.metric)


def _register(plan: Plan, result: RunResult, backend: Any, sweeping: bool) -> RegisteredModel | None:
    """Register now unless the run is still remote or a sweep registers only its best job later."""
    if result.status != "completed":
        log.info("Not registering: the run is %s", result.status)
        return None
    if sweeping and plan.registration.policy == "best":
        log.info("Registration waits for the end of the sweep (registration.policy=best)")
        return None
    request = registration_request(plan, result)
    return backend.register(plan, result, request) if request is not None else None


def _for_sweep(run: RunConfig, sweeping: bool) -> RunConfig:
    """Remote jobs of a sweep only submit; the sweep's end waits for all of them together."""
    if not sweeping or not getattr(run.compute, "wait", False):
        return run
    return dataclasses.replace(run, compute=dataclasses.replace(run.compute, wait=False))


def _with_thread_limit(run: RunConfig, hydra_cfg: Any, sweeping: bool) -> RunConfig:
    """In a parallel (joblib) sweep, give each local job cores / n_jobs BLAS/OpenMP threads."""
    compute = run.compute
    if not sweeping or getattr(compute, "threads", 0) is not None:
        return run
    launcher = str(OmegaConf.select(hydra_cfg, "launcher._target_", default=""))
    n_jobs = OmegaConf.select(hydra_cfg, "launcher.n_jobs", default=None)
    if "joblib" not in launcher or n_jobs is None:
        return run
    threads = threads_per_job(os.cpu_count() or 1, int(n_jobs))
    return dataclasses.replace(run, compute=dataclasses.replace(compute, threads=threads))


def threads_per_job(cores: int, n_jobs: int) -> int:
    """Threads each of ``n_jobs`` parallel jobs may use on ``cores`` cores (-1 jobs = one per core)."""
    parallel = cores if n_jobs < 0 else max(1, n_jobs)
    return max(1, cores // parallel)


def _hashed_sections(run: RunConfig) -> dict[str, Any]:
    """What decides the trained model: the data source's identity, the model and the seed.

    Where the data sits on this machine (paths, caches) and how a remote run mounts it are left
    out, so the same experiment hashes alike on every machine; the data's content is recorded
    separately (the data fingerprint and the ``data_sha256`` tag).
    """
    dataset = {k: v for k, v in dataclasses.asdict(run.dataset).items() if k not in DATA_LOCATION_FIELDS}
    return {"dataset": dataset, "model": dataclasses.asdict(run.model), "seed": run.seed}


def _log_to_file(path: Path) -> logging.Handler | None:
    """Copy the runner's log lines into ``path``; returns the handler to remove later.

    None when a handler already writes there (Hydra's default job logging does, when a run is
    re-run from its saved ``.hydra/config.yaml``, which does not select our logging config).
    """
    for existing in logging.getLogger().handlers:
        if isinstance(existing, logging.FileHandler) and Path(existing.baseFilename) == path.resolve():
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler
