"""Shared fixtures: compose configs with Hydra's compose API (no process, no run folder)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture
def cloud() -> Any:
    """A fresh fake Azure ML cloud boundary (workspace, experiments, compute, runs, datastore)."""
    from fake_azure import FakeCloud

    return FakeCloud()


@pytest.fixture
def backend(cloud: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An AzureMLBackend on the fake cloud; cwd holds .azureml/config.json; temp folders go under tmp_path."""
    from fake_azure import SP_ENV, write_workspace_config

    from runner.backends.azureml import AzureMLBackend

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    write_workspace_config(tmp_path)
    return AzureMLBackend(sdk=cloud.sdk(), cwd=tmp_path, environ=dict(SP_ENV))
