"""Register the schemas in Hydra's ConfigStore and the resolvers the YAML files use."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from runner import schema

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "conf"
TASKS_DIR = PROJECT_ROOT / "tasks"
PRIMARY_CONFIG = "run"


def package_version(name: str, fallback: str | None = None) -> str:
    """The installed version of a distribution, or ``fallback`` when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        if fallback is None:
            raise ValueError(
                f"package '{name}' is not installed, so its version cannot be pinned; "
                f"install it or write the version explicitly"
            ) from None
        return fallback


def register_resolvers() -> None:
    """Register ``project_root``, ``pkg_version``, ``run_dir`` and ``run_subdir`` for the YAML files."""
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT), replace=True)
    OmegaConf.register_new_resolver("pkg_version", package_version, replace=True)
    # A dry run writes nothing: no run folder, no .hydra/ record (see conf/run.yaml).
    OmegaConf.register_new_resolver("run_dir", lambda dry, path: "." if dry else path, replace=True)
    OmegaConf.register_new_resolver("run_subdir", lambda dry, sub: None if dry else sub, replace=True)
    # Hydra writes multirun.yaml into the sweep folder before any job runs; a dry sweep gets a
    # private temp folder instead, removed again by runner.sweep.SweepCallback.
    OmegaConf.register_new_resolver("sweep_dir", lambda dry, path: _dry_sweep_dir() if dry else path,
                                    use_cache=True, replace=True)


def _dry_sweep_dir() -> str:
    """A private temp folder for a dry sweep, removed at exit even when composing a job fails."""
    folder = tempfile.mkdtemp(prefix="aml-runner-dry-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def register_schemas() -> None:
    """Store every schema so YAML options can name it as ``/schema/<group>/<option>``."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=schema.RunnerConfig)
    groups = {
        "compute": schema.COMPUTE_SCHEMAS,
        "dataset": {"bundled": schema.BundledDatasetConfig,
                    **{name: node for name, node in schema.DATASET_SCHEMAS.items()
                       if node is not schema.BundledDatasetConfig}},
        "model": schema.MODEL_SCHEMAS,
    }
    for group, options in groups.items():
        for option, node in options.items():
            cs.store(group=f"schema/{group}", name=option, node=node)
    cs.store(group="schema/registration", name="registration", node=schema.RegistrationConfig)
    cs.store(group="schema/environment", name="environment", node=schema.EnvironmentConfig)


def setup() -> None:
    """Register resolvers and schemas; idempotent, call before composing."""
    register_resolvers()
    register_schemas()
