"""The compute target: get the named AmlCompute cluster or create it; warn once if it drifted."""

from __future__ import annotations

import logging
import time
from typing import Any

from runner import schema
from runner.backends.azureml._sdk import Sdk, translate
from runner.errors import SubmissionError

log = logging.getLogger(__name__)

AML_COMPUTE_TYPE = "AmlCompute"  # ComputeTarget.type of a cluster
LOCAL_TARGET = "local"  # ScriptRunConfig's compute_target for a run on this machine
NOT_READY_STATES = ("failed", "canceled")
NOT_FOUND = "ComputeTargetNotFound"  # the SDK's message for a 404; other lookup errors are real errors


def node_range(cfg: schema.AmlComputeConfig) -> str:
    """'0–4 nodes' for log lines."""
    return f"{cfg.min_nodes}\u2013{cfg.max_nodes} nodes"


def describe_compute(cfg: schema.AmlComputeConfig | schema.LocalTrackedComputeConfig) -> str:
    """What the backend would use or create (no network)."""
    if not isinstance(cfg, schema.AmlComputeConfig):
        return "compute_target='local': runs on this machine, recorded as a run in the workspace"
    return (
        f"AmlCompute '{cfg.name}': reused if it exists (a warning lists any setting that differs), "
        f"else created with vm_size {cfg.vm_size}, vm_priority {cfg.vm_priority}, min_nodes {cfg.min_nodes}, "
        f"max_nodes {cfg.max_nodes}, idle_seconds_before_scaledown {cfg.idle_seconds_before_scaledown} "
        f"(waiting up to {cfg.provisioning_timeout_minutes} min for provisioning)"
    )


def provisioning_config(sdk: Sdk, cfg: schema.AmlComputeConfig) -> Any:
    """The SDK's provisioning configuration for ``cfg``."""
    return sdk.AmlCompute.provisioning_configuration(
        vm_size=cfg.vm_size, vm_priority=cfg.vm_priority, min_nodes=cfg.min_nodes,
        max_nodes=cfg.max_nodes, idle_seconds_before_scaledown=cfg.idle_seconds_before_scaledown,
    )


def ensure_compute(sdk: Sdk, workspace: Any, cfg: schema.AmlComputeConfig) -> Any:
    """Return the existing cluster ``cfg.name`` (warning on drift) or create it and wait until it is ready."""
    hint = "Check compute.name and that your identity may read and create compute in the workspace."
    with translate(sdk, f"Looking up compute target '{cfg.name}'", hint):
        try:
            target = sdk.ComputeTarget(workspace=workspace, name=cfg.name)
        except sdk.ComputeTargetException as err:
            if NOT_FOUND not in str(getattr(err, "message", "") or err):
                raise
            target = None
    if target is None:
        return _create(sdk, workspace, cfg)
    kind = getattr(target, "type", None)
    if kind != AML_COMPUTE_TYPE:
        raise SubmissionError(
            f"Compute target '{cfg.name}' exists in the workspace but is a {kind}, not an AmlCompute cluster. "
            "Choose another name with compute.name=<new name> (it is created on first use)."
        )
    differences = drift(cfg, target)
    if differences:
        log.warning("%s", drift_message(cfg, differences))
    log.info("Using existing compute target %s", cfg.name)
    return target


def _create(sdk: Sdk, workspace: Any, cfg: schema.AmlComputeConfig) -> Any:
    """Create the cluster and wait for provisioning; SubmissionError on failure or timeout."""
    log.info("Creating compute target %s (%s, %s, %s); this takes a few minutes",
             cfg.name, cfg.vm_size, cfg.vm_priority, node_range(cfg))
    started = time.monotonic()
    hint = "Check the VM size's quota and availability in the workspace's region, or choose compute.vm_size."
    with translate(sdk, f"Creating compute target '{cfg.name}'", hint):
        target = sdk.ComputeTarget.create(workspace, cfg.name, provisioning_config(sdk, cfg))
        target.wait_for_completion(show_output=False, min_node_count=None,
                                   timeout_in_minutes=cfg.provisioning_timeout_minutes)
    _check_provisioned(target, cfg, time.monotonic() - started)
    log.info("Compute target %s is ready", cfg.name)
    return target


def _check_provisioned(target: Any, cfg: schema.AmlComputeConfig, elapsed: float) -> None:
    """``wait_for_completion`` never raises: read the state it left and fail on errors or timeout."""
    status = getattr(target, "status", None)
    state = str(getattr(status, "provisioning_state", None) or getattr(target, "provisioning_state", "") or "")
    errors = getattr(status, "errors", None) or getattr(target, "provisioning_errors", None)
    if state.lower() in NOT_READY_STATES or errors:
        raise SubmissionError(
            f"Provisioning compute target '{cfg.name}' ended in state {state or 'unknown'}: {errors or 'no details'}. "
            "Check the VM size's quota in the workspace's region (compute.vm_size, compute.vm_priority)."
        )
    if state.lower() != "succeeded" and elapsed >= cfg.provisioning_timeout_minutes * 60:
        raise SubmissionError(
            f"Compute target '{cfg.name}' was still {state or 'provisioning'} after "
            f"{cfg.provisioning_timeout_minutes} minutes. Raise compute.provisioning_timeout_minutes, or check "
            "its state in the Azure ML studio and run again (the cluster is reused)."
        )


def existing_settings(target: Any) -> dict[str, Any]:
    """The drift-relevant settings an existing AmlCompute reports (missing ones are left out)."""
    scale = getattr(target, "scale_settings", None)
    found = {
        "vm_size": getattr(target, "vm_size", None),
        "vm_priority": getattr(target, "vm_priority", None),
        "min_nodes": getattr(scale, "minimum_node_count", None),
        "max_nodes": getattr(scale, "maximum_node_count", None),
        "idle_seconds_before_scaledown": getattr(scale, "idle_seconds_before_scaledown", None),
    }
    return {key: value for key, value in found.items() if value is not None}


def drift(cfg: schema.AmlComputeConfig, target: Any) -> list[tuple[str, Any, Any]]:
    """(key, existing value, configured value) for each setting that differs; strings compare case-blind."""
    differences = []
    for key, existing in existing_settings(target).items():
        wanted = getattr(cfg, key)
        same = str(existing).lower() == str(wanted).lower() if isinstance(wanted, str) else existing == wanted
        if not same:
            differences.append((key, existing, wanted))
    return differences


def drift_message(cfg: schema.AmlComputeConfig, differences: list[tuple[str, Any, Any]]) -> str:
    """One warning: each difference and how to reconcile it (nothing is changed silently)."""
    listed = "; ".join(f"{key} is {existing}, config says {wanted}" for key, existing, wanted in differences)
    fixed = {"vm_size", "vm_priority"} & {key for key, _, _ in differences}
    remake = f" ({' and '.join(sorted(fixed))} cannot change on an existing cluster)" if fixed else ""
    return (
        f"Compute target '{cfg.name}' exists with settings that differ from the config: {listed}. "
        f"It is used as it is. To reconcile, use a new cluster with compute.name=<new name>{remake}, or update "
        f"this one in the Azure ML studio or with AmlCompute.update(min_nodes={cfg.min_nodes}, "
        f"max_nodes={cfg.max_nodes}, idle_seconds_before_scaledown={cfg.idle_seconds_before_scaledown})."
    )


def target_for(sdk: Sdk, workspace: Any, cfg: Any) -> Any:
    """The ScriptRunConfig compute target: a cluster object, or 'local' for local_tracked."""
    if isinstance(cfg, schema.AmlComputeConfig):
        return ensure_compute(sdk, workspace, cfg)
    return LOCAL_TARGET

