"""Human-readable text: the plan of a dry run and the one-line summary of a finished run."""

from __future__ import annotations

import dataclasses

from runner import datasets, schema
from runner.backends.base import RegisteredModel, RunResult
from runner.plan import Plan


def describe_plan(plan: Plan, backend_lines: str) -> str:
    """The dry-run view of a plan: script, argv, compute, data, environment, registration, tags."""
    env = plan.environment
    reg = plan.registration
    lines = [
        "Plan (dry run: nothing is run, written or registered)",
        f"  experiment   {plan.experiment_name}",
        f"  script       {plan.script_path}",
        f"  argv         {' '.join(plan.argv)}",
        f"  compute      {describe_compute(plan.compute)}",
        f"  data         {describe_data(plan.dataset)}",
        f"  model        {_fields(plan.model)}",
        f"  seed         {plan.seed}",
        f"  environment  {env.name}: python {env.python_version}; conda {', '.join(env.conda_packages) or '-'}; "
        f"pip {', '.join(env.pip_packages) or '-'}",
        f"  registration {describe_registration(reg, remote=plan.compute.kind != 'local')}",
        f"  tags         {', '.join(f'{k}={v}' for k, v in sorted(plan.tags.items()))}",
    ]
    return "\n".join(lines) + "\n" + backend_lines


def describe_compute(compute: object) -> str:
    """One line naming where the job runs."""
    if isinstance(compute, schema.AmlComputeConfig):
        return (
            f"azureml AmlCompute '{compute.name}' ({compute.vm_size}, {compute.vm_priority}, "
            f"{compute.min_nodes}-{compute.max_nodes} nodes, scale down after "
            f"{compute.idle_seconds_before_scaledown} s idle)"
        )
    if isinstance(compute, schema.LocalTrackedComputeConfig):
        return "local_tracked (this machine, recorded as a run in the Azure ML workspace)"
    return "local (a subprocess on this machine)"


def describe_data(dataset: object) -> str:
    """One line naming the data source."""
    return datasets.describe(dataset)


def describe_registration(reg: schema.RegistrationConfig, remote: bool = False) -> str:
    """One line saying whether and where the model would be registered."""
    if reg.policy == "none":
        return "none (policy=none)"
    extra = ""
    if reg.resource_configuration is not None:
        rc = reg.resource_configuration
        extra = f", resources cpu={rc.cpu} memory_in_gb={rc.memory_in_gb}"
    where = "the Azure ML workspace's model registry" if remote else reg.registry_dir
    return (
        f"{reg.policy}: '{reg.model_name}' in {where} "
        f"({reg.framework} {reg.framework_version}{extra})"
    )


def summary_line(result: RunResult, entry: RegisteredModel | None, metric_name: str) -> str:
    """The one line printed after a run: primary metric, run folder (or portal URL), registry entry."""
    metric = result.metrics.get(metric_name)
    shown = f"{metric_name} {metric:.4f}" if metric is not None else f"no {metric_name} reported ({result.status})"
    where = f"run {result.run_dir}" + (f" ({result.url})" if result.url else "")
    registered = (
        f"registered {entry.name} version {entry.version} at {entry.location}" if entry else "not registered"
    )
    return f"{shown} | {where} | {registered}\n"


def _fields(section: object) -> str:
    return ", ".join(f"{f.name}={getattr(section, f.name)}" for f in dataclasses.fields(section))  # type: ignore[arg-type]
