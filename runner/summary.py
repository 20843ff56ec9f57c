"""A sweep's results table: one row per job, best first, written as CSV and Markdown (+ a plot)."""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from runner.records import read_record

log = logging.getLogger(__name__)
FIXED_METRIC_ORDER = ("f1_macro", "fit_seconds", "load_seconds", "n_train", "n_test")


@dataclass(frozen=True)
class JobRow:
    """One job of a sweep as the summary shows it."""

    num: int
    run_dir: Path
    overrides: dict[str, str]
    status: str
    metrics: dict[str, float]
    duration_seconds: float | None
    location: str
    error: str | None
    record: dict[str, Any] = field(default_factory=dict, compare=False)


def collect_jobs(sweep_dir: Path) -> list[JobRow]:
    """Every job folder of the sweep (named by job number), with its result.json or a crash note."""
    rows = []
    for job_dir in sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()),
                          key=lambda p: int(p.name)):
        record = read_record(job_dir) or {
            "status": "failed", "error": "the job wrote no result.json (its process died?)", "metrics": {},
        }
        overrides = record.get("overrides") or _saved_overrides(job_dir)
        rows.append(JobRow(
            num=int(job_dir.name),
            run_dir=job_dir,
            overrides=_parse_overrides(overrides),
            status=str(record.get("status", "failed")),
            metrics={k: float(v) for k, v in (record.get("metrics") or {}).items() if v is not None},
            duration_seconds=record.get("duration_seconds"),
            location=str(record.get("url") or job_dir),
            error=record.get("error"),
            record=record,
        ))
    return rows


def rank(rows: list[JobRow], metric: str, goal: str) -> list[JobRow]:
    """Completed jobs with the metric, best first; then every other job in job order."""
    scored = [r for r in rows if r.status == "completed" and _finite(r.metrics.get(metric))]
    scored.sort(key=lambda r: r.metrics[metric], reverse=(goal == "maximize"))
    return scored + [r for r in rows if r not in scored]


def best(rows: list[JobRow], metric: str, goal: str) -> JobRow | None:
    """The best completed job, or None when no job completed with the metric."""
    ranked = rank(rows, metric, goal)
    return ranked[0] if ranked and ranked[0].status == "completed" and metric in ranked[0].metrics else None


def swept_keys(rows: list[JobRow]) -> list[str]:
    """Override keys whose value differs between jobs (all keys when there is one job)."""
    keys = sorted({k for r in rows for k in r.overrides})
    if len(rows) <= 1:
        return keys
    return [k for k in keys if len({r.overrides.get(k) for r in rows}) > 1]


def table(rows: list[JobRow], metric: str, goal: str, compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the summary, rows ranked best first (``compact``: no secondary metrics)."""
    params = swept_keys(rows)
    others = [] if compact else _other_metrics(rows, metric)
    header = ["rank", "job", *params, "status", metric, *others, "duration_s", "location", "error"]
    cells = []
    for i, row in enumerate(rank(rows, metric, goal), start=1):
        cells.append([
            str(i) if row.status == "completed" and _finite(row.metrics.get(metric)) else "-", str(row.num),
            *(row.overrides.get(k, "") for k in params),
            row.status, _fmt(row.metrics.get(metric)), *(_fmt(row.metrics.get(m)) for m in others),
            _fmt(row.duration_seconds), row.location, (row.error or "").replace("\n", " "),
        ])
    return header, cells


def to_csv(header: list[str], cells: list[list[str]]) -> str:
    """The table as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(cells)
    return out.getvalue()


def to_markdown(header: list[str], cells: list[list[str]]) -> str:
    """The table as a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def plot(rows: list[JobRow], metric: str, path: Path) -> Path | None:
    """Save the metric against each swept numeric parameter as a PNG; None without matplotlib."""
    numeric = [k for k in swept_keys(rows) if all(_number(r.overrides.get(k)) is not None for r in rows)]
    done = [r for r in rows if r.status == "completed" and _finite(r.metrics.get(metric))]
    if not numeric or not done:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib is not installed: no plot (pip install -e '.[plots]')")
        return None
    fig, axes = plt.subplots(1, len(numeric), figsize=(4.5 * len(numeric), 3.5), squeeze=False)
    for ax, key in zip(axes[0], numeric):
        points = sorted((_number(r.overrides[key]), r.metrics[metric]) for r in done)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _other_metrics(rows: list[JobRow], metric: str) -> list[str]:
    names = {k for r in rows for k in r.metrics} - {metric}
    fixed = [m for m in FIXED_METRIC_ORDER if m in names]
    return fixed + sorted(names - set(fixed))


def _saved_overrides(job_dir: Path) -> list[str]:
    path = job_dir / ".hydra" / "overrides.yaml"
    return [str(o) for o in OmegaConf.load(path)] if path.exists() else []


def _parse_overrides(overrides: list[str]) -> dict[str, str]:
    parsed = {}
    for item in overrides:
        key, _, value = item.partition("=")
        if key.startswith(("hydra.", "hydra/", "registration.registry_dir")):
            continue
        parsed[key.lstrip("+~")] = value
    return parsed


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) >= 1 else f"{value:.4g}"
