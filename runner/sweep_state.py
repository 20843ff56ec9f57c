"""State shared by the jobs of one sweep through its folder: the fail-fast marker."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
FAILED_MARKER = ".a_job_failed"


class SweepState:
    """Marks that a job of the sweep failed, so that later jobs can skip under ``sweep.fail_fast``."""

    def __init__(self, sweep_dir: str | Path) -> None:
        self.marker = Path(sweep_dir) / FAILED_MARKER

    def job_failed(self) -> None:
        """Leave the marker (jobs may run in parallel processes: creating a file is atomic enough)."""
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.touch(exist_ok=True)

    def should_skip(self, fail_fast: bool) -> bool:
        """True when ``fail_fast`` is on and an earlier job already failed."""
        return fail_fast and self.marker.exists()
