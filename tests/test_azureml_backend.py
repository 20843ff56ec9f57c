"""The Azure ML backend's run path against a fake cloud: compute, ScriptRunConfig, snapshot, wait, register."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from fake_azure import (
    SP_AUTH,
    TAGS,
    RunScript,
    make_plan,
    write_idx_folder,
)

from runner.backends.azureml.data import folder_digest
from runner.errors import SubmissionError, TaskError
from runner.registration import registration_request

# The SDK's own deprecation chatter (ruamel.yaml, FileType) is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::DeprecationWarning")



def test_creates_the_cluster_when_missing_and_waits(cloud, backend, compose_cfg, tmp_path) -> None:
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "compute.provisioning_timeout_minutes=7")
    backend.run(plan)
    [(name, config)] = cloud.created
    assert name == "cpu-cluster" and type(config).__name__ == "AmlComputeProvisioningConfiguration"
    scale = config.scale_settings
    assert (config.vm_size, config.vm_priority) == ("STANDARD_D2_V2", "dedicated")
    assert (scale.minimum_node_count, scale.maximum_node_count, scale.idle_seconds_before_scaledown) == (0, 4, 120)
    assert cloud.waits == [{"show_output": False, "min_node_count": None, "timeout_in_minutes": 7}]
    assert cloud.submissions[0].config.run_config.target == "cpu-cluster"


def test_reuses_a_matching_cluster_quietly(cloud, backend, compose_cfg, tmp_path, caplog) -> None:
    cloud.add_cluster("cpu-cluster", vm_size="Standard_D2_v2", vm_priority="Dedicated")  # service spelling
    with caplog.at_level(logging.INFO):
        backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster"))
    assert cloud.created == [] and cloud.waits == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Submitting 1 job to azureml:cpu-cluster (STANDARD_D2_V2, 0\u20134 nodes)" in caplog.messages


def test_drifted_cluster_gets_one_warning_and_is_not_modified(cloud, backend, compose_cfg, tmp_path, caplog) -> None:
    existing = cloud.add_cluster("cpu-cluster", vm_size="STANDARD_D3_V2", max_nodes=2, idle=1800)
    with caplog.at_level(logging.WARNING):
        backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster"))
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for part in ("vm_size is STANDARD_D3_V2, config says STANDARD_D2_V2", "max_nodes is 2, config says 4",
                 "idle_seconds_before_scaledown is 1800, config says 120", "compute.name=<new name>",
                 "AmlCompute.update(min_nodes=0, max_nodes=4, idle_seconds_before_scaledown=120)"):
        assert part in warning
    assert "min_nodes is" not in warning and "vm_priority is" not in warning
    assert existing.scale_settings.maximum_node_count == 2 and cloud.created == []


def test_existing_target_of_another_kind_is_refused(cloud, backend, compose_cfg, tmp_path) -> None:
    cloud.add_cluster("cpu-cluster", kind="ComputeInstance")
    with pytest.raises(SubmissionError, match="is a ComputeInstance, not an AmlCompute cluster.*compute.name="):
        backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster"))
    assert cloud.submissions == []


def test_failed_provisioning_is_a_submission_error(cloud, backend, compose_cfg, tmp_path) -> None:
    cloud.provisioning_state = "Failed"
    with pytest.raises(SubmissionError, match="Provisioning compute target 'cpu-cluster' ended in state Failed"):
        backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster"))
    assert cloud.submissions == []


def test_script_run_config_matches_the_plan_except_the_data_input(cloud, backend, compose_cfg, tmp_path) -> None:
    data = write_idx_folder(tmp_path / "mnist")
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=idx_folder", f"dataset.path={data}")
    backend.run(plan)
    src = cloud.submissions[0].config
    assert type(src).__name__ == "ScriptRunConfig" and src.script == "train.py"
    position = plan.argv.index("--data-folder") + 1
    assert [a for i, a in enumerate(src.arguments) if i != position] == [
        a for i, a in enumerate(plan.argv) if i != position]
    consumption = src.arguments[position]
    assert type(consumption).__name__ == "DatasetConsumptionConfig"
    assert (consumption.name, consumption.mode) == ("data", "download")
    assert src.run_config.environment.name == "sklearn-env"
    pip = list(src.run_config.environment.python.conda_dependencies.pip_packages)
    assert [p for p in pip if p.startswith("scikit-learn==")] and not any("pypi.python.org" in p for p in pip)
    [upload] = cloud.uploads
    digest = folder_digest(data)
    assert upload["target"][1] == f"runner-data/{digest.sha256[:16]}" and upload["overwrite"] is False
    assert upload["src_dir"] == str(data)


def test_mount_mode_and_bundled_data(cloud, backend, compose_cfg, tmp_path) -> None:
    data = write_idx_folder(tmp_path / "mnist")
    backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=idx_folder",
                          f"dataset.path={data}", "dataset.mode=mount"))
    mounted = cloud.submissions[0].config
    assert [a.mode for a in mounted.arguments if not isinstance(a, str)] == ["mount"]
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster")
    backend.run(plan)
    assert cloud.submissions[1].config.arguments == list(plan.argv)
    assert len(cloud.uploads) == 1  # bundled data: no upload


def test_local_tracked_reads_the_local_folder(cloud, backend, compose_cfg, tmp_path) -> None:
    data = write_idx_folder(tmp_path / "mnist")
    plan = make_plan(compose_cfg, tmp_path, "compute=local_tracked", "dataset=idx_folder", f"dataset.path={data}",
                     "dataset.mode=mount")
    backend.run(plan)
    src = cloud.submissions[0].config
    assert src.run_config.target == "local" and src.arguments == list(plan.argv)  # the run executes here
    assert str(data) in src.arguments and cloud.uploads == []
    assert src.run_config.environment.python.user_managed_dependencies is True  # this interpreter, no conda
    assert src.run_config.environment.python.interpreter_path == sys.executable


def test_snapshot_holds_only_the_task_files(cloud, backend, compose_cfg, tmp_path) -> None:
    source = tmp_path / "src"
    for name in ("train.py", "helper.py", "notes.txt", "data/x.gz", "outputs/model.joblib", ".git/HEAD",
                 "__pycache__/train.cpython-311.pyc", ".venv/lib/site.py", "registry/m/1/model.json"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("x")
    backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", source_dir=source))
    files = cloud.submissions[0].files
    assert sorted(files) == [".amlignore", "helper.py", "train.py"]
    ignored = files[".amlignore"].decode().splitlines()
    assert {"__pycache__/", "*.pyc", "outputs/", ".git/", "data/"} <= set(ignored)
    assert list((tmp_path / "tmp").iterdir()) == []  # the snapshot folder is removed after submit


def test_too_many_files_or_bytes_fail_before_submit(cloud, backend, compose_cfg, tmp_path) -> None:
    many = tmp_path / "many"
    many.mkdir()
    for i in range(2000):
        (many / f"m{i}.py").touch()
    (many / "train.py").touch()
    with pytest.raises(SubmissionError, match="2,002 files, more than Azure ML's limit of 2,000"):
        backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", source_dir=many))
    big = tmp_path / "big"
    big.mkdir()
    (big / "train.py").touch()
    with open(big / "weights.py", "wb") as handle:
        handle.truncate(301 * 1024 * 1024)  # sparse: no disk used
    with pytest.raises(SubmissionError, match=r"301.0 MB, more than Azure ML's limit of 300.0 MB"):
        backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", source_dir=big))
    assert cloud.submissions == [] and cloud.created == [] and cloud.connects == []  # checked before sign-in


def test_wait_collects_metrics_and_outputs_into_the_run_dir(cloud, backend, compose_cfg, tmp_path) -> None:
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "model.regularization=0.1")
    result = backend.run(plan)
    run = cloud.runs[0]
    assert ("wait_for_completion", {"show_output": True, "raise_on_error": False}) in run.calls
    assert ("download_files", {"prefix": "outputs", "output_directory": plan.run_dir}) in run.calls
    outputs = Path(plan.run_dir) / "outputs"
    assert result.status == "completed" and result.backend == "azureml" and result.remote_run is run
    assert result.model_file == outputs / "model.joblib" and result.model_file.is_file()
    assert result.metrics == {"accuracy": 0.91, "f1_macro": 0.9, "n_train": 100.0}
    assert result.data_fingerprint == {"content_sha256": "abc"} and result.url == run.get_portal_url()
    assert cloud.submissions[0].tags == {**TAGS, "overrides": f"{SP_AUTH} compute=cpu_cluster model.regularization=0.1"}
    assert cloud.submissions[0].experiment == plan.experiment_name


def test_remote_failure_raises_task_error_with_status_log_tail_and_url(cloud, backend, compose_cfg, tmp_path) -> None:
    cloud.run_script = RunScript(status="Failed", error="UserError: train.py exited with code 2")
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster")
    with pytest.raises(TaskError) as caught:
        backend.run(plan)
    message = str(caught.value)
    assert "ended with status Failed" in message and "train.py exited with code 2" in message
    assert "line 30" in message and "line 11" in message and "line 10\n" not in message
    assert cloud.runs[0].get_portal_url() in message and "Traceback" not in message
    assert (Path(plan.run_dir) / "user_logs" / "std_log.txt").is_file()


def test_wait_false_returns_right_after_submit(cloud, backend, compose_cfg, tmp_path) -> None:
    result = backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "compute.wait=false"))
    assert result.status == "submitted" and result.metrics == {} and result.model_file is None
    assert [name for name, _ in cloud.runs[0].calls] == []


def test_registration_arguments(cloud, backend, compose_cfg, tmp_path) -> None:
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "experiment=iris_svm",
                     "registration.resource_configuration.cpu=2",
                     "registration.resource_configuration.memory_in_gb=1.5",
                     "+registration.tags.team=ml")
    result = backend.run(plan)
    request = registration_request(plan, result)
    entry = backend.register(plan, result, request)
    [kwargs] = cloud.models
    assert kwargs["model_name"] == "sklearn-iris" and kwargs["model_path"] == "outputs/model.joblib"
    assert kwargs["model_framework"] == "ScikitLearn" and kwargs["model_framework_version"] == request.framework_version
    resources = kwargs["resource_configuration"]
    assert type(resources).__name__ == "ResourceConfiguration" and (resources.cpu, resources.memory_in_gb) == (2, 1.5)
    tags = kwargs["tags"]
    assert tags["team"] == "ml" and tags["area"] == "iris" and tags["config_hash"] == "f00d"
    assert kwargs["tags"]["data_sha256"] == "abc"
    assert all(isinstance(v, str) for v in kwargs["properties"].values())
    assert kwargs["properties"]["metric.accuracy"] == "0.91" and kwargs["properties"]["config_hash"] == "f00d"
    assert (entry.name, entry.version, entry.location) == ("sklearn-iris", 1, "azureml:sklearn-iris:1")
