"""Dataclass schemas of every config group: the one place where defaults live.

Each YAML option under ``conf/<group>/`` starts its defaults list with
``/schema/<group>/<kind>@_here_`` so Hydra validates it (types, unknown keys) at composition.
Range checks that types cannot express live in :mod:`runner.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

# Field metadata key: False keeps a field out of the task's argv (it configures the backend).
TASK_ARG = "task_arg"
# Field metadata key: the task flag a field becomes when it is not ``--<field-name>``
# (``path`` → ``--data-folder`` for idx folders, ``--data-file`` for tables).
FLAG = "flag"
# Where the parsed-array and MNIST caches live by default: the user's cache folder, never the repo.
USER_CACHE = "${oc.env:XDG_CACHE_HOME,${oc.env:HOME}/.cache}/aml-runner"

# --------------------------------------------------------------------------- compute


@dataclass
class LocalComputeConfig:
    """Run the task as a subprocess on this machine."""

    kind: str = "local"
    name: str = "local"
    # BLAS/OpenMP threads for the task; null: all cores for one run, cores / parallel jobs in a
    # joblib sweep, so parallel jobs never oversubscribe the CPU.
    threads: Optional[int] = None


@dataclass
class LocalTrackedComputeConfig:
    """Run on this machine but record the run in the Azure ML workspace (``compute_target="local"``)."""

    kind: str = "local_tracked"
    name: str = "local"
    wait: bool = True
    # Run with this machine's Python (user-managed dependencies); false: let Azure ML build the
    # environment config with conda on this machine, as a cluster would.
    use_current_python: bool = True


@dataclass
class AmlComputeConfig:
    """An Azure ML ``AmlCompute`` cluster, created on first use (SDK v1)."""

    kind: str = "amlcompute"
    name: str = "cpu-cluster"
    vm_size: str = "STANDARD_D2_V2"
    vm_priority: str = "dedicated"  # dedicated | lowpriority
    min_nodes: int = 0
    max_nodes: int = 4
    # The SDK default (1,800 s) bills up to half an hour of idle nodes after every run.
    idle_seconds_before_scaledown: int = 120
    provisioning_timeout_minutes: int = 20
    wait: bool = True


# --------------------------------------------------------------------------- dataset


@dataclass
class BundledDatasetConfig:
    """A dataset scikit-learn ships (digits, iris, wine): no download, split by ``test_size``."""

    name: str = "digits"
    test_size: float = 0.25


@dataclass
class IdxFolderDatasetConfig:
    """The tutorials' MNIST layout: four idx(.gz) files anywhere below ``path``."""

    name: str = "idx_folder"
    path: str = field(default=MISSING, metadata={FLAG: "--data-folder"})
    # How an Azure ML run sees the uploaded folder (download | mount); not a task argument.
    mode: str = field(default="download", metadata={TASK_ARG: False})


@dataclass
class MnistDatasetConfig:
    """MNIST from Azure Open Datasets, kept in a user cache folder; the task reads it as an idx folder.

    Locally the runner fills ``cache_dir`` once (the only network use); on Azure ML the open
    dataset itself is the run's input (``mode`` download | mount).
    """

    name: str = "mnist"
    cache_dir: str = field(default=USER_CACHE + "/mnist", metadata={FLAG: "--data-folder"})
    mode: str = field(default="download", metadata={TASK_ARG: False})


@dataclass
class CsvDatasetConfig:
    """Your own table: a CSV file (or a folder holding exactly one) with a target column."""

    name: str = "csv"
    path: str = field(default=MISSING, metadata={FLAG: "--data-file"})
    target: str = MISSING
    features: list[str] = field(default_factory=list)  # empty: every column except the target
    test_size: float = 0.25
    mode: str = field(default="download", metadata={TASK_ARG: False})


@dataclass
class RegisteredDatasetConfig:
    """A dataset registered in the Azure ML workspace, by name and version (remote runs only).

    ``content`` says how the task reads it: ``idx_folder`` (the four MNIST files) or ``csv``
    (then ``target``, ``features`` and ``test_size`` apply as for ``dataset=csv``).
    """

    name: str = "registered"
    dataset_name: str = MISSING
    version: Optional[int] = None  # None: the latest version
    content: str = "idx_folder"  # idx_folder | csv
    target: Optional[str] = None
    features: list[str] = field(default_factory=list)
    test_size: float = 0.25
    mode: str = "download"


# --------------------------------------------------------------------------- model


@dataclass
class LogisticRegressionConfig:
    """Logistic regression as in the MNIST tutorial: C = 1 / regularization."""

    name: str = "logistic_regression"
    regularization: float = 0.5
    solver: str = "lbfgs"
    max_iter: int = 1000


@dataclass
class SvmConfig:
    """Support vector classifier as in the iris tutorial: C = penalty."""

    name: str = "svm"
    kernel: str = "rbf"
    penalty: float = 1.0
    gamma: str = "scale"
    degree: int = 3


@dataclass
class RandomForestConfig:
    """Random forest; ``n_jobs`` stays 1 so parallel sweeps do not oversubscribe the CPU."""

    name: str = "random_forest"
    n_estimators: int = 100
    max_depth: Optional[int] = None
    min_samples_leaf: int = 1
    n_jobs: int = 1


# --------------------------------------------------------------------------- registration


@dataclass
class ResourceConfig:
    """Azure ML ``ResourceConfiguration`` for no-code deployment."""

    cpu: float = 1.0
    memory_in_gb: float = 0.5


@dataclass
class RegistrationConfig:
    """Which runs register their model, under which name, and where the local registry is."""

    policy: str = "each"  # each | best (a sweep registers only its best job) | none
    model_name: str = "sklearn_${dataset.name}"
    framework: str = "ScikitLearn"
    framework_version: str = "${pkg_version:scikit-learn}"
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    resource_configuration: Optional[ResourceConfig] = None
    registry_dir: str = "${project_root:}/registry"


# --------------------------------------------------------------------------- environment


@dataclass
class EnvironmentConfig:
    """The remote image: conda/pip packages pinned to the versions the local fit uses."""

    name: str = "sklearn-env"
    python_version: str = "3.11"
    conda_packages: list[str] = field(default_factory=list)
    pip_packages: list[str] = field(default_factory=list)
    # Alternatives to the package lists (at most one): a conda YAML file, a pip requirements
    # file, or a curated/registered workspace environment by name (and version).
    conda_file: Optional[str] = None
    pip_requirements_file: Optional[str] = None
    curated: Optional[str] = None
    curated_version: Optional[str] = None
    register: bool = False  # register the built environment in the workspace


# --------------------------------------------------------------------------- azure


@dataclass
class AzureConfig:
    """Which Azure ML workspace to use and how to sign in; read only by the Azure ML backends."""

    # None: search .azureml/config.json, aml_config/config.json and config.json upward from the
    # current folder, as Workspace.from_config() does. Explicit ids below take precedence.
    config_file: Optional[str] = None
    subscription_id: Optional[str] = None
    resource_group: Optional[str] = None
    workspace_name: Optional[str] = None
    auth: str = "interactive"  # interactive | service_principal | managed_identity | azure_cli
    tenant_id: Optional[str] = None  # interactive only; service principals read theirs from the environment
    managed_identity_client_id: Optional[str] = None
    telemetry: bool = False  # Microsoft's SDK telemetry stays off unless turned on here


# --------------------------------------------------------------------------- sweep


@dataclass
class SweepConfig:
    """How a multirun (-m) is judged and run: the metric to rank by, concurrency, failure policy."""

    metric: str = "accuracy"
    goal: str = "maximize"  # maximize | minimize
    max_concurrent: int = 4  # remote runs in flight at once (Azure ML sweeps)
    fail_fast: bool = False  # skip the jobs that start after the first failure


# --------------------------------------------------------------------------- top level


@dataclass
class RunnerConfig:
    """The composed config; each group node is validated by its own schema above."""

    compute: Any = MISSING
    dataset: Any = MISSING
    model: Any = MISSING
    registration: Any = MISSING
    environment: Any = MISSING
    azure: AzureConfig = field(default_factory=AzureConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    experiment_name: str = "${dataset.name}_${model.name}"
    seed: int = 0
    dry_run: bool = False
    # Parsed arrays of file datasets, keyed by the files' content; null turns the cache off.
    # Local runs only: remote plans never carry it (see runner.plan.LOCAL_ONLY_FLAGS).
    data_cache_dir: Optional[str] = USER_CACHE + "/parsed"
    preview: bool = False  # save outputs/samples.png for image datasets (needs matplotlib)


# The validated type of each polymorphic group (one name for RunConfig, Plan and the backends).
ComputeConfig = LocalComputeConfig | LocalTrackedComputeConfig | AmlComputeConfig
DatasetConfig = (BundledDatasetConfig | IdxFolderDatasetConfig | MnistDatasetConfig | CsvDatasetConfig
                 | RegisteredDatasetConfig)
ModelConfig = LogisticRegressionConfig | SvmConfig | RandomForestConfig

# Options per group: the ``kind``/``name`` value a node carries → its schema.
COMPUTE_SCHEMAS: dict[str, type] = {
    "local": LocalComputeConfig,
    "local_tracked": LocalTrackedComputeConfig,
    "amlcompute": AmlComputeConfig,
}
DATASET_SCHEMAS: dict[str, type] = {
    "digits": BundledDatasetConfig,
    "iris": BundledDatasetConfig,
    "wine": BundledDatasetConfig,
    "idx_folder": IdxFolderDatasetConfig,
    "mnist": MnistDatasetConfig,
    "csv": CsvDatasetConfig,
    "registered": RegisteredDatasetConfig,
}
MODEL_SCHEMAS: dict[str, type] = {
    "logistic_regression": LogisticRegressionConfig,
    "svm": SvmConfig,
    "random_forest": RandomForestConfig,
}
