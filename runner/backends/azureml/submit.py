"""Build the ScriptRunConfig from the plan and submit it: the one place that turns a Plan into a run."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import datasets, schema
from runner.backends.azureml import (
    collect,
    compute,
    data,
    environment,
    snapshot,
    tracking,
    workspace,
)
from runner.backends.azureml._sdk import Sdk, load_sdk, translate
from runner.backends.base import RunResult
from runner.errors import ConfigError
from runner.plan import Plan

log = logging.getLogger(__name__)

SNAPSHOT_PREFIX = "runner-snapshot-"


@dataclass(frozen=True)
class Submission:
    """What a ScriptRunConfig is built from."""

    source_directory: Path
    script: str
    arguments: list[Any]
    compute_target: Any  # an AmlCompute object, or a name string ("local", or the cluster's name in a dry run)
    environment: Any


def script_run_config(sdk: Sdk, submission: Submission) -> Any:
    """The SDK ScriptRunConfig for ``submission``."""
    return sdk.ScriptRunConfig(
        source_directory=str(submission.source_directory), script=submission.script,
        arguments=submission.arguments, compute_target=submission.compute_target,
        environment=submission.environment,
    )


def run_tags(plan: Plan, secrets: list[str]) -> dict[str, str]:
    """The run's tags: the plan's (git commit, dirty flag, config hash, user tags) plus the overrides."""
    tags = {str(key): str(value) for key, value in plan.tags.items()}
    tags["overrides"] = " ".join(plan.overrides)
    return {key: _masked(value, secrets) for key, value in tags.items()}


def _masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***") if secret else text
    return text


def target_label(cfg: schema.AmlComputeConfig | schema.LocalTrackedComputeConfig) -> str:
    """'azureml:cpu-cluster (STANDARD_D2_V2, 0–4 nodes)' or 'azureml:local (this machine)'."""
    if isinstance(cfg, schema.AmlComputeConfig):
        return f"azureml:{cfg.name} ({cfg.vm_size}, {compute.node_range(cfg)})"
    return "azureml:local (this machine)"


def run_plan(plan: Plan, cwd: Path, environ: Mapping[str, str], sdk: Sdk | None,
             cache: tracking.RunCache | None = None, poller: tracking.Poller | None = None) -> RunResult:
    """Check, sign in, prepare, submit and (unless compute.wait=false) wait and collect.

    A sweep job first waits while ``sweep.max_concurrent`` runs of its sweep are in flight; ``cache``
    keeps the submitted run so later jobs of this process need not re-open it.
    """
    cache = cache if cache is not None else tracking.SHARED_CACHE
    source = workspace.preflight(plan.azure, cwd, environ)
    data_input = local_checks(plan, cwd)
    sdk = sdk or load_sdk(plan.azure.telemetry)
    ws = workspace.connect(sdk, plan.azure, source, environ)
    env = environment.use_current_python(environment.build_environment(sdk, plan.environment, cwd, ws),
                                         plan.compute)
    with tempfile.TemporaryDirectory(prefix=SNAPSHOT_PREFIX) as folder:
        snapshot.build_snapshot(Path(plan.source_dir), plan.script, Path(folder))
        target = compute.target_for(sdk, ws, plan.compute)
        env = environment.register_environment(sdk, env, plan.environment, ws)
        arguments: list[Any] = list(plan.argv)
        if data_input is not None:
            arguments = data.with_input(plan.argv, data_input.flag, data_input.consumption(sdk, ws))
        src = script_run_config(sdk, Submission(Path(folder), plan.script, arguments, target, env))
        tracking.wait_for_slot(sdk, ws, plan, cache, poller or tracking.Poller())
        run, started = submit(sdk, ws, plan, src, run_tags(plan, workspace.secret_values(environ)))
    cache.add(run)
    url = collect.portal_url(sdk, run)
    log.info("Submitted run %s to experiment %s: %s", getattr(run, "id", "?"), plan.experiment_name, url)
    if not plan.compute.wait:
        return collect.submitted(plan, run, url, started)
    return collect.wait_and_collect(sdk, run, plan, url, started)


def local_checks(plan: Plan, cwd: Path) -> data.DataSource | None:
    """Everything checkable on this machine, before signing in: data, environment files, snapshot limits.

    Returns the run's data input; None for bundled data and for a local path that compute=local_tracked
    reads as it is (checked last, and an empty MNIST cache filled, as for compute=local).
    """
    local_path = data.reads_local_path(plan.dataset, plan.compute)
    data_input = None if local_path else data.data_source(plan.dataset)
    data.check_source(data_input)
    problem = environment.environment_problem(plan.environment, cwd)
    if problem:
        raise ConfigError(problem)
    snapshot.check_limits(snapshot.plan_manifest(Path(plan.source_dir), plan.script))
    if local_path:
        datasets.prepare_local(plan.dataset)  # may download MNIST: only once everything else is fine
    return data_input


def submit(sdk: Sdk, ws: Any, plan: Plan, src: Any, tags: dict[str, str]) -> tuple[Any, float]:
    """``Experiment(ws, name).submit(src, tags=...)``; returns the run and the submit time."""
    log.info("Submitting 1 job to %s", target_label(plan.compute))
    started = time.monotonic()
    hint = "Check the run configuration with dry_run=true and the workspace's quota."
    with translate(sdk, f"Submitting to experiment '{plan.experiment_name}'", hint):
        run = sdk.Experiment(ws, plan.experiment_name).submit(src, tags=tags)
    return run, started
