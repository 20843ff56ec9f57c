"""Shared fixtures: compose configs with Hydra's compose API (no process, no run folder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from runner import config

config.setup()


@pytest.fixture
def compose_cfg() -> Iterator[Callable[..., DictConfig]]:
    """Compose the primary config with overrides, as run.py would (job config only)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config.CONFIG_DIR), version_base="1.3"):
        yield lambda *overrides: compose(config_name=config.PRIMARY_CONFIG, overrides=list(overrides))
    GlobalHydra.instance().clear()


@pytest.fixture(autouse=True, scope="session")
def _matplotlib_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Child processes keep matplotlib's font cache in one session folder: built once, never in the home."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MPLCONFIGDIR", str(tmp_path_factory.mktemp("mplconfig")))
    yield
    patch.undo()
