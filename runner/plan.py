"""The Plan: everything a backend needs to run one job. Building it is pure (no I/O, no Azure)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner import datasets, schema
from runner.outputs import OUTPUTS
from runner.validate import RunConfig

TASK_SCRIPT = "train.py"
# Flags whose config key differs from the task's argv name, for fields without ``schema.FLAG`` metadata.
FLAG_NAMES = {"path": "--data-folder"}
# The flags whose value is the task's data (a folder or a file): made absolute here, and replaced by
# the data input on a remote run.
DATA_FLAGS = ("--data-folder", "--data-file")
# Flags naming a folder on this machine: only plans for these compute kinds carry them, so a
# cluster's argv never does (the parsed-data cache is a local speed-up, not part of the job).
LOCAL_ONLY_FLAGS = ("--cache-dir",)
LOCAL_COMPUTE_KINDS = ("local", "local_tracked")


@dataclass(frozen=True)
class Plan:
    """One job: the task script and its argv, where it runs, on what data, and how it is registered."""

    experiment_name: str
    script: str
    source_dir: str
    argv: tuple[str, ...]
    run_dir: str
    compute: schema.ComputeConfig
    dataset: schema.DatasetConfig
    model: schema.ModelConfig
    environment: schema.EnvironmentConfig
    registration: schema.RegistrationConfig
    azure: schema.AzureConfig
    seed: int
    tags: Mapping[str, str]
    overrides: tuple[str, ...] = ()
    dry_run: bool = False
    # A multirun job only: its sweep folder (a remote job counts its siblings' runs in flight there)
    # and sweep.max_concurrent, the most runs of the sweep in flight at once.
    sweep_dir: str | None = None
    max_concurrent: int | None = None

    @property
    def script_path(self) -> Path:
        """Absolute path of the task script."""
        return Path(self.source_dir) / self.script

def build_plan(
    run: RunConfig,
    *,
    run_dir: str,
    cwd: str,
    source_dir: str,
    tags: Mapping[str, str],
    overrides: tuple[str, ...] = (),
    sweep_dir: str | None = None,
) -> Plan:
    """Build the Plan from a validated config; relative data paths are taken from ``cwd``.

    ``sweep_dir`` is given for a job of a multirun (see :attr:`Plan.sweep_dir`).
    """
    dataset = dataclasses.replace(run.dataset, **{
        f.name: _absolute(getattr(run.dataset, f.name), cwd)
        for f in dataclasses.fields(run.dataset) if f.metadata.get(schema.FLAG) in DATA_FLAGS
    })
    cache_dir = None
    if (run.data_cache_dir is not None and run.compute.kind in LOCAL_COMPUTE_KINDS
            and datasets.reads_files(dataset)):
        cache_dir = _absolute(run.data_cache_dir, cwd)
    registration = dataclasses.replace(
        run.registration, registry_dir=_absolute(run.registration.registry_dir, cwd)
    )
    all_tags = {**run.registration.tags, **tags}
    return Plan(
        experiment_name=run.experiment_name,
        script=TASK_SCRIPT,
        source_dir=source_dir,
        argv=task_argv(datasets.task_view(dataset), run.model, run.seed,
                       cache_dir=cache_dir, preview=run.preview),
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
        sweep_dir=sweep_dir,
        max_concurrent=run.sweep.max_concurrent if sweep_dir is not None else None,
    )


def task_argv(
    dataset: object, model: object, seed: int, *, cache_dir: str | None = None, preview: bool = False
) -> tuple[str, ...]:
    """The task's command line: ``--dataset``, its data flags, ``--model``, its hyperparameters.

    ``cache_dir`` (the parsed-data cache, ``--cache-dir``) is given only for runs on this machine.
    """
    argv = _section_argv("--dataset", dataset)
    if cache_dir is not None:
        argv += ["--cache-dir", cache_dir]
    argv += _section_argv("--model", model)
    argv += ["--seed", str(seed), "--output-dir", OUTPUTS]
    if preview:
        argv.append("--preview")
    return tuple(argv)


def _section_argv(name_flag: str, section: object) -> list[str]:
    argv = [name_flag, str(getattr(section, "name"))]
    for field in dataclasses.fields(section):  # type: ignore[arg-type]
        value = getattr(section, field.name)
        if field.name == "name" or value is None or value == [] or not field.metadata.get(schema.TASK_ARG, True):
            continue
        flag = field.metadata.get(schema.FLAG) or FLAG_NAMES.get(field.name, "--" + field.name.replace("_", "-"))
        argv += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return argv


def _absolute(path: str, cwd: str) -> str:
    expanded = os.path.expanduser(path)
    return os.path.normpath(os.path.join(cwd, expanded))
