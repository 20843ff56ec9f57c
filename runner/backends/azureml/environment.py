"""The remote Python environment: package lists (default), a conda or pip file, or a curated one."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from runner import schema
from runner.backends.azureml._sdk import Sdk, translate
from runner.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_INDEX_HOST = "pypi.python.org"  # pip's own default index: options naming it only slow builds down


def file_source(cfg: schema.EnvironmentConfig) -> tuple[str, str] | None:
    """(config key, path) of the conda or pip file the environment is built from, if any."""
    if cfg.conda_file:
        return "environment.conda_file", cfg.conda_file
    if cfg.pip_requirements_file:
        return "environment.pip_requirements_file", cfg.pip_requirements_file
    return None


def resolve_file(path: str, cwd: Path) -> Path:
    """An environment file path as the user meant it: ``~`` expanded, relative to ``cwd``."""
    given = Path(os.path.expanduser(path))
    return given if given.is_absolute() else cwd / given


def environment_problem(cfg: schema.EnvironmentConfig, cwd: Path) -> str | None:
    """Why the environment cannot be built (a missing file, named by its key), or None."""
    source = file_source(cfg)
    if source is None:
        return None
    key, path = source
    resolved = resolve_file(path, cwd)
    if resolved.is_file():
        return None
    return f"{key}={path}: {resolved} does not exist or is not a file; fix the path or unset {key}"


def conda_dependencies(sdk: Sdk, cfg: schema.EnvironmentConfig) -> Any:
    """``CondaDependencies.create`` from the package lists, without redundant default-index pip options."""
    deps = sdk.CondaDependencies.create(
        python_version=cfg.python_version, conda_packages=list(cfg.conda_packages),
        pip_packages=list(cfg.pip_packages),
    )
    for option in list(deps.pip_options):
        if DEFAULT_INDEX_HOST in option:
            deps.remove_pip_option(option)
    return deps


def build_environment(sdk: Sdk, cfg: schema.EnvironmentConfig, cwd: Path, workspace: Any | None) -> Any:
    """The SDK Environment for ``cfg``; a curated one needs the workspace. ConfigError for a missing file."""
    problem = environment_problem(cfg, cwd)
    if problem:
        raise ConfigError(problem)
    if cfg.curated:
        if workspace is None:
            raise ConfigError("environment.curated needs a workspace to fetch it from")
        with translate(sdk, f"Fetching environment '{cfg.curated}'",
                       "Check environment.curated (and environment.curated_version) against the workspace's "
                       "environments (Azure ML studio > Environments)."):
            return sdk.Environment.get(workspace, name=cfg.curated, version=cfg.curated_version)
    if cfg.conda_file:
        env = sdk.Environment.from_conda_specification(cfg.name, str(resolve_file(cfg.conda_file, cwd)))
    elif cfg.pip_requirements_file:
        env = sdk.Environment.from_pip_requirements(cfg.name, str(resolve_file(cfg.pip_requirements_file, cwd)))
        env.python.conda_dependencies.set_python_version(cfg.python_version)  # the SDK defaults to 3.8
    else:
        env = sdk.Environment(cfg.name)
        env.python.conda_dependencies = conda_dependencies(sdk, cfg)
    env.environment_variables = {}  # drop the SDK's EXAMPLE_ENV_VAR placeholder
    return env


def use_current_python(env: Any, compute: object) -> Any:
    """For ``compute=local_tracked`` with ``use_current_python``: run with this interpreter, no conda build."""
    if getattr(compute, "kind", None) == "local_tracked" and getattr(compute, "use_current_python", False):
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = sys.executable
    return env


def register_environment(sdk: Sdk, env: Any, cfg: schema.EnvironmentConfig, workspace: Any) -> Any:
    """Register the built environment in the workspace when ``environment.register`` is true."""
    if not cfg.register or cfg.curated:
        return env
    log.info("Registering environment %s in the workspace", cfg.name)
    with translate(sdk, f"Registering environment '{cfg.name}'",
                   "Set environment.register=false to use it without registering."):
        return env.register(workspace)


def describe_source(cfg: schema.EnvironmentConfig) -> str:
    """One line naming where the environment comes from."""
    register = " (registered in the workspace)" if cfg.register and not cfg.curated else ""
    if cfg.curated:
        version = cfg.curated_version or "latest"
        return f"curated/registered '{cfg.curated}' version {version}, fetched from the workspace at submit"
    source = file_source(cfg)
    if source is not None:
        return f"'{cfg.name}' from {source[0]}={source[1]}{register}"
    return f"'{cfg.name}' from the package lists (python {cfg.python_version}){register}"


def conda_yaml(sdk: Sdk, cfg: schema.EnvironmentConfig, cwd: Path) -> str | None:
    """The conda YAML the image is built from (None for curated environments or a missing file)."""
    if cfg.curated or environment_problem(cfg, cwd):
        return None
    env = build_environment(sdk, cfg, cwd, workspace=None)
    return str(env.python.conda_dependencies.serialize_to_string())
