"""The Azure ML (SDK v1) backend: submit the plan as a ScriptRunConfig to AmlCompute or 'local'.

Importing this package imports no azureml module: the SDK is loaded (telemetry off) on first use.
compute.kind ``amlcompute`` runs on a cluster (created on first use); ``local_tracked`` runs on this
machine and records the run in the workspace. With ``compute.wait=false`` :meth:`run` returns a
result with status ``submitted`` (and the run's id) right after submitting: nothing is collected or
registered. A remote sweep's jobs submit that way (at most ``sweep.max_concurrent`` runs in flight)
and :meth:`complete_submitted` waits for all of them together at the end of the sweep.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.backends.azureml import describe as describe_module
from runner.backends.azureml import gather, submit, tracking, workspace
from runner.backends.azureml import register as register_module
from runner.backends.azureml._sdk import Sdk, load_sdk
from runner.backends.base import RegisteredModel, RunResult
from runner.plan import Plan
from runner.registry import RegistrationRequest
from runner.schema import SweepConfig

log = logging.getLogger(__name__)

__all__ = ["AzureMLBackend"]


class AzureMLBackend:
    """Runs a Plan as an Azure ML script run; the SDK, folder, environment and polling are injectable for tests."""

    name = "azureml"

    def __init__(self, sdk: Sdk | None = None, cwd: Path | None = None,
                 environ: Mapping[str, str] | None = None, poller: tracking.Poller | None = None,
                 cache: tracking.RunCache | None = None) -> None:
        """Use ``sdk`` (default: azureml-core, loaded on first use), ``cwd`` and ``environ`` (default: ours).

        ``poller`` says how often run statuses are read (default every 10 s); ``cache`` holds the Run
        objects of this process (default: one shared by every backend of the process).
        """
        self._sdk = sdk
        self._cwd = cwd
        self._environ = environ
        self._poller = poller or tracking.Poller()
        self._cache = cache if cache is not None else tracking.SHARED_CACHE

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
        return submit.run_plan(plan, cwd, environ, self._sdk, self._cache, self._poller)

    def register(self, plan: Plan, result: RunResult, request: RegistrationRequest) -> RegisteredModel:
        """Register the run's model in the workspace's model registry (re-opening the run by id if needed)."""
        if result.remote_run is None and result.run_id:
            result = dataclasses.replace(result, remote_run=self._reopen(plan, result.run_id))
        return register_module.register_model(self._loaded_sdk(plan), plan, result, request)

    def complete_submitted(self, job_dirs: list[Path], sweep: SweepConfig) -> None:
        """Wait for the submitted runs of a sweep's ``job_dirs`` together; record, collect and register each."""
        cwd, environ = self._context()
        context = gather.Context(self._loaded_sdk, cwd, environ, self._cache, self._poller)
        gather.complete_submitted(job_dirs, sweep, context)

    def _reopen(self, plan: Plan, run_id: str) -> Any:
        """The run ``run_id`` from this process's cache, else from the workspace (signing in first)."""
        if run_id in self._cache.runs:
            return self._cache.runs[run_id]
        cwd, environ = self._context()
        source = workspace.preflight(plan.azure, cwd, environ)
        sdk = self._loaded_sdk(plan)
        return self._cache.reopen(sdk, workspace.connect(sdk, plan.azure, source, environ), run_id)
