"""Turn a composed (or saved) config into typed, range-checked schema objects."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from runner import schema
from runner.errors import ConfigError
from runner.registry import MODEL_NAME_PATTERN, check_model_name

POLICIES = ("each", "best", "none")
GOALS = ("maximize", "minimize")
FRAMEWORKS = ("ScikitLearn", "Custom", "Onnx")
SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")
KERNELS = ("linear", "poly", "rbf", "sigmoid")
VM_PRIORITIES = ("dedicated", "lowpriority")
AUTH_METHODS = ("interactive", "service_principal", "managed_identity", "azure_cli")
DATA_MODES = ("download", "mount")
REGISTERED_CONTENTS = ("idx_folder", "csv")
# Azure ML: compute names 2-16 characters, a letter first, then letters, digits and hyphens.
COMPUTE_NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9-]{1,15}$"
VM_SIZE_PATTERN = r"^(?i:standard)_[A-Za-z0-9_]+$"
EXPERIMENT_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_\-]{0,254}$"


@dataclass(frozen=True)
class RunConfig:
    """The validated config: one typed schema object per group plus the top-level values."""

    compute: schema.ComputeConfig
    dataset: schema.DatasetConfig
    model: schema.ModelConfig
    registration: schema.RegistrationConfig
    environment: schema.EnvironmentConfig
    azure: schema.AzureConfig
    sweep: schema.SweepConfig
    experiment_name: str
    seed: int
    dry_run: bool
    data_cache_dir: str | None = None
    preview: bool = False


def validate(cfg: DictConfig) -> RunConfig:
    """Resolve ``cfg``, check it against the schemas and ranges; raise ConfigError listing all problems."""
    plain = _resolve(cfg)
    for key in ("compute", "dataset", "model", "registration", "environment"):
        if not isinstance(plain.get(key), dict):
            raise ConfigError(f"The config has no '{key}' group; choose one with {key}=<option>.")
    run = RunConfig(
        compute=_typed("compute", plain["compute"], "kind", schema.COMPUTE_SCHEMAS),
        dataset=_typed("dataset", plain["dataset"], "name", schema.DATASET_SCHEMAS),
        model=_typed("model", plain["model"], "name", schema.MODEL_SCHEMAS),
        registration=_typed("registration", plain["registration"], None, schema.RegistrationConfig),
        environment=_typed("environment", plain["environment"], None, schema.EnvironmentConfig),
        azure=_typed("azure", plain.get("azure") or {}, None, schema.AzureConfig),
        sweep=_typed("sweep", plain.get("sweep") or {}, None, schema.SweepConfig),
        experiment_name=str(plain.get("experiment_name", "")),
        seed=_int("seed", plain.get("seed")),
        dry_run=bool(plain.get("dry_run", False)),
        **_top_level(plain),
    )
    problems = range_problems(run)
    if problems:
        raise ConfigError("Invalid config: " + "; ".join(problems) + ".")
    return run


def _resolve(cfg: DictConfig) -> dict[str, Any]:
    """Resolve every interpolation; a missing mandatory value names its key."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
    except MissingMandatoryValue as err:
        key = err.full_key or "a value"
        raise ConfigError(f"{key} is required but not set; set it on the command line, e.g. {key}=...") from None
    except OmegaConfBaseException as err:
        raise ConfigError(
            f"The config could not be resolved at {err.full_key}: {err.msg.splitlines()[0]}"
        ) from None


def _typed(group: str, node: dict[str, Any], key: str | None, schemas: Any) -> Any:
    """Merge ``node`` onto its schema (chosen by ``node[key]``) and build the dataclass."""
    if key is None:
        target = schemas
    else:
        choice = node.get(key)
        if choice not in schemas:
            valid = ", ".join(sorted(schemas))
            raise ConfigError(f"{group}.{key}='{choice}' is not supported; valid values: {valid}.")
        target = schemas[choice]
    try:
        merged = OmegaConf.merge(OmegaConf.structured(target), node)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        where = f"{group}.{err.full_key}" if err.full_key else group
        raise ConfigError(f"{where}: {err.msg.splitlines()[0]}") from None


def _top_level(plain: dict[str, Any]) -> dict[str, Any]:
    """``data_cache_dir`` and ``preview`` (a saved config from before they existed gets the defaults)."""
    defaults = OmegaConf.structured(schema.RunnerConfig)
    cache = plain.get("data_cache_dir", defaults.data_cache_dir)
    if cache is not None and not isinstance(cache, str):
        raise ConfigError(f"data_cache_dir must be a folder or null, got {cache!r}")
    preview = plain.get("preview", defaults.preview)
    if not isinstance(preview, bool):
        raise ConfigError(f"preview must be true or false, got {preview!r}")
    return {"data_cache_dir": cache, "preview": preview}


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}; e.g. {name}=0.")
    return value


def range_problems(run: RunConfig) -> list[str]:
    """Every range/choice problem of ``run`` as a short phrase naming the key and the valid values."""
    checks: list[tuple[bool, str]] = [
        (bool(re.match(EXPERIMENT_NAME_PATTERN, run.experiment_name)),
         f"experiment_name '{run.experiment_name}' must start with a letter or digit and contain only "
         "letters, digits, '_' and '-'"),
        (0 <= run.seed < 2**32, f"seed must be between 0 and 2**32-1, got {run.seed}"),
    ]
    for section_checks in (_compute_checks, _dataset_checks, _model_checks, _registration_checks,
                           _environment_checks, _azure_checks, _sweep_checks):
        checks.extend(section_checks(run))
    return [message for ok, message in checks if not ok]


def _compute_checks(run: RunConfig) -> list[tuple[bool, str]]:
    c = run.compute
    if isinstance(c, schema.LocalComputeConfig):
        return [(c.threads is None or c.threads >= 1, f"compute.threads must be null or 1 or more, got {c.threads}")]
    if not isinstance(c, schema.AmlComputeConfig):
        return []
    return [
        (bool(re.match(COMPUTE_NAME_PATTERN, c.name)),
         f"compute.name '{c.name}' must be 2-16 characters: a letter, then letters, digits or '-'"),
        (bool(re.match(VM_SIZE_PATTERN, c.vm_size)),
         f"compute.vm_size '{c.vm_size}' is not an Azure VM size; e.g. STANDARD_D2_V2"),
        (c.vm_priority in VM_PRIORITIES, _choice("compute.vm_priority", c.vm_priority, VM_PRIORITIES)),
        (c.min_nodes >= 0, f"compute.min_nodes must be 0 or more, got {c.min_nodes}"),
        (c.max_nodes >= 1, f"compute.max_nodes must be 1 or more, got {c.max_nodes}"),
        (c.min_nodes <= c.max_nodes,
         f"compute.min_nodes ({c.min_nodes}) must not exceed compute.max_nodes ({c.max_nodes})"),
        (c.idle_seconds_before_scaledown >= 0,
         f"compute.idle_seconds_before_scaledown must be 0 or more, got {c.idle_seconds_before_scaledown}"),
        (c.provisioning_timeout_minutes >= 1,
         f"compute.provisioning_timeout_minutes must be 1 or more, got {c.provisioning_timeout_minutes}"),
    ]


def _dataset_checks(run: RunConfig) -> list[tuple[bool, str]]:
    d = run.dataset
    checks = [(run.data_cache_dir is None or bool(run.data_cache_dir.strip()),
               "data_cache_dir must name a folder, or be null to turn the parsed-data cache off")]
    if hasattr(d, "mode"):
        checks.append((d.mode in DATA_MODES, _choice("dataset.mode", d.mode, DATA_MODES)))
    if hasattr(d, "test_size"):
        checks.append((0.0 < d.test_size < 1.0,
                       f"dataset.test_size must be between 0 and 1 (exclusive), got {d.test_size}"))
    if isinstance(d, schema.IdxFolderDatasetConfig):
        checks.append((bool(d.path.strip()), "dataset.path must name the folder holding the MNIST idx files"))
    elif isinstance(d, schema.MnistDatasetConfig):
        checks.append((bool(d.cache_dir.strip()), "dataset.cache_dir must name a folder"))
    elif isinstance(d, schema.CsvDatasetConfig):
        checks.append((bool(d.path.strip()), "dataset.path must name a CSV file or a folder holding one"))
        checks.extend(_table_checks(d.target, d.features))
    elif isinstance(d, schema.RegisteredDatasetConfig):
        checks.extend(_registered_checks(run, d))
    return checks


def _table_checks(target: str | None, features: list[str]) -> list[tuple[bool, str]]:
    """A target column and feature columns the task's comma-separated --features can carry."""
    target = target or ""
    return [
        (bool(target.strip()), "dataset.target must name the label column, e.g. dataset.target=label"),
        (all(f.strip() and "," not in f for f in features),
         f"dataset.features entries must be non-empty column names without ',', got {features}"),
        (target not in features, f"dataset.features must not include the target column '{target}'"),
    ]


def _registered_checks(run: RunConfig, d: schema.RegisteredDatasetConfig) -> list[tuple[bool, str]]:
    checks = [
        (bool(d.dataset_name.strip()), "dataset.dataset_name must name a dataset registered in the workspace"),
        (d.version is None or d.version >= 1, f"dataset.version must be null (latest) or 1 or more, got {d.version}"),
        (d.content in REGISTERED_CONTENTS, _choice("dataset.content", d.content, REGISTERED_CONTENTS)),
        (run.compute.kind != "local",
         "dataset=registered needs an Azure ML workspace, which compute=local does not use: run it with "
         "compute=local_tracked or a cluster (compute=cpu_cluster), or download the dataset and use "
         "dataset=idx_folder dataset.path=<folder> or dataset=csv dataset.path=<file>"),
    ]
    if d.content == "csv":
        checks.extend(_table_checks(d.target, d.features))
    else:
        checks.append((d.target is None and not d.features,
                       "dataset.target and dataset.features apply only to dataset.content=csv"))
    return checks


def _model_checks(run: RunConfig) -> list[tuple[bool, str]]:
    m = run.model
    if isinstance(m, schema.LogisticRegressionConfig):
        return [
            (m.regularization > 0 and math.isfinite(m.regularization),
             f"model.regularization must be greater than 0 (C = 1/regularization), got {m.regularization}; "
             "e.g. model.regularization=0.5"),
            (m.solver in SOLVERS, _choice("model.solver", m.solver, SOLVERS)),
            (m.max_iter >= 1, f"model.max_iter must be 1 or more, got {m.max_iter}"),
        ]
    if isinstance(m, schema.SvmConfig):
        return [
            (m.kernel in KERNELS, _choice("model.kernel", m.kernel, KERNELS)),
            (m.penalty > 0 and math.isfinite(m.penalty),
             f"model.penalty must be greater than 0, got {m.penalty}; e.g. model.penalty=1.0"),
            (_valid_gamma(m.gamma), f"model.gamma must be 'scale', 'auto' or a positive number, got '{m.gamma}'"),
            (m.degree >= 1, f"model.degree must be 1 or more, got {m.degree}"),
        ]
    return [
        (m.n_estimators >= 1, f"model.n_estimators must be 1 or more, got {m.n_estimators}"),
        (m.max_depth is None or m.max_depth >= 1, f"model.max_depth must be null or 1 or more, got {m.max_depth}"),
        (m.min_samples_leaf >= 1, f"model.min_samples_leaf must be 1 or more, got {m.min_samples_leaf}"),
        (m.n_jobs != 0, "model.n_jobs must not be 0 (use 1, a positive count, or -1 for all cores)"),
    ]


def _registration_checks(run: RunConfig) -> list[tuple[bool, str]]:
    r = run.registration
    checks = [
        (r.policy in POLICIES, _choice("registration.policy", r.policy, POLICIES)),
        (bool(re.match(MODEL_NAME_PATTERN, r.model_name)), _model_name_problem(r.model_name)),
        (r.framework in FRAMEWORKS, _choice("registration.framework", r.framework, FRAMEWORKS)),
        (bool(r.framework_version.strip()), "registration.framework_version must not be empty"),
        (bool(r.registry_dir.strip()), "registration.registry_dir must name a folder"),
    ]
    rc = r.resource_configuration
    if rc is not None:
        checks.append((rc.cpu > 0 and rc.memory_in_gb > 0,
                       "registration.resource_configuration cpu and memory_in_gb must be greater than 0, "
                       f"got cpu={rc.cpu}, memory_in_gb={rc.memory_in_gb}"))
    return checks


def _environment_checks(run: RunConfig) -> list[tuple[bool, str]]:
    e = run.environment
    sources = [key for key in ("conda_file", "pip_requirements_file", "curated") if getattr(e, key)]
    return [
        (len(sources) <= 1,
         f"environment sets {' and '.join('environment.' + k for k in sources)}; choose one of them"),
        (e.curated_version is None or e.curated is not None,
         "environment.curated_version needs environment.curated (the environment's name)"),
        (bool(e.name.strip()), "environment.name must not be empty"),
    ]


def _azure_checks(run: RunConfig) -> list[tuple[bool, str]]:
    a = run.azure
    ids = [a.subscription_id, a.resource_group, a.workspace_name]
    return [
        (a.auth in AUTH_METHODS, _choice("azure.auth", a.auth, AUTH_METHODS)),
        (all(ids) or not any(ids),
         "azure.subscription_id, azure.resource_group and azure.workspace_name go together: set all "
         "three, or none to use a config.json"),
    ]


def _sweep_checks(run: RunConfig) -> list[tuple[bool, str]]:
    s = run.sweep
    return [
        (s.goal in GOALS, _choice("sweep.goal", s.goal, GOALS)),
        (bool(s.metric.strip()), "sweep.metric must name a metric, e.g. accuracy"),
        (s.max_concurrent >= 1, f"sweep.max_concurrent must be 1 or more, got {s.max_concurrent}"),
    ]


def _model_name_problem(name: str) -> str:
    try:
        check_model_name(name)
    except ConfigError as err:
        return str(err).rstrip(".")
    return ""


def _valid_gamma(gamma: str) -> bool:
    if gamma in ("scale", "auto"):
        return True
    try:
        return float(gamma) > 0
    except ValueError:
        return False


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    return f"{key} '{value}' is not one of: {', '.join(choices)}"

