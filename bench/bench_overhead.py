"""Runner overhead: `python run.py` (compose, plan, subprocess task, registry) against a bare script.

    python bench/bench_overhead.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _timing import ROOT, alternate, report, wall


def main() -> None:
    """Time both commands interleaved and print the wall-clock ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runner = lambda i: wall([sys.executable, str(ROOT / "run.py"), f"hydra.run.dir={work}/run{i}",  # noqa: E731
                                 f"registration.registry_dir={work}/registry"], work)
        dry = lambda i: wall([sys.executable, str(ROOT / "run.py"), "dry_run=true"], work)  # noqa: E731
        bare = lambda i: wall([sys.executable, str(ROOT / "bench" / "bare_digits.py")], work)  # noqa: E731
        times = alternate({"bare script (same fit)": bare, "python run.py": runner,
                           "python run.py dry_run=true": dry}, args.repeats)
    report("Runner overhead on digits (logistic regression, C=2)", times, "bare script (same fit)")


if __name__ == "__main__":
    main()
