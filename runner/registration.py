"""Turn a finished run and the registration config into a registration request (or none)."""

from __future__ import annotations

import logging

from runner.backends.base import RunResult
from runner.errors import TaskError
from runner.plan import Plan
from runner.registry import RegistrationRequest

log = logging.getLogger(__name__)


def registration_request(plan: Plan, result: RunResult) -> RegistrationRequest | None:
    """What to register for ``result``, or None when ``registration.policy`` is ``none``."""
    reg = plan.registration
    if reg.policy == "none":
        log.info("Not registering the model (registration.policy=none)")
        return None
    if result.model_file is None:
        raise TaskError(f"The run in {result.run_dir} finished without a model file, so nothing was registered.")
    tags = dict(plan.tags)
    content_hash = result.data_fingerprint.get("content_sha256")
    if content_hash:
        tags["data_sha256"] = str(content_hash)
    resources = reg.resource_configuration
    return RegistrationRequest(
        model_name=reg.model_name,
        model_file=result.model_file,
        framework=reg.framework,
        framework_version=reg.framework_version,
        metrics=result.metrics,
        tags=tags,
        description=reg.description,
        resource_configuration=(
            {"cpu": resources.cpu, "memory_in_gb": resources.memory_in_gb} if resources else None
        ),
        source_run=str(result.run_dir),
        properties={"params": result.params, "data": result.data_fingerprint, "experiment": plan.experiment_name},
    )
