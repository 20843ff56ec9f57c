"""The Plan: everything a backend needs to run one job. Building it is pure (no I/O, no Azure)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner import schema
from runner.validate import RunConfig

TASK_SCRIPT = "train.py"
OUTPUTS = "outputs"  # the folder Azure ML uploads after a run; the task writes there
# Flags whose config key differs from the task's argv name (tutorial style: --data-folder).
FLAG_NAMES = {"path": "--data-folder"}


@dataclass(frozen=True)
class Plan:
    """One job: the task script and its argv, where it runs, on what data, and how it is registered."""

    experiment_name: str
    script: str
    source_dir: str
    argv: tuple[str, ...]
    run_dir: str
    compute: schema.LocalComputeConfig | schema.AmlComputeConfig
    dataset: schema.BundledDatasetConfig | schema.IdxFolderDatasetConfig
    model: schema.LogisticRegressionConfig | schema.SvmConfig | schema.RandomForestConfig
    environment: schema.EnvironmentConfig
    registration: schema.RegistrationConfig
    azure: schema.AzureConfig
    seed: int
    tags: Mapping[str, str]
    overrides: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def script_path(self) -> Path:
        """Absolute path of the task script."""
        return Path(self.source_dir) / self.script

    @property
    def data_folder(self) -> str | None:
        """The absolute data folder the task reads, or None for bundled datasets."""
        return getattr(self.dataset, "path", None)


def build_plan(
    run: RunConfig,
    *,
    run_dir: str,
    cwd: str,
    source_dir: str,
    tags: Mapping[str, str],
    overrides: tuple[str, ...] = (),
) -> Plan:
    """Build the Plan from a validated config; relative data paths are taken from ``cwd``."""
    dataset = run.dataset
    if isinstance(dataset, schema.IdxFolderDatasetConfig):
        dataset = dataclasses.replace(dataset, path=_absolute(dataset.path, cwd))
    registration = dataclasses.replace(
        run.registration, registry_dir=_absolute(run.registration.registry_dir, cwd)
    )
    all_tags = {**run.registration.tags, **tags}
    return Plan(
        experiment_name=run.experiment_name,
        script=TASK_SCRIPT,
        source_dir=source_dir,
        argv=task_argv(dataset, run.model, run.seed),
        run_dir=run_dir,
        compute=run.compute,
        dataset=dataset,
        model=run.model,
        environment=run.environment,
        registration=registration,
        azure=run.azure,
        seed=run.seed,
        tags=all_tags,
        overrides=overrides,
        dry_run=run.dry_run,
    )


def task_argv(dataset: object, model: object, seed: int) -> tuple[str, ...]:
    """The task's command line: ``--dataset``, its data flags, ``--model``, its hyperparameters."""
    argv = _section_argv("--dataset", dataset) + _section_argv("--model", model)
    argv += ["--seed", str(seed), "--output-dir", OUTPUTS]
    return tuple(argv)


def _section_argv(name_flag: str, section: object) -> list[str]:
    argv = [name_flag, str(getattr(section, "name"))]
    for field in dataclasses.fields(section):  # type: ignore[arg-type]
        value = getattr(section, field.name)
        if field.name == "name" or value is None or not field.metadata.get(schema.TASK_ARG, True):
            continue
        flag = FLAG_NAMES.get(field.name, "--" + field.name.replace("_", "-"))
        argv += [flag, str(value)]
    return argv


def _absolute(path: str, cwd: str) -> str:
    expanded = os.path.expanduser(path)
    return os.path.normpath(os.path.join(cwd, expanded))
