"""A fake Azure ML cloud boundary: Workspace, Experiment, ComputeTarget (lookup/create), Run, the datastore upload,
and the workspace's dataset registry (``Dataset.get_by_name`` / ``Dataset.get_all``).

Everything else the backend builds is the real azureml-core object: ScriptRunConfig, Environment,
CondaDependencies, AmlCompute provisioning configuration, FileDataset and its consumption config,
ResourceConfiguration, the authentication objects, Open Datasets' MNIST FileDataset. Registered datasets are
real FileDatasets (``Dataset.File.from_files`` on the fake datastore). Compute targets are real ``AmlCompute``
instances whose cloud-facing methods are replaced, so ScriptRunConfig treats them as real ones.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.backends.azureml._sdk import Sdk, load_sdk

PORTAL = "https://ml.azure.com/runs/"


@dataclass
class RunScript:
    """How the next fake run behaves."""

    status: str = "Completed"
    metrics: dict[str, Any] = field(default_factory=lambda: {"accuracy": 0.91, "f1_macro": 0.9, "n_train": 100})
    remote_metrics: dict[str, Any] = field(default_factory=lambda: {"accuracy": 0.91, "loss_curve": [1.0, 0.5]})
    log_name: str = "user_logs/std_log.txt"
    log_lines: list[str] = field(default_factory=lambda: [f"line {i}" for i in range(1, 31)])
    error: str | None = None
    # Statuses before ``status``: get_status() returns timeline[k] after k FakeCloud.tick() calls.
    timeline: list[str] = field(default_factory=list)


class FakeModel:
    """What ``Run.register_model`` returns."""

    def __init__(self, name: str, version: int) -> None:
        self.name, self.version, self.id = name, version, f"{name}:{version}"


class FakeRun:
    """A submitted run: records every call, writes outputs/ on download_files."""

    def __init__(self, cloud: FakeCloud, run_id: str, script: RunScript) -> None:
        self.cloud, self.id, self.script = cloud, run_id, script
        self.calls: list[tuple[str, Any]] = []
        self.step = 0  # poll rounds (FakeCloud.tick) since submit

    def get_portal_url(self) -> str:
        return PORTAL + self.id

    def wait_for_completion(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("wait_for_completion", kwargs))
        return {"status": self.script.status}

    def get_status(self) -> str:
        timeline = self.script.timeline
        return timeline[self.step] if self.step < len(timeline) else self.script.status

    def get_details(self) -> dict[str, Any]:
        return {"error": {"error": {"message": self.script.error}}} if self.script.error else {}

    def get_metrics(self) -> dict[str, Any]:
        return dict(self.script.remote_metrics)

    def get_file_names(self) -> list[str]:
        return ["azureml-logs/20_image_build_log.txt", self.script.log_name, "outputs/model.joblib"]

    def download_file(self, name: str, output_file_path: str) -> None:
        self.calls.append(("download_file", name))
        Path(output_file_path).write_text("\n".join(self.script.log_lines) + "\n", encoding="utf-8")

    def download_files(self, prefix: str, output_directory: str, **kwargs: Any) -> None:
        self.calls.append(("download_files", {"prefix": prefix, "output_directory": output_directory}))
        outputs = Path(output_directory) / prefix
        outputs.mkdir(parents=True, exist_ok=True)
        record = {**self.script.metrics, "params": {"model": "logistic_regression"}, "model_file": "model.joblib"}
        (outputs / "metrics.json").write_text(json.dumps(record), encoding="utf-8")
        (outputs / "data_fingerprint.json").write_text(json.dumps({"content_sha256": "abc"}), encoding="utf-8")
        (outputs / "model.joblib").write_bytes(b"fake model bytes")

    def register_model(self, **kwargs: Any) -> FakeModel:
        self.calls.append(("register_model", kwargs))
        self.cloud.models.append(kwargs)
        return FakeModel(kwargs["model_name"], len(self.cloud.models))


class FakeWorkspace:
    """A workspace object as the SDK returns it (the attributes the backend and datastore read)."""

    def __init__(self, name: str, subscription_id: str, resource_group: str, cloud: FakeCloud | None = None) -> None:
        self.name, self.subscription_id, self.resource_group = name, subscription_id, resource_group
        self._auth = None
        self.service_context = None
        self.cloud = cloud

    def get_run(self, run_id: str) -> FakeRun:
        """Workspace.get_run: the submitted run with this id (AzureMLException when unknown)."""
        assert self.cloud is not None
        self.cloud.reopened.append(run_id)
        found = [run for run in self.cloud.runs if run.id == run_id and run_id not in self.cloud.deleted]
        if not found:
            from azureml.exceptions import AzureMLException

            raise AzureMLException(f"RunNotFound: run {run_id} was not found in workspace {self.name}")
        return found[0]

    def get_default_datastore(self) -> Any:
        from azureml.data.azure_storage_datastore import AzureBlobDatastore

        return AzureBlobDatastore(self, "workspaceblobstore", "azureml-blobstore-x", "storageaccount")


@dataclass
class Submission:
    """One Experiment.submit call, with the snapshot folder's files read at submit time."""

    experiment: str
    config: Any
    tags: dict[str, str]
    files: dict[str, bytes]
    tick: int = 0  # FakeCloud.ticks when it was submitted


class FakeCloud:
    """State and call records of the fake workspace; ``sdk()`` returns the real Sdk with the fakes swapped in."""

    def __init__(self) -> None:
        self.computes: dict[str, Any] = {}
        self.created: list[tuple[str, Any]] = []
        self.waits: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self.submissions: list[Submission] = []
        self.models: list[dict[str, Any]] = []
        self.connects: list[dict[str, Any]] = []
        self.runs: list[FakeRun] = []
        self.run_script = RunScript()
        self.scripts: list[RunScript] = []  # per submission, in order; then run_script for the rest
        self.reopened: list[str] = []  # Workspace.get_run calls
        self.deleted: set[str] = set()  # run ids get_run no longer finds
        self.ticks = 0
        self.connect_error: BaseException | None = None
        self.provisioning_state = "Succeeded"
        # Registered datasets: name -> {version: dataset}; every get_by_name / get_all call is recorded.
        self.datasets: dict[str, dict[int, Any]] = {}
        self.dataset_lookups: list[tuple[str, Any]] = []
        self.dataset_listings = 0
        self.listing_error: BaseException | None = None
        self.real = load_sdk()

    def register_dataset(self, name: str, version: int = 1, path: str = "registered/files/",
                         tabular: bool = False) -> Any:
        """Put a dataset into the workspace's registry (a real FileDataset, or TabularDataset, built offline)."""
        datastore = FakeWorkspace("ws", "sub", "rg").get_default_datastore()
        if tabular:
            dataset = self.real.Dataset.Tabular.from_delimited_files(path=(datastore, path), validate=False,
                                                                     infer_column_types=False)
        else:
            dataset = self.real.Dataset.File.from_files(path=(datastore, path), validate=False)
        self.datasets.setdefault(name, {})[version] = dataset
        return dataset

    def add_cluster(self, name: str = "cpu-cluster", *, vm_size: str = "STANDARD_D2_V2",
                    vm_priority: str = "Dedicated", min_nodes: int = 0, max_nodes: int = 4,
                    idle: int = 120, kind: str = "AmlCompute") -> Any:
        """Put an existing compute target into the workspace."""
        from azureml.core.compute.amlcompute import ScaleSettings

        target = self._compute(name, kind)
        target.vm_size, target.vm_priority = vm_size, vm_priority
        target.scale_settings = ScaleSettings(min_nodes, max_nodes, idle)
        self.computes[name] = target
        return target

    def _compute(self, name: str, kind: str) -> Any:
        """A real AmlCompute (or ComputeInstance) object with its cloud methods replaced."""
        from azureml.core.compute import AmlCompute, ComputeInstance

        target = object.__new__(AmlCompute if kind == "AmlCompute" else ComputeInstance)
        target.name, target.type, target.location, target.cluster_location = name, kind, "westeurope", "westeurope"
        target.provisioning_state, target.provisioning_errors, target.status = self.provisioning_state, None, None
        target.wait_for_completion = lambda **kwargs: self.waits.append(kwargs)
        return target

    def sdk(self) -> Sdk:
        """The real Sdk with Workspace, Experiment, ComputeTarget and upload_directory replaced."""
        cloud = self

        class Workspace:
            @staticmethod
            def from_config(path: str | None = None, auth: Any = None) -> FakeWorkspace:
                return cloud.connect("from_config", {"path": path, "auth": auth})

            @staticmethod
            def get(name: str, auth: Any = None, subscription_id: str | None = None,
                    resource_group: str | None = None) -> FakeWorkspace:
                ids = {"name": name, "subscription_id": subscription_id, "resource_group": resource_group}
                return cloud.connect("get", {**ids, "auth": auth})

        class ComputeTarget:
            def __new__(cls, workspace: Any, name: str) -> Any:
                if name not in cloud.computes:
                    raise cloud.real.ComputeTargetException(
                        f"ComputeTargetNotFound: Compute Target with name {name} not found in provided workspace")
                return cloud.computes[name]

            @staticmethod
            def create(workspace: Any, name: str, provisioning_configuration: Any) -> Any:
                cloud.created.append((name, provisioning_configuration))
                target = cloud._compute(name, "AmlCompute")
                cloud.computes[name] = target
                return target

        class Experiment:
            def __init__(self, workspace: Any, name: str) -> None:
                self.name = name

            def submit(self, config: Any, tags: dict[str, str] | None = None) -> FakeRun:
                return cloud.submit(self.name, config, dict(tags or {}))

        def upload_directory(**kwargs: Any) -> None:
            folder = Path(kwargs["src_dir"])  # read now: a one-file upload's folder is deleted afterwards
            files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
            cloud.uploads.append({**kwargs, "files": files})

        class Dataset(self.real.Dataset):  # File / Tabular factories stay real
            @staticmethod
            def get_by_name(workspace: Any, name: str, version: Any = "latest") -> Any:
                return cloud.get_dataset(name, version)

            @staticmethod
            def get_all(workspace: Any) -> dict[str, Any]:
                cloud.dataset_listings += 1
                if cloud.listing_error is not None:
                    raise cloud.listing_error
                return {name: versions[max(versions)] for name, versions in cloud.datasets.items()}

        return dataclasses.replace(self.real, Workspace=Workspace, Experiment=Experiment,
                                   ComputeTarget=ComputeTarget, upload_directory=upload_directory, Dataset=Dataset)

    def get_dataset(self, name: str, version: Any) -> Any:
        """Dataset.get_by_name: the SDK's UserErrorException (its 404 message) when name or version is missing."""
        self.dataset_lookups.append((name, version))
        versions = self.datasets.get(name, {})
        number = max(versions, default=None) if version == "latest" else int(version)
        if number not in versions:
            from azureml.exceptions import UserErrorException

            suffix = "" if version == "latest" else f" (version: {version})"
            raise UserErrorException(f'Cannot find dataset registered with name "{name}"{suffix} in the workspace.')
        return versions[number]

    def connect(self, how: str, details: dict[str, Any]) -> FakeWorkspace:
        """Workspace.from_config / Workspace.get."""
        self.connects.append({"how": how, **details})
        if self.connect_error is not None:
            raise self.connect_error
        return FakeWorkspace("ws", "00000000-1111-2222-3333-444444444444", "rg", cloud=self)

    def tick(self, seconds: float = 0.0) -> None:
        """One poll interval passes (use as the backend's sleep): every run moves one step along its timeline."""
        self.ticks += 1
        for run in self.runs:
            run.step += 1

    def submit(self, experiment: str, config: Any, tags: dict[str, str]) -> FakeRun:
        """Experiment.submit: keep the snapshot's files (the folder is deleted afterwards)."""
        folder = Path(config.source_directory)
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        self.submissions.append(Submission(experiment, config, tags, files, tick=self.ticks))
        script = self.scripts.pop(0) if self.scripts else self.run_script
        run = FakeRun(self, f"{experiment}_{len(self.submissions)}", script)
        self.runs.append(run)
        return run


# --------------------------------------------------------------------------- plans and workspace files for tests

TASKS_DIR = Path(__file__).resolve().parents[1] / "tasks"
TAGS = {"git_commit": "abc123", "git_dirty": "false", "config_hash": "f00d"}
CONFIG_JSON = {"subscription_id": "00000000-1111-2222-3333-444444444444", "resource_group": "rg",
               "workspace_name": "ws"}


SP_ENV = {"AZUREML_SERVICE_PRINCIPAL_TENANT_ID": "tenant-1", "AZUREML_SERVICE_PRINCIPAL_ID": "sp-1",
          "AZUREML_SERVICE_PRINCIPAL_PASSWORD": "pw-not-shown"}
SP_AUTH = "azure.auth=service_principal"  # builds offline (interactive sign-in would prompt and reach out)


def make_plan(compose_cfg: Any, tmp_path: Path, *overrides: str, source_dir: Path = TASKS_DIR) -> Any:
    """A Plan as run.py builds it, with the run folder and cwd under ``tmp_path``; auth is a service principal."""
    from runner.plan import build_plan
    from runner.validate import validate

    overrides = (SP_AUTH, *overrides)
    run = validate(compose_cfg(*overrides))
    return build_plan(run, run_dir=str(tmp_path / "run"), cwd=str(tmp_path), source_dir=str(source_dir),
                      tags=TAGS, overrides=tuple(overrides))


def write_workspace_config(folder: Path) -> Path:
    """Write ``<folder>/.azureml/config.json`` as downloaded from the portal."""
    path = folder / ".azureml" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(CONFIG_JSON), encoding="utf-8")
    return path


def write_idx_folder(folder: Path) -> Path:
    """Four small files standing in for the MNIST idx files (the fake run never reads them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(name.encode() * 10)
    return folder
