"""The Azure ML (SDK v1) backend: submit the plan as a ScriptRunConfig to AmlCompute or 'local'.

Importing this package imports no azureml module: the SDK is loaded (telemetry off) on first use.
compute.kind ``amlcompute`` runs on a cluster (created on first use); ``local_tracked`` runs on this
machine and records the run in the workspace. With ``compute.wait=false`` :meth:`run` returns a
result with status ``submitted`` right after submitting: nothing is collected or registered.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from runner.backends.azureml import describe as describe_module
from runner.backends.azureml import register as register_module
from runner.backends.azureml import submit
from runner.backends.azureml._sdk import Sdk, load_sdk
from runner.backends.base import RegisteredModel, RunResult
from runner.plan import Plan
from runner.registry import RegistrationRequest

log = logging.getLogger(__name__)

__all__ = ["AzureMLBackend"]


class AzureMLBackend:
    """Runs a Plan as an Azure ML script run; ``sdk``, ``cwd`` and ``environ`` are injectable for tests."""

    name = "azureml"

    def __init__(self, sdk: Sdk | None = None, cwd: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        """Use ``sdk`` (default: azureml-core, loaded on first use), ``cwd`` and ``environ`` (default: ours)."""
        self._sdk = sdk
        self._cwd = cwd
        self._environ = environ

    def _context(self) -> tuple[Path, Mapping[str, str]]:
        return (self._cwd or Path(os.getcwd()), self._environ if self._environ is not None else os.environ)

    def _loaded_sdk(self, plan: Plan) -> Sdk:
        if self._sdk is None:
            self._sdk = load_sdk(plan.azure.telemetry)
        return self._sdk

    def describe(self, plan: Plan) -> str:
        """The dry-run text: workspace source, auth, compute, environment, data, snapshot, run configuration."""
        cwd, environ = self._context()
        return describe_module.describe(self._loaded_sdk(plan), plan, cwd, environ)

    def run(self, plan: Plan) -> RunResult:
        """Submit the plan; wait and collect outputs into ``<run_dir>/outputs`` unless ``compute.wait=false``."""
        cwd, environ = self._context()
        return submit.run_plan(plan, cwd, environ, self._sdk)

    def register(self, plan: Plan, result: RunResult, request: RegistrationRequest) -> RegisteredModel:
        """Register the run's model in the workspace's model registry."""
        return register_module.register_model(self._loaded_sdk(plan), plan, result, request)
