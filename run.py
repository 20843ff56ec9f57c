"""The single entry point: `python run.py [group=option ...] [key=value ...] [-m]`. See README.md."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from runner import config
from runner.app import main as run_main

config.setup()


@hydra.main(version_base="1.3", config_path="conf", config_name=config.PRIMARY_CONFIG)
def main(cfg: DictConfig) -> float | None:
    """Compose → validate → plan → run → register; returns the primary metric for sweepers."""
    return run_main(cfg)


if __name__ == "__main__":
    main()
