"""Register a finished run's model in the workspace's model registry (``Run.register_model``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from runner.backends.azureml._sdk import Sdk, translate
from runner.backends.base import RegisteredModel, RunResult
from runner.errors import SubmissionError
from runner.plan import OUTPUTS, Plan
from runner.registry import RegistrationRequest, sha256_file

log = logging.getLogger(__name__)

FRAMEWORKS = {"ScikitLearn": "SCIKITLEARN", "Custom": "CUSTOM", "Onnx": "ONNX"}  # config value -> Model.Framework


def framework(sdk: Sdk, name: str) -> str:
    """The ``Model.Framework`` constant for ``registration.framework``."""
    return str(getattr(sdk.Model.Framework, FRAMEWORKS[name]))


def properties(plan: Plan, request: RegistrationRequest) -> dict[str, str]:
    """Model properties, all strings: each metric, the config hash and the request's own properties."""
    props = {f"metric.{key}": repr(float(value)) for key, value in request.metrics.items()}
    props["config_hash"] = str(plan.tags.get("config_hash", ""))
    for key, value in request.properties.items():
        props[str(key)] = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return props


def register_arguments(sdk: Sdk, plan: Plan, request: RegistrationRequest) -> dict[str, Any]:
    """The keyword arguments of ``Run.register_model`` for ``request``."""
    resources = request.resource_configuration
    return {
        "model_name": request.model_name,
        "model_path": f"{OUTPUTS}/{Path(request.model_file).name}",
        "tags": {str(k): str(v) for k, v in request.tags.items()},
        "properties": properties(plan, request),
        "model_framework": framework(sdk, request.framework),
        "model_framework_version": request.framework_version,
        "description": request.description or f"{plan.experiment_name}: {plan.script} {' '.join(plan.argv)}",
        "resource_configuration": (
            sdk.ResourceConfiguration(cpu=resources["cpu"], memory_in_gb=resources["memory_in_gb"])
            if resources else None
        ),
    }


def register_model(sdk: Sdk, plan: Plan, result: RunResult, request: RegistrationRequest) -> RegisteredModel:
    """Register the run's ``outputs/<model file>``; SubmissionError when the SDK refuses."""
    run = result.remote_run
    if run is None:
        raise SubmissionError(f"The result in {result.run_dir} has no Azure ML run to register a model from.")
    arguments = register_arguments(sdk, plan, request)
    log.info("Registering %s from run %s as model %s", arguments["model_path"], getattr(run, "id", "?"),
             request.model_name)
    hint = "Check registration.model_name and that the run's outputs/ holds the model file."
    with translate(sdk, f"Registering model '{request.model_name}'", hint):
        model = run.register_model(**arguments)
    version = int(model.version)
    location = f"azureml:{model.name}:{version}"
    log.info("Registered model %s version %d (%s)", model.name, version, location)
    return RegisteredModel(name=str(model.name), version=version, location=location,
                           sha256=_sha256(Path(request.model_file)))


def _sha256(path: Path) -> str | None:
    """The local copy's sha256 (the file the run uploaded), or None when it was not downloaded."""
    return sha256_file(path) if path.is_file() else None
