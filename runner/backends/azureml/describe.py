"""The dry-run text: everything a submit would use and send, built offline with no workspace."""

from __future__ import annotations

import json
import logging
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner import datasets, schema
from runner.backends.azureml import compute, data, environment, snapshot, workspace
from runner.backends.azureml._sdk import DATASET_ARGUMENT_TEMPLATE, TELEMETRY_ENV, Sdk
from runner.backends.azureml.submit import Submission, script_run_config, target_label
from runner.errors import RunnerError
from runner.plan import OUTPUTS, Plan

log = logging.getLogger(__name__)

INDENT = " " * 15
RUN_CONFIG_HEADER = (
    "  run configuration (get_run_config_from_script_run: what submit sends; the source folder is a fresh snapshot)"
)


def describe(sdk: Sdk, plan: Plan, cwd: Path, environ: Mapping[str, str]) -> str:
    """Workspace source, auth, compute, environment, data, snapshot and the full run configuration."""
    problems: list[str] = []
    source = workspace.resolve_source(plan.azure, cwd)
    problems += [source.problem] if source.problem else []
    problems += _credential_problem(plan.azure, environ)
    lines = [
        f"Azure ML (azureml-core {sdk.version}; a dry run signs in to nothing, uploads and creates nothing)",
        f"  workspace    {source.describe()}",
        f"  auth         {workspace.describe_auth(plan.azure, environ)}",
        f"  telemetry    {'on (azure.telemetry=true)' if plan.azure.telemetry else f'off ({TELEMETRY_ENV}=true)'}",
        f"  target       {target_label(plan.compute)}",
        f"  compute      {compute.describe_compute(plan.compute)}",
        *_environment_lines(sdk, plan, cwd, problems),
        *_data_lines(plan, problems),
        f"  wait         {_wait_text(plan)}",
        f"  registration {_registration_text(plan)}",
        *_snapshot_lines(plan, problems),
        RUN_CONFIG_HEADER,
        textwrap.indent(run_configuration_json(sdk, plan, cwd, problems), INDENT),
    ]
    if problems:
        lines.append("  a real run would stop at:")
        lines += [f"{INDENT}- {p}" for p in problems]
    return "\n".join(lines) + "\n"


def _credential_problem(azure: schema.AzureConfig, environ: Mapping[str, str]) -> list[str]:
    try:
        workspace.check_credentials(azure, environ)
    except RunnerError as err:
        return [str(err)]
    return []


def _environment_lines(sdk: Sdk, plan: Plan, cwd: Path, problems: list[str]) -> list[str]:
    cfg = plan.environment
    problem = environment.environment_problem(cfg, cwd)
    problems += [problem] if problem else []
    lines = [f"  environment  {environment.describe_source(cfg)}"]
    yaml = environment.conda_yaml(sdk, cfg, cwd)
    if yaml is not None:
        lines.append(f"{INDENT}conda specification:")
        lines.append(textwrap.indent(yaml.strip("\n"), INDENT + "  "))
    return lines


def _source(plan: Plan) -> tuple[data.DataSource | None, str | None]:
    """The plan's data input (None: bundled, or a local path local_tracked reads), or why it has none."""
    if data.reads_local_path(plan.dataset, plan.compute):
        return None, None
    try:
        return data.data_source(plan.dataset), None
    except RunnerError as err:
        return None, str(err)


def _data_lines(plan: Plan, problems: list[str]) -> list[str]:
    source, unsupported = _source(plan)
    if unsupported:
        problems.append(unsupported)
        return [f"  data         {plan.dataset.name}: no Azure ML data input (see below)"]
    if data.reads_local_path(plan.dataset, plan.compute):
        return [f"  data         {datasets.describe(plan.dataset)}",
                (f"{INDENT}compute=local_tracked runs on this machine: the task reads this local path as it is "
                 "(no upload, no data input); checked (an empty MNIST cache filled) before submitting")]
    if source is None:
        return [f"  data         {plan.dataset.name}: bundled with scikit-learn, no data input"]
    problem = source.problem()
    problems += [problem] if problem else []
    first, *rest = source.describe()
    return [f"  data         {first}", *(f"{INDENT}{line}" for line in rest)]


def _wait_text(plan: Plan) -> str:
    if plan.compute.wait:
        return f"yes: stream the driver log, then download {OUTPUTS}/ into the run folder and read metrics.json"
    return "no (compute.wait=false): return right after submitting; nothing is collected or registered"


def _registration_text(plan: Plan) -> str:
    reg = plan.registration
    if reg.policy == "none":
        return "none (registration.policy=none)"
    return (
        f"workspace model registry: Run.register_model('{reg.model_name}', model_path='{OUTPUTS}/<model file>', "
        f"{reg.framework} {reg.framework_version}) - registration.registry_dir is not used"
    )


def _snapshot_lines(plan: Plan, problems: list[str]) -> list[str]:
    try:
        manifest = snapshot.plan_manifest(Path(plan.source_dir), plan.script)
    except RunnerError as err:
        problems.append(str(err))
        return ["  snapshot     (cannot be built)"]
    problem = manifest.problem()
    problems += [f"the snapshot would hold {problem}"] if problem else []
    head = f"  snapshot     *.py files of {plan.source_dir} + {snapshot.IGNORE_FILE}, copied to a fresh folder:"
    return [head, *(f"{INDENT}{row}" for row in manifest.lines())]


def run_configuration_json(sdk: Sdk, plan: Plan, cwd: Path, problems: list[str] | None = None) -> str:
    """The RunConfiguration submit would send, as indented JSON. An input that builds offline (Open
    Datasets MNIST) goes in as the real DatasetConsumptionConfig and shows in ``data`` as submit sends it
    (bar the dataset id); one made at submit time shows as the SDK's argv placeholder only."""
    source, _ = _source(plan)
    arguments: list[Any] = list(plan.argv)
    if source is not None:
        arguments = data.with_input(plan.argv, source.flag, _offline_input(sdk, source, problems))
    target = plan.compute.name if isinstance(plan.compute, schema.AmlComputeConfig) else compute.LOCAL_TARGET
    src = script_run_config(sdk, Submission(Path(plan.source_dir), plan.script, arguments, target,
                                            _offline_environment(sdk, plan, cwd)))
    run_config = sdk.get_run_config_from_script_run(src)
    sdk.offline_inputs(run_config)
    return json.dumps(sdk.serialize(run_config), indent=2, default=str)


def _offline_input(sdk: Sdk, source: data.DataSource, problems: list[str] | None) -> Any:
    """The source's real consumption config when it builds offline, else the SDK's argv placeholder."""
    try:
        built = source.offline_consumption(sdk)
    except RunnerError as err:
        if problems is not None:
            problems.append(str(err))
        built = None
    return built if built is not None else DATASET_ARGUMENT_TEMPLATE.format(source.input_name)


def _offline_environment(sdk: Sdk, plan: Plan, cwd: Path) -> Any:
    """The environment as built offline; a named placeholder when it lives in the workspace or is broken."""
    cfg = plan.environment
    if cfg.curated or environment.environment_problem(cfg, cwd):
        placeholder = sdk.Environment(cfg.curated or cfg.name)
        placeholder.environment_variables = {}
        return placeholder
    return environment.build_environment(sdk, cfg, cwd, workspace=None)
