"""The Azure ML dry run: offline, no workspace, no socket, no file written; and the real CLI around it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cli import RUN_PY
from fake_azure import SP_ENV, make_plan, write_idx_folder, write_workspace_config

from runner.backends.azureml import AzureMLBackend
from runner.backends.azureml.data import folder_digest

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::DeprecationWarning")


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text("print('train')\n")
    (source / "helper.py").write_text("X = 1\n")
    (source / "notes.txt").write_text("not uploaded\n")
    return source


def _run_config(text: str) -> dict:
    """The JSON block the dry run prints under 'run configuration'."""
    block = text.split("a fresh snapshot)\n", 1)[1].split("\n  a real run would stop at:")[0]
    return json.loads(textwrap.dedent(block))


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_dry_run_text(compose_cfg, tmp_path) -> None:
    config = write_workspace_config(tmp_path)
    data = write_idx_folder(tmp_path / "mnist")
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=idx_folder", f"dataset.path={data}",
                     "compute.vm_priority=lowpriority", source_dir=_source(tmp_path))
    environ = {k: v for k, v in SP_ENV.items() if not k.endswith("PASSWORD")}
    before = _tree(tmp_path)
    text = AzureMLBackend(cwd=tmp_path, environ=environ).describe(plan)
    assert _tree(tmp_path) == before
    digest = folder_digest(data).sha256
    for part in (
        (f"config file {config} (subscription_id=00000000-1111-2222-3333-444444444444, resource_group=rg, "
         "workspace_name=ws) -> Workspace.from_config"),
        "AZUREML_SERVICE_PRINCIPAL_ID set, AZUREML_SERVICE_PRINCIPAL_PASSWORD MISSING",
        "AmlCompute 'cpu-cluster'",
        "vm_size STANDARD_D2_V2, vm_priority lowpriority, min_nodes 0, max_nodes 4, idle_seconds_before_scaledown 120",
        "- python=3.11", "- scikit-learn==",
        f"content sha256 {digest}", f"default datastore at runner-data/{digest[:16]}/", "mode download (as_download())",
        ".amlignore", "helper.py", "train.py", "(limits: 2,000 files, 300.0 MB)",
        "a real run would stop at:", "missing: AZUREML_SERVICE_PRINCIPAL_PASSWORD",
    ):
        assert part in text, part
    assert "notes.txt" not in text and "pw-not-shown" not in text
    run_config = _run_config(text)
    assert run_config["script"] == "train.py" and run_config["target"] == "cpu-cluster"
    position = plan.argv.index("--data-folder") + 1
    expected = [*plan.argv[:position], "DatasetConsumptionConfig:data", *plan.argv[position + 1:]]
    assert run_config["arguments"] == expected
    assert run_config["environment"]["name"] == "sklearn-env"


def test_dry_run_without_config_json_and_local_tracked(compose_cfg, tmp_path) -> None:
    plan = make_plan(compose_cfg, tmp_path, "compute=local_tracked", "environment.curated=AzureML-sklearn-1.5",
                     source_dir=_source(tmp_path))
    text = AzureMLBackend(cwd=tmp_path, environ=dict(SP_ENV)).describe(plan)
    assert f"no config file found (searched .azureml/config.json, aml_config/config.json, config.json, " \
           f"project.json in {tmp_path}" in text
    assert "compute_target='local'" in text and '"target": "local"' in text
    assert "curated/registered 'AzureML-sklearn-1.5' version latest" in text
    assert "a real run would stop at:" in text and "No Azure ML workspace config found" in text


NO_SOCKET_SOURCES = {
    "idx_folder": ("dataset=idx_folder", "dataset.path={data}", "dataset.mode=mount"),
    "mnist": ("dataset=mnist", "dataset.cache_dir={tmp}/mnist-cache"),
    "mnist_mount": ("dataset=mnist", "dataset.cache_dir={tmp}/mnist-cache", "dataset.mode=mount"),
    "csv": ("dataset=csv", "dataset.path={tmp}/wine.csv", "dataset.target=label"),
    "registered": ("dataset=registered", "dataset.dataset_name=mnist_opendataset", "dataset.version=2"),
    "bundled": ("dataset=wine",),
}
NO_SOCKET_TEXT = {
    "idx_folder": "mode mount (as_mount())", "mnist": "Azure Open Datasets MNIST FileDataset, as_download()",
    "mnist_mount": "Azure Open Datasets MNIST FileDataset, as_mount()", "csv": "Dataset.File.from_files(",
    "registered": "resolved at submit time", "bundled": "bundled with scikit-learn, no data input",
}


@pytest.mark.parametrize("source", sorted(NO_SOCKET_SOURCES))
def test_dry_run_opens_no_socket(compose_cfg, tmp_path, monkeypatch, source) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network use in a dry run: {args!r}")

    write_workspace_config(tmp_path)
    data = write_idx_folder(tmp_path / "mnist")
    (tmp_path / "wine.csv").write_text("a,label\n1,x\n2,y\n")
    overrides = [o.format(data=data, tmp=tmp_path) for o in NO_SOCKET_SOURCES[source]]
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", *overrides)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    text = AzureMLBackend(cwd=tmp_path, environ=dict(SP_ENV)).describe(plan)  # loads the real SDK
    assert NO_SOCKET_TEXT[source] in text and '"target": "cpu-cluster"' in text
    assert "a real run would stop at" not in text
    assert not (tmp_path / "mnist-cache").exists()


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYDRA_", "AZUREML_"))}
    env["HOME"] = str(cwd)
    return subprocess.run([sys.executable, str(RUN_PY), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_cli_dry_run_prints_the_run_configuration_and_writes_nothing(tmp_path) -> None:
    proc = _cli(tmp_path, "compute=cpu_cluster", "dry_run=true", f"registration.registry_dir={tmp_path}/reg")
    assert proc.returncode == 0, proc.stderr
    for part in ("run configuration (get_run_config_from_script_run", '"target": "cpu-cluster"', '"script": "train.py"',
                 "snapshot     *.py files of", "train.py", "(limits: 2,000 files, 300.0 MB)", "no config file found"):
        assert part in proc.stdout, part
    assert list(tmp_path.iterdir()) == []


def test_cli_without_workspace_config_fails_fast_and_cleanly(tmp_path) -> None:
    started = time.monotonic()
    proc = _cli(tmp_path, "compute=cpu_cluster", f"registration.registry_dir={tmp_path}/reg")
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and elapsed < 30
    assert "No Azure ML workspace config found" in output and f"{tmp_path}/.azureml/config.json" in output
    assert "Traceback" not in output
    assert not (tmp_path / "reg").exists()
