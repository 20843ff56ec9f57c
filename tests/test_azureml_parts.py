"""The backend's pieces on real azureml-core objects: data digest and argv, environments, snapshot, imports."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_azure import FakeWorkspace

from runner import schema
from runner.backends.azureml import environment, snapshot
from runner.backends.azureml._sdk import load_sdk
from runner.backends.azureml.data import data_source, folder_digest, with_input
from runner.errors import ConfigError, DataError

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::DeprecationWarning")


def test_folder_digest_is_content_addressed(tmp_path) -> None:
    for root in (tmp_path / "a", tmp_path / "b"):
        (root / "sub").mkdir(parents=True)
        (root / "x.gz").write_bytes(b"abc")
        (root / "sub" / "y.gz").write_bytes(b"def")
    first, second = folder_digest(tmp_path / "a"), folder_digest(tmp_path / "b")
    assert first == second and (first.files, first.total_bytes) == (2, 6)
    (tmp_path / "b" / "x.gz").rename(tmp_path / "b" / "z.gz")
    assert folder_digest(tmp_path / "b").sha256 != first.sha256
    (tmp_path / "a" / "x.gz").write_bytes(b"abd")
    assert folder_digest(tmp_path / "a").sha256 != first.sha256


def test_with_input_replaces_only_the_value() -> None:
    argv = ("--dataset", "idx_folder", "--data-folder", "/local/mnist", "--seed", "0")
    marker = object()
    replaced = with_input(argv, "--data-folder", marker)
    assert replaced == ["--dataset", "idx_folder", "--data-folder", marker, "--seed", "0"]
    with pytest.raises(ConfigError, match="has no --data-file"):
        with_input(argv, "--data-file", marker)


def test_data_sources(tmp_path) -> None:
    @dataclass
    class Unsupported:
        name: str = "somewhere"

    assert data_source(schema.BundledDatasetConfig(name="iris")) is None
    with pytest.raises(ConfigError, match="dataset=somewhere has no Azure ML data input.*dataset=idx_folder"):
        data_source(Unsupported())
    missing = data_source(schema.IdxFolderDatasetConfig(path=str(tmp_path / "nope")))
    assert missing is not None and "does not exist" in (missing.problem() or "")
    sdk = load_sdk()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.gz").write_bytes(b"1")
    source = data_source(schema.IdxFolderDatasetConfig(path=str(tmp_path / "d"), mode="mount"))
    assert source is not None
    uploads: list[dict] = []
    fake = __import__("dataclasses").replace(sdk, upload_directory=lambda **kw: uploads.append(kw))
    consumption = source.consumption(fake, FakeWorkspace("ws", "sub", "rg"))
    assert type(consumption).__name__ == "DatasetConsumptionConfig"
    assert (consumption.name, consumption.mode) == ("data", "mount")
    assert uploads[0]["target"][0].name == "workspaceblobstore" and uploads[0]["show_progress"] is False


def test_default_environment_is_the_package_lists(tmp_path) -> None:
    sdk = load_sdk()
    cfg = schema.EnvironmentConfig(name="e1", python_version="3.11", conda_packages=["pip"],
                                   pip_packages=["scikit-learn==1.5.0", "azureml-core==1.61.0"])
    env = environment.build_environment(sdk, cfg, tmp_path, workspace=None)
    deps = env.python.conda_dependencies
    assert isinstance(env, sdk.Environment) and env.name == "e1" and env.environment_variables == {}
    assert list(deps.pip_packages) == ["scikit-learn==1.5.0", "azureml-core==1.61.0"]
    assert deps.get_python_version() == "3.11" and list(deps.pip_options) == []
    assert "pip" in list(deps.conda_packages)


def test_environment_from_files_and_missing_files(tmp_path) -> None:
    sdk = load_sdk()
    (tmp_path / "conda.yml").write_text("name: x\ndependencies:\n  - python=3.10\n  - pip:\n    - numpy\n")
    (tmp_path / "requirements.txt").write_text("scikit-learn==1.5.0\n")
    conda_cfg = schema.EnvironmentConfig(name="c", conda_file="conda.yml")
    conda = environment.build_environment(sdk, conda_cfg, tmp_path, None)
    assert conda.name == "c" and conda.python.conda_dependencies.get_python_version() == "3.10"
    pip = environment.build_environment(
        sdk, schema.EnvironmentConfig(name="p", pip_requirements_file="requirements.txt"), tmp_path, None)
    assert list(pip.python.conda_dependencies.pip_packages) == ["scikit-learn==1.5.0"]
    assert pip.python.conda_dependencies.get_python_version() == "3.11"  # not the SDK's 3.8 default
    with pytest.raises(ConfigError, match="environment.conda_file=gone.yml: .*gone.yml does not exist"):
        environment.build_environment(sdk, schema.EnvironmentConfig(conda_file="gone.yml"), tmp_path, None)


def test_curated_and_registered_environments(tmp_path, monkeypatch) -> None:
    sdk = load_sdk()
    fetched: list[tuple] = []
    registered: list[str] = []
    def get(ws: object, name: str, version: str | None = None) -> str:
        fetched.append((name, version))
        return "env"

    monkeypatch.setattr(sdk.Environment, "get", staticmethod(get))
    monkeypatch.setattr(sdk.Environment, "register", lambda self, workspace: registered.append(self.name) or self)
    cfg = schema.EnvironmentConfig(curated="AzureML-sklearn", curated_version="3")
    assert environment.build_environment(sdk, cfg, tmp_path, workspace="ws") == "env"
    assert fetched == [("AzureML-sklearn", "3")]
    own = schema.EnvironmentConfig(name="mine", register=True)
    env = environment.build_environment(sdk, own, tmp_path, workspace="ws")
    assert environment.register_environment(sdk, env, own, "ws") is env and registered == ["mine"]


def test_snapshot_limits_are_the_sdks() -> None:
    load_sdk()
    from azureml._restclient.constants import (
        SNAPSHOT_MAX_FILES,
        SNAPSHOT_MAX_SIZE_BYTES,
    )

    assert (snapshot.MAX_FILES, snapshot.MAX_BYTES) == (SNAPSHOT_MAX_FILES, SNAPSHOT_MAX_SIZE_BYTES)


def test_snapshot_needs_the_script(tmp_path) -> None:
    (tmp_path / "other.py").write_text("")
    with pytest.raises(ConfigError, match="train.py does not exist"):
        snapshot.plan_manifest(tmp_path, "train.py")


def test_missing_data_folder_is_a_data_error(tmp_path) -> None:
    from runner.backends.azureml.data import check_source

    with pytest.raises(DataError, match="does not exist or is not a folder"):
        check_source(data_source(schema.IdxFolderDatasetConfig(path=str(tmp_path / "nope"))))


def test_importing_the_backend_imports_no_azureml() -> None:
    code = (
        "import sys; import runner.backends.azureml as b, runner.backends.azureml.describe, "
        "runner.backends.azureml.register; from runner.backends.base import get_backend; "
        "get_backend('amlcompute'); get_backend('local_tracked'); "
        "print(sorted(m for m in sys.modules if m.startswith('azureml')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.strip() == "[]"
