"""Shared helpers for the benchmarks: time whole commands side by side, report medians and ratios."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(command: list[str], cwd: Path) -> float:
    """Seconds one command takes to finish (it must succeed)."""
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def alternate(commands: dict[str, callable], repeats: int) -> dict[str, list[float]]:
    """Run each named timing function ``repeats`` times, interleaved, so drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(repeats):
        for name, fn in commands.items():
            times[name].append(fn(i))
    return times


def report(title: str, times: dict[str, list[float]], baseline: str) -> None:
    """Print medians and the ratio of each command to ``baseline``."""
    print(f"\n{title}  (python {sys.version.split()[0]}, {len(next(iter(times.values())))} repeats)")
    base = statistics.median(times[baseline])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<34} median {median:7.3f} s   min {min(values):7.3f} s   ratio to {baseline}: "
              f"{median / base:5.2f}")
