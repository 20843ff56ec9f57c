"""Measure the parsed-data cache on an MNIST-size idx folder: first parse vs cached reload.

    python bench/bench_data_cache.py [--folder DIR] [--rounds 3] [--no-task]

Generates 60,000 + 10,000 28x28 uint8 images with labels (the MNIST layout, gzipped) unless
``--folder`` already holds them (it is then reused), and measures side by side in one run:

* in-process, ``rounds`` times each (median shown): loading with no cache (``off``), the first
  load into an empty cache (``miss``: hash + parse + write the entry) and the cached reload
  (``hit``: hash + map + verify);
* end to end, unless ``--no-task``: ``tasks/train.py`` run twice with the same ``--cache-dir``
  (a one-tree forest, so fitting stays short), and the ``load_seconds`` of both runs'
  ``metrics.json``.

This measures; it asserts nothing (tests never depend on timing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tasks"), str(ROOT / "tests")]

import data_sources  # noqa: E402
from idx_factory import write_idx_folder  # noqa: E402

N_TRAIN, N_TEST, SIDE = 60_000, 10_000, 28


def ensure_folder(folder: Path) -> Path:
    """Generate the MNIST-size folder unless it already holds the four files."""
    try:
        data_sources.find_idx_files(folder)
        print(f"reusing {folder}")
    except data_sources.DataSourceError:
        started = time.perf_counter()
        write_idx_folder(folder, n_train=N_TRAIN, n_test=N_TEST, rows=SIDE, cols=SIDE, nested="mnist")
        print(f"generated {N_TRAIN:,} + {N_TEST:,} {SIDE}x{SIDE} images in {folder} "
              f"({time.perf_counter() - started:.1f} s)")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"source files: {size / 1e6:.1f} MB gzipped")
    return folder


def timed_load(folder: Path, cache_dir: Path | None) -> tuple[float, str]:
    """Seconds to load the split, and the cache status."""
    started = time.perf_counter()
    split = data_sources.load(data_sources.DataSpec("idx_folder", data_folder=folder, cache_dir=cache_dir))
    return time.perf_counter() - started, split.cache


def in_process(folder: Path, rounds: int, scratch: Path) -> None:
    """off / miss / hit, interleaved per round; print the medians and ratios."""
    seconds: dict[str, list[float]] = {"off": [], "miss": [], "hit": []}
    for i in range(rounds):
        cache = scratch / f"cache-{i}"
        off, _ = timed_load(folder, None)
        miss, first = timed_load(folder, cache)
        hit, second = timed_load(folder, cache)
        if (first, second) != ("miss", "hit"):
            sys.exit(f"expected a cache miss then a hit, got {first} then {second}")
        for name, value in (("off", off), ("miss", miss), ("hit", hit)):
            seconds[name].append(value)
        print(f"round {i + 1}: no cache {off:.3f} s | first parse (miss) {miss:.3f} s | cached reload (hit) {hit:.3f} s")
    med = {name: statistics.median(values) for name, values in seconds.items()}
    entry = next((scratch / "cache-0").glob("*.arrays"))
    print(f"cache entry: {entry.stat().st_size / 1e6:.1f} MB")
    print(f"median: no cache {med['off']:.3f} s, first parse {med['miss']:.3f} s, cached reload {med['hit']:.3f} s")
    print(f"speed-up: first parse / cached reload = {med['miss'] / med['hit']:.1f}x; "
          f"no cache / cached reload = {med['off'] / med['hit']:.1f}x")


def end_to_end(folder: Path, scratch: Path) -> None:
    """Run the task twice with one cache folder; print both runs' load_seconds and the ratio."""
    cache, loads = scratch / "task-cache", []
    for run in ("first", "second"):
        out = scratch / f"out-{run}"
        command = [sys.executable, str(ROOT / "tasks" / "train.py"), "--dataset", "idx_folder",
                   "--data-folder", str(folder), "--cache-dir", str(cache), "--model", "random_forest",
                   "--n-estimators", "1", "--max-depth", "2", "--output-dir", str(out)]
        subprocess.run(command, check=True, capture_output=True, text=True)
        metrics = json.loads((out / "metrics.json").read_text())
        loads.append(metrics["load_seconds"])
        print(f"train.py {run} run: load_seconds {metrics['load_seconds']:.3f} (data_cache {metrics['data_cache']})")
    print(f"train.py: first / second load_seconds = {loads[0] / loads[1]:.1f}x")


def main() -> None:
    """Parse the flags and run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="where the MNIST-size idx files are (or are generated)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-task", action="store_true", help="skip the end-to-end train.py runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-data-cache-") as tmp:
        scratch = Path(tmp)
        folder = ensure_folder(args.folder or scratch / "idx")
        in_process(folder, args.rounds, scratch)
        if not args.no_task:
            end_to_end(folder, scratch)


if __name__ == "__main__":
    main()
