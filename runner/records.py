"""``<run>/result.json``: what each job ended with, written for every real run (sweep jobs included)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from runner.backends.base import RegisteredModel, RunResult
from runner.config import TASKS_DIR
from runner.jsonio import write_json
from runner.outputs import OUTPUTS, read_fingerprint
from runner.plan import Plan, build_plan
from runner.validate import validate

RESULT_FILE = "result.json"


def write_result(run_dir: Path, plan: Plan, result: RunResult, entry: RegisteredModel | None) -> None:
    """Record a finished (or submitted) job next to its outputs."""
    write_json(run_dir / RESULT_FILE, {
        "backend": result.backend,
        "experiment": plan.experiment_name,
        "overrides": list(plan.overrides),
        "tags": dict(plan.tags),
        **result_fields(result, entry),
    })


def result_fields(result: RunResult, entry: RegisteredModel | None) -> dict[str, Any]:
    """The part of a record that comes from the run's result (and its registration)."""
    return {
        "status": result.status,
        "metrics": result.metrics,
        "params": result.params,
        "duration_seconds": round(result.duration_seconds, 3),
        "model_file": str(result.model_file) if result.model_file else None,
        "url": result.url,
        "run_id": result.run_id,
        "registered": dataclasses.asdict(entry) if entry else None,
        "error": None,
    }


def update_record(run_dir: Path, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``changes`` into the job's result.json, e.g. a submitted job once its remote run ended."""
    record = {**(read_record(run_dir) or {}), **changes}
    write_json(run_dir / RESULT_FILE, record)
    return record


def plan_from_record(run_dir: Path, record: Mapping[str, Any]) -> Plan:
    """Rebuild a sweep job's Plan from its saved ``.hydra/config.yaml`` and its record's tags and overrides."""
    run = validate(OmegaConf.load(run_dir / ".hydra" / "config.yaml"))
    return build_plan(run, run_dir=str(run_dir), cwd=os.getcwd(), source_dir=str(TASKS_DIR),
                      tags=record.get("tags") or {}, overrides=tuple(record.get("overrides") or ()))


def write_failure(run_dir: Path, status: str, error: str, overrides: list[str]) -> None:
    """Record a job that failed (or was skipped) so a sweep's summary can list it with its error.

    A finished run's record is never replaced: reusing its folder fails, but the earlier result stays.
    """
    earlier = read_record(run_dir)
    if earlier is not None and earlier.get("status") == "completed":
        return
    write_json(run_dir / RESULT_FILE, {
        "status": status, "overrides": overrides, "metrics": {}, "error": error, "registered": None,
    })


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """The job's result.json as a dict, or None when the job wrote none (it crashed or never ran)."""
    path = run_dir / RESULT_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as err:
        return {"status": "failed", "metrics": {}, "error": f"unreadable {path}: {err}"}


def result_from_record(run_dir: Path, record: dict[str, Any]) -> RunResult:
    """Rebuild a RunResult from a job's record, e.g. to register a sweep's best job afterwards."""
    fingerprint = read_fingerprint(run_dir / OUTPUTS)
    model_file = record.get("model_file")
    return RunResult(
        backend=str(record.get("backend", "local")),
        status=str(record["status"]),
        run_dir=run_dir,
        metrics=dict(record.get("metrics") or {}),
        params=dict(record.get("params") or {}),
        model_file=Path(model_file) if model_file else None,
        data_fingerprint=fingerprint,
        duration_seconds=float(record.get("duration_seconds") or 0.0),
        url=record.get("url"),
        run_id=record.get("run_id"),
    )
