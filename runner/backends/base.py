"""The backend contract: ``describe(plan)`` for dry runs and ``run(plan) -> RunResult``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runner.errors import ConfigError
from runner.plan import Plan
from runner.registry import RegistrationRequest

# compute.kind → "module:class"; imported only when chosen, so the local path never imports azureml.
BACKENDS: dict[str, str] = {
    "local": "runner.backends.local:LocalBackend",
    "amlcompute": "runner.backends.azureml:AzureMLBackend",
    "local_tracked": "runner.backends.azureml:AzureMLBackend",
}


@dataclass(frozen=True)
class RunResult:
    """What a finished job produced: its metrics, model file and data fingerprint."""

    backend: str
    status: str  # completed | failed
    run_dir: Path
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)
    model_file: Path | None = None
    data_fingerprint: dict[str, Any] = field(default_factory=dict)
    duration_seconds: float = 0.0
    url: str | None = None
    run_id: str | None = None  # the remote run's id (Azure ML), so it can be found again later
    remote_run: Any = None  # the backend's own run handle (an azureml Run), for registration


@dataclass(frozen=True)
class RegisteredModel:
    """Where a model was registered: a local registry folder or an Azure ML model id."""

    name: str
    version: int
    location: str
    sha256: str | None = None


class Backend(Protocol):
    """Runs a Plan somewhere."""

    name: str

    def describe(self, plan: Plan) -> str:
        """Backend-specific lines for a dry run (what would be executed or sent)."""
        ...

    def run(self, plan: Plan) -> RunResult:
        """Run the plan to completion and return its result; raise a RunnerError on failure."""
        ...

    def register(self, plan: Plan, result: RunResult, request: RegistrationRequest) -> RegisteredModel:
        """Register the run's model where this backend keeps models."""
        ...


def get_backend(kind: str) -> Backend:
    """Import and build the backend for ``compute.kind``; ConfigError lists the known kinds."""
    target = BACKENDS.get(kind)
    if target is None:
        raise ConfigError(
            f"compute.kind '{kind}' has no backend in this version; available: {', '.join(sorted(BACKENDS))}. "
            "Use compute=local, or compute=<cluster> with dry_run=true to inspect the plan."
        )
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)()
