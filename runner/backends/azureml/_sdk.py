"""The only module that imports azureml: lazily, after turning the SDK's telemetry off.

Everything else in the backend receives an :class:`Sdk` (the classes and functions it uses) and
never imports azureml itself, so tests hand in an Sdk whose cloud-facing names (Workspace,
Experiment, ComputeTarget, upload_directory) are fakes while every other object stays real.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from runner.errors import SubmissionError

log = logging.getLogger(__name__)

TELEMETRY_ENV = "HBI_WORKSPACE_JOB"  # "true" keeps azureml-core from sending usage telemetry
DATASET_ARGUMENT_TEMPLATE = "DatasetConsumptionConfig:{}"  # what submit puts in argv for a data input
MESSAGE_LIMIT = 400
SECRET_ENV = "AZUREML_SERVICE_PRINCIPAL_PASSWORD"  # masked in every message, whatever raised it
# The SDK's and its HTTP stack's loggers: their warnings repeat our errors (a level set in
# hydra/job_logging wins).
QUIET_LOGGERS = ("azureml", "urllib3")


@dataclass(frozen=True)
class Sdk:
    """The azureml-core names the backend uses, gathered in one place so tests can swap the cloud ones."""

    version: str
    Workspace: Any
    Experiment: Any
    Environment: Any
    ScriptRunConfig: Any
    CondaDependencies: Any
    ComputeTarget: Any
    AmlCompute: Any
    Dataset: Any
    Model: Any
    ResourceConfiguration: Any
    InteractiveLoginAuthentication: Any
    ServicePrincipalAuthentication: Any
    MsiAuthentication: Any
    AzureCliAuthentication: Any
    ComputeTargetException: type[Exception]
    AuthenticationException: type[Exception]
    errors: tuple[type[BaseException], ...]  # what the SDK raises for workspace/auth/network problems
    get_run_config_from_script_run: Callable[[Any], Any]
    serialize: Callable[[Any], dict[str, Any]]  # RunConfiguration -> plain dict, as submit sends it
    upload_directory: Callable[..., Any]  # Dataset.File.upload_directory
    mnist_file_dataset: Callable[[], Any]  # Azure Open Datasets' MNIST FileDataset, built offline
    offline_inputs: Callable[[Any], None]  # a RunConfiguration's data inputs as submit sends them, offline


def quiet_telemetry(telemetry: bool) -> None:
    """Turn azureml's telemetry off (unless ``telemetry``) before the first azureml import."""
    if not telemetry:
        os.environ.setdefault(TELEMETRY_ENV, "true")


def load_sdk(telemetry: bool = False) -> Sdk:
    """Import azureml-core (telemetry off unless asked) and return its names; SubmissionError if missing."""
    quiet_telemetry(telemetry)
    try:
        from azureml import core
        from azureml.core import (
            Dataset,
            Environment,
            Experiment,
            Model,
            ScriptRunConfig,
            Workspace,
        )
        from azureml.core import authentication as auth
        from azureml.core._serialization_utils import _serialize_to_dict
        from azureml.core.compute import AmlCompute, ComputeTarget
        from azureml.core.conda_dependencies import CondaDependencies
        from azureml.core.resource_configuration import ResourceConfiguration
        from azureml.core.script_run_config import get_run_config_from_script_run
        from azureml.exceptions import (
            AuthenticationException,
            AzureMLException,
            ComputeTargetException,
        )
    except ImportError as err:
        raise SubmissionError(
            f"The Azure ML backend needs azureml-core, which cannot be imported ({err}). "
            "Install the project's azure extra: pip install -e '.[azure]'."
        ) from None
    _quiet_sdk_logging()
    return Sdk(
        version=str(core.VERSION),
        Workspace=Workspace, Experiment=Experiment, Environment=Environment,
        ScriptRunConfig=ScriptRunConfig, CondaDependencies=CondaDependencies,
        ComputeTarget=ComputeTarget, AmlCompute=AmlCompute, Dataset=Dataset, Model=Model,
        ResourceConfiguration=ResourceConfiguration,
        InteractiveLoginAuthentication=auth.InteractiveLoginAuthentication,
        ServicePrincipalAuthentication=auth.ServicePrincipalAuthentication,
        MsiAuthentication=auth.MsiAuthentication,
        AzureCliAuthentication=auth.AzureCliAuthentication,
        ComputeTargetException=ComputeTargetException,
        AuthenticationException=AuthenticationException,
        errors=(AzureMLException, OSError, *_optional_errors()),
        get_run_config_from_script_run=get_run_config_from_script_run,
        serialize=_serialize_to_dict,
        upload_directory=Dataset.File.upload_directory,
        mnist_file_dataset=_mnist_file_dataset,
        offline_inputs=_offline_inputs,
    )


def _mnist_file_dataset() -> Any:
    """``MNIST.get_file_dataset(enable_telemetry=False)``: a FileDataset built offline (nothing is read)."""
    try:
        from azureml.opendatasets import MNIST
    except ImportError as err:
        raise SubmissionError(
            f"dataset=mnist on Azure ML needs azureml-opendatasets, which cannot be imported ({err}). "
            "Install the project's azure extra: pip install -e '.[azure]'."
        ) from None
    return MNIST.get_file_dataset(enable_telemetry=False)


def _offline_inputs(run_config: Any) -> None:
    """Do offline what submit does to a RunConfiguration's inputs: each DatasetConsumptionConfig argument
    becomes the SDK's placeholder and an entry of ``run_config.data``. Only the dataset id stays unset:
    submit saves an unsaved dataset to the workspace first (``_update_args_and_io``)."""
    from azureml.core.runconfig import Data, DataLocation
    from azureml.core.runconfig import Dataset as DatasetReference
    from azureml.data.dataset_consumption_config import DatasetConsumptionConfig

    for index, argument in enumerate(run_config.arguments or []):
        if not isinstance(argument, DatasetConsumptionConfig):
            continue
        dataset = argument.dataset
        reference = DatasetReference(dataset_id=dataset.id, dataset_name=dataset.name,
                                     dataset_version=dataset.version)
        run_config.data[argument.name] = Data(
            data_location=DataLocation(dataset=reference), create_output_directories=False,
            mechanism=argument.mode, environment_variable_name=argument.name,
            path_on_compute=argument.path_on_compute, overwrite=False)
        run_config.arguments[index] = DATASET_ARGUMENT_TEMPLATE.format(argument.name)


def _optional_errors() -> list[type[BaseException]]:
    """Exception bases of the SDK's HTTP layers (requests errors are already OSErrors)."""
    found: list[type[BaseException]] = []
    for module_name, class_name in (("azure.core.exceptions", "AzureError"), ("msrest.exceptions", "ClientException")):
        with contextlib.suppress(ImportError, AttributeError):
            module = __import__(module_name, fromlist=[class_name])
            found.append(getattr(module, class_name))
    return found


def _quiet_sdk_logging() -> None:
    """Keep the SDK's own warnings (which repeat what our errors say) off the console, unless configured."""
    for name in QUIET_LOGGERS:
        sdk_logger = logging.getLogger(name)
        if sdk_logger.level == logging.NOTSET:
            sdk_logger.setLevel(logging.ERROR)


def short_message(err: BaseException, secrets: Iterable[str] = ()) -> str:
    """The first meaningful line of an SDK exception, with any secret value masked."""
    text = str(getattr(err, "message", "") or err or type(err).__name__)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.endswith("Exception:")] or lines or [type(err).__name__]
    line = lines[0].removeprefix("Message:").strip()
    for secret in (*secrets, os.environ.get(SECRET_ENV, "")):
        if secret:
            line = line.replace(secret, "***")
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 3] + "..."


@contextlib.contextmanager
def translate(sdk: Sdk, action: str, hint: str, secrets: Iterable[str] = ()) -> Iterator[None]:
    """Turn SDK/network exceptions raised inside the block into one SubmissionError (no traceback)."""
    try:
        yield
    except sdk.errors as err:
        reason = short_message(err, secrets)
        raise SubmissionError(f"{action} failed: {reason.rstrip('.')}. {hint}".strip()) from None
