"""An 8-job grid on this machine: Hydra's basic (sequential) launcher against the joblib launcher.

    python bench/bench_sweep.py [--repeats 3] [--n-jobs -1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from _timing import ROOT, alternate, report, wall

GRID = "model.regularization=0.05,0.1,0.2,0.3,0.4,0.5,0.7,0.9"


def main() -> None:
    """Time the same grid with both launchers, interleaved, and print the speed-up."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=-1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def sweep(tag: str, launcher: list[str]):
            return lambda i: wall([sys.executable, str(ROOT / "run.py"), "-m", GRID, *launcher,
                                   f"hydra.sweep.dir={work}/{tag}{i}", "registration.policy=none"], work)

        times = alternate({
            "basic launcher (sequential)": sweep("basic", []),
            f"joblib launcher (n_jobs={args.n_jobs})": sweep("joblib", ["hydra/launcher=joblib",
                                                                         f"hydra.launcher.n_jobs={args.n_jobs}"]),
        }, args.repeats)
    report(f"8-job grid on {os.cpu_count()} cores", times, "basic launcher (sequential)")
    seq, par = (sorted(v)[len(v) // 2] for v in times.values())
    print(f"  speed-up joblib vs sequential: {seq / par:.2f}x")


if __name__ == "__main__":
    main()
