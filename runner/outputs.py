"""Read what the task wrote into ``outputs/``: metrics.json, the model file, data_fingerprint.json."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import TaskError

log = logging.getLogger(__name__)
OUTPUTS = "outputs"  # the folder Azure ML uploads after a run; the task writes there


@dataclass(frozen=True)
class TaskOutputs:
    """The task's record of one run, as read back from its outputs folder."""

    metrics: dict[str, float]
    params: dict[str, Any]
    model_file: Path | None
    fingerprint: dict[str, Any]


def read_outputs(outputs: Path, context: str) -> TaskOutputs:
    """Read ``outputs/``; TaskError (prefixed by ``context``) when metrics.json is missing or unreadable."""
    metrics_path = outputs / "metrics.json"
    try:
        record: dict[str, Any] = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise TaskError(f"{context}, but {metrics_path} is missing or unreadable ({err}).") from None
    model_file = outputs / str(record.get("model_file", "model.joblib"))
    return TaskOutputs(
        metrics=numeric(record),
        params=dict(record.get("params", {})),
        model_file=model_file if model_file.exists() else None,
        fingerprint=read_fingerprint(outputs),
    )


def read_fingerprint(outputs: Path) -> dict[str, Any]:
    """The data fingerprint the task wrote, or {} (with a warning when the file is damaged)."""
    path = outputs / "data_fingerprint.json"
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as err:
        log.warning("Ignoring the unreadable data fingerprint %s (%s)", path, err)
        return {}


def numeric(values: dict[str, Any]) -> dict[str, float]:
    """The entries of ``values`` that are numbers (booleans excluded), as floats."""
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
