"""Each data source as an Azure ML run's input: the dry run (offline), the submitted ScriptRunConfig's argv
with the real DatasetConsumptionConfig in place of the data path, uploads, registered-dataset look-ups,
and compute=local_tracked reading local paths. Only the cloud boundary is fake (see fake_azure.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli import RUN_PY
from fake_azure import (
    SP_ENV,
    make_plan,
    write_idx_folder,
)
from test_azureml_describe import _run_config
from test_cli_data import _network_calls, _offline_env

from runner.backends.azureml import AzureMLBackend
from runner.errors import DataError, SubmissionError

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::DeprecationWarning")

CSV_TEXT = "alcohol,malic_acid,label\n" + "".join(f"{12 + i % 3}.{i},{i % 5}.5,class_{i % 3}\n" for i in range(30))



def write_csv(path: Path, text: str = CSV_TEXT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def sha16(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def data_argument(plan: Any, arguments: list[Any], flag: str) -> Any:
    """The value after ``flag``; every other argument must be the plan's own."""
    position = plan.argv.index(flag) + 1
    assert len(arguments) == len(plan.argv)
    assert [a for i, a in enumerate(arguments) if i != position] == [a for i, a in enumerate(plan.argv) if i != position]
    return arguments[position]


def describe(plan: Any, tmp_path: Path) -> tuple[str, dict]:
    text = AzureMLBackend(cwd=tmp_path, environ=dict(SP_ENV)).describe(plan)
    return text, _run_config(text)


# --------------------------------------------------------------------------- dry run (no workspace, no network)


@pytest.mark.parametrize("mode", ["download", "mount"])
def test_dry_run_mnist_is_the_open_dataset(compose_cfg, tmp_path, mode) -> None:
    cache = tmp_path / "mnist-cache"
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=mnist", f"dataset.mode={mode}",
                     f"dataset.cache_dir={cache}")
    text, run_config = describe(plan, tmp_path)
    assert f"Azure Open Datasets MNIST FileDataset, as_{mode}()" in text
    assert f"named input 'mnist', mode {mode} (as_{mode}()); replaces the value of --data-folder" in text
    assert data_argument(plan, run_config["arguments"], "--data-folder") == "DatasetConsumptionConfig:mnist"
    # the real consumption config went into the ScriptRunConfig: the data section is the SDK's own
    entry = run_config["data"]["mnist"]
    assert (entry["mechanism"], entry["environmentVariableName"], entry["overwrite"]) == (mode, "mnist", False)
    assert entry["dataLocation"]["dataset"]["id"] is None  # assigned when submit saves the dataset
    assert not cache.exists()


def test_dry_run_csv_names_file_hash_and_datastore_path(compose_cfg, tmp_path) -> None:
    table = write_csv(tmp_path / "tables" / "wine.csv")
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=csv", f"dataset.path={table}",
                     "dataset.target=label", "dataset.mode=mount")
    text, run_config = describe(plan, tmp_path)
    digest = hashlib.sha256(table.read_bytes()).hexdigest()
    for part in (f"csv: local file {table} ({len(CSV_TEXT):,} bytes), content sha256 {digest}",
                 f"default datastore at runner-data/{digest[:16]}/wine.csv",
                 "named input 'data', mode mount (as_mount()); replaces the value of --data-file"):
        assert part in text, part
    assert data_argument(plan, run_config["arguments"], "--data-file") == "DatasetConsumptionConfig:data"
    assert run_config["data"] == {} and "a real run would stop at" not in text.split("run configuration")[0]
    # a folder holding the one .csv (any depth) is the same file and the same path
    folder_plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=csv",
                            f"dataset.path={tmp_path / 'tables'}", "dataset.target=label")
    assert f"runner-data/{digest[:16]}/wine.csv" in describe(folder_plan, tmp_path)[0]


def test_dry_run_csv_folder_with_two_tables_is_a_problem(compose_cfg, tmp_path) -> None:
    write_csv(tmp_path / "tables" / "a.csv")
    write_csv(tmp_path / "tables" / "b.csv")
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=csv",
                     f"dataset.path={tmp_path / 'tables'}", "dataset.target=label")
    text, _ = describe(plan, tmp_path)
    assert "csv: PROBLEM: dataset.path: the folder" in text and "holds 2 .csv files, not exactly one" in text
    assert text.split("a real run would stop at:")[1].count("holds 2 .csv files") == 1


@pytest.mark.parametrize(("overrides", "flag", "label"), [
    (("dataset.version=3", "dataset.mode=mount"), "--data-folder", "'mnist_opendataset' version 3, mode mount"),
    (("dataset.content=csv", "dataset.target=label"), "--data-file", "'mnist_opendataset' version latest, mode download"),
])
def test_dry_run_registered_is_resolved_at_submit(compose_cfg, tmp_path, overrides, flag, label) -> None:
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=registered",
                     "dataset.dataset_name=mnist_opendataset", *overrides)
    text, run_config = describe(plan, tmp_path)
    assert f"registered: workspace dataset {label}" in text and "resolved at submit time" in text
    assert data_argument(plan, run_config["arguments"], flag) == "DatasetConsumptionConfig:data"


def test_dry_run_bundled_and_local_tracked_keep_the_argv(compose_cfg, tmp_path) -> None:
    bundled = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=iris")
    text, run_config = describe(bundled, tmp_path)
    assert "iris: bundled with scikit-learn, no data input" in text
    assert run_config["arguments"] == list(bundled.argv) and run_config["data"] == {}
    table = write_csv(tmp_path / "wine.csv")
    local = make_plan(compose_cfg, tmp_path, "compute=local_tracked", "dataset=csv", f"dataset.path={table}",
                      "dataset.target=label")
    text, run_config = describe(local, tmp_path)
    assert "compute=local_tracked runs on this machine: the task reads this local path as it is" in text
    assert run_config["arguments"] == list(local.argv) and str(table) in run_config["arguments"]
    assert "runner-data/" not in text


# --------------------------------------------------------------------------- submit: the ScriptRunConfig argv


@pytest.mark.parametrize("mode", ["download", "mount"])
def test_mnist_input_is_the_real_open_dataset(cloud, backend, compose_cfg, tmp_path, mode) -> None:
    cache = tmp_path / "mnist-cache"
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=mnist", f"dataset.mode={mode}",
                     f"dataset.cache_dir={cache}")
    backend.run(plan)
    src = cloud.submissions[0].config
    consumption = data_argument(plan, src.arguments, "--data-folder")
    assert type(consumption).__name__ == "DatasetConsumptionConfig"
    assert (consumption.name, consumption.mode) == ("mnist", mode)
    assert type(consumption.dataset).__name__ == "FileDataset"
    assert "azureopendatastorage.blob.core.windows.net" in str(consumption.dataset)  # MNIST.get_file_dataset()
    assert cloud.uploads == [] and cloud.dataset_lookups == [] and not cache.exists()


def test_csv_is_uploaded_once_to_a_content_addressed_path(cloud, backend, compose_cfg, tmp_path) -> None:
    table = write_csv(tmp_path / "wine.csv")
    overrides = ("compute=cpu_cluster", "dataset=csv", f"dataset.path={table}", "dataset.target=label")
    first = make_plan(compose_cfg, tmp_path / "first", *overrides)
    backend.run(first)
    [upload] = cloud.uploads
    assert upload["target"][1] == f"runner-data/{sha16(table)}" and upload["target"][0].name == "workspaceblobstore"
    assert upload["overwrite"] is False and upload["files"] == {"wine.csv": table.read_bytes()}
    consumption = data_argument(first, cloud.submissions[0].config.arguments, "--data-file")
    assert (type(consumption).__name__, consumption.name, consumption.mode) == ("DatasetConsumptionConfig", "data",
                                                                                "download")
    assert type(consumption.dataset).__name__ == "FileDataset"
    assert f"paths/runner-data/{sha16(table)}/wine.csv" in str(consumption.dataset)  # Dataset.File.from_files
    # the same content again: the same path, overwrite=False (the SDK skips the file already there)
    backend.run(make_plan(compose_cfg, tmp_path / "second", *overrides, "dataset.mode=mount"))
    assert [u["target"][1] for u in cloud.uploads] == [f"runner-data/{sha16(table)}"] * 2
    assert cloud.uploads[1]["overwrite"] is False
    assert data_argument(first, cloud.submissions[1].config.arguments, "--data-file").mode == "mount"
    # other content: another path
    write_csv(table, CSV_TEXT + "13.0,1.5,class_0\n")
    backend.run(make_plan(compose_cfg, tmp_path / "third", *overrides))
    assert cloud.uploads[2]["target"][1] == f"runner-data/{sha16(table)}" != cloud.uploads[0]["target"][1]
    assert list((tmp_path / "tmp").iterdir()) == []  # the one-file upload folders are gone


def test_csv_in_a_folder_or_without_the_suffix(cloud, backend, compose_cfg, tmp_path) -> None:
    nested = write_csv(tmp_path / "tables" / "sub" / "one.csv")
    (tmp_path / "tables" / "README.md").write_text("not a table")
    backend.run(make_plan(compose_cfg, tmp_path / "a", "compute=cpu_cluster", "dataset=csv",
                          f"dataset.path={tmp_path / 'tables'}", "dataset.target=label"))
    assert cloud.uploads[0]["files"] == {"one.csv": nested.read_bytes()}
    plain = write_csv(tmp_path / "table.txt")
    backend.run(make_plan(compose_cfg, tmp_path / "b", "compute=cpu_cluster", "dataset=csv",
                          f"dataset.path={plain}", "dataset.target=label"))
    assert list(cloud.uploads[1]["files"]) == ["table.txt.csv"]  # the task finds the table by its suffix


def test_csv_problems_stop_before_sign_in(cloud, backend, compose_cfg, tmp_path) -> None:
    write_csv(tmp_path / "two" / "a.csv")
    write_csv(tmp_path / "two" / "b.csv")
    for path, message in ((tmp_path / "two", "holds 2 .csv files, not exactly one"),
                          (tmp_path / "gone.csv", "gone.csv does not exist")):
        with pytest.raises(DataError, match=message):
            backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=csv", f"dataset.path={path}",
                                  "dataset.target=label"))
    assert cloud.connects == [] and cloud.uploads == [] and cloud.submissions == []


@pytest.mark.parametrize(("overrides", "lookup", "flag", "mode"), [
    (("dataset.version=3", "dataset.mode=mount"), ("mnist_opendataset", 3), "--data-folder", "mount"),
    ((), ("mnist_opendataset", "latest"), "--data-folder", "download"),
    (("dataset.content=csv", "dataset.target=label"), ("mnist_opendataset", "latest"), "--data-file", "download"),
])
def test_registered_dataset_by_name_and_version(cloud, backend, compose_cfg, tmp_path, overrides, lookup, flag,
                                                mode) -> None:
    cloud.register_dataset("mnist_opendataset", 1, path="old/")
    wanted = cloud.register_dataset("mnist_opendataset", 3, path="mnist/")
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=registered",
                     "dataset.dataset_name=mnist_opendataset", *overrides)
    backend.run(plan)
    assert cloud.dataset_lookups == [lookup] and cloud.uploads == []
    consumption = data_argument(plan, cloud.submissions[0].config.arguments, flag)
    assert type(consumption).__name__ == "DatasetConsumptionConfig"
    assert (consumption.name, consumption.mode, consumption.dataset) == ("data", mode, wanted)


def test_missing_registered_dataset_lists_what_exists(cloud, backend, compose_cfg, tmp_path) -> None:
    cloud.register_dataset("iris_table")
    cloud.register_dataset("mnist_v2", 2)
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=registered", "dataset.dataset_name=mnist")
    with pytest.raises(SubmissionError) as caught:
        backend.run(plan)
    message = str(caught.value)
    assert "Could not get the registered dataset 'mnist' version latest from workspace 'ws'" in message
    assert 'Cannot find dataset registered with name "mnist" in the workspace' in message
    assert "Registered datasets: iris_table, mnist_v2. Set dataset.dataset_name=<one of them>." in message
    assert cloud.submissions == [] and cloud.dataset_listings == 1


def test_missing_version_or_unlistable_workspace(cloud, backend, compose_cfg, tmp_path) -> None:
    cloud.register_dataset("mnist_opendataset", 1)
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=registered",
                     "dataset.dataset_name=mnist_opendataset", "dataset.version=7")
    with pytest.raises(SubmissionError, match="'mnist_opendataset' is registered, but not with version 7: set "
                                              "dataset.version="):
        backend.run(plan)
    from azureml.exceptions import AzureMLException

    cloud.listing_error = AzureMLException("listing refused")
    with pytest.raises(SubmissionError, match=r"version 7 .*Check dataset.dataset_name and dataset.version: open "
                                              r"the workspace in the studio \(ml.azure.com\)"):
        backend.run(plan)
    assert cloud.submissions == []


def test_tabular_registered_dataset_is_refused(cloud, backend, compose_cfg, tmp_path) -> None:
    cloud.register_dataset("table", tabular=True, path="t/table.csv")
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=registered", "dataset.dataset_name=table",
                     "dataset.content=csv", "dataset.target=label")
    with pytest.raises(SubmissionError, match="does not support download.*needs a FileDataset.*not a TabularDataset"):
        backend.run(plan)
    assert cloud.submissions == []


# --------------------------------------------------------------------------- compute=local_tracked


def test_local_tracked_keeps_local_paths_and_checks_them(cloud, backend, compose_cfg, tmp_path) -> None:
    cache = write_idx_folder(tmp_path / "mnist-cache")  # a filled cache: prepare_local needs no network
    mnist = make_plan(compose_cfg, tmp_path / "a", "compute=local_tracked", "dataset=mnist",
                      f"dataset.cache_dir={cache}")
    backend.run(mnist)
    src = cloud.submissions[0].config
    assert src.run_config.target == "local" and src.arguments == list(mnist.argv) and str(cache) in src.arguments
    table = write_csv(tmp_path / "wine.csv")
    backend.run(make_plan(compose_cfg, tmp_path / "b", "compute=local_tracked", "dataset=csv", f"dataset.path={table}",
                          "dataset.target=label"))
    assert str(table) in cloud.submissions[1].config.arguments and cloud.uploads == []
    connects = len(cloud.connects)
    with pytest.raises(DataError, match="gone.csv does not exist"):  # runner.datasets.prepare_local
        backend.run(make_plan(compose_cfg, tmp_path, "compute=local_tracked", "dataset=csv",
                              f"dataset.path={tmp_path / 'gone.csv'}", "dataset.target=label"))
    assert len(cloud.connects) == connects  # before signing in


def test_local_tracked_registered_uses_the_workspace_input(cloud, backend, compose_cfg, tmp_path) -> None:
    wanted = cloud.register_dataset("digits_files", 2)
    plan = make_plan(compose_cfg, tmp_path, "compute=local_tracked", "dataset=registered",
                     "dataset.dataset_name=digits_files", "dataset.version=2")
    backend.run(plan)
    src = cloud.submissions[0].config
    assert src.run_config.target == "local" and cloud.dataset_lookups == [("digits_files", 2)]
    assert data_argument(plan, src.arguments, "--data-folder").dataset is wanted


# --------------------------------------------------------------------------- the real CLI, offline


def test_cli_mnist_tutorial_dry_run_is_offline_and_writes_nothing(tmp_path) -> None:
    cwd, home, cache = tmp_path / "cwd", tmp_path / "home", tmp_path / "xdg-cache"
    for folder in (cwd, home, cache):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYDRA_", "AZUREML_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(cache), **_offline_env(tmp_path))
    proc = subprocess.run([sys.executable, str(RUN_PY), "experiment=mnist_tutorial", "dry_run=true",
                           f"registration.registry_dir={tmp_path / 'reg'}"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for part in ((f"--dataset mnist --data-folder {cache}/aml-runner/mnist --model logistic_regression "
                 "--regularization 0.5"),
                 "Azure Open Datasets MNIST FileDataset, as_download()", "AmlCompute 'cpu-cluster'",
                 '"DatasetConsumptionConfig:mnist"', '"environmentVariableName": "mnist"',
                 "Run.register_model('sklearn_mnist'"):
        assert part in out, part
    assert _network_calls(tmp_path) == []
    assert [list(folder.iterdir()) for folder in (cwd, home, cache)] == [[], [], []]
    assert not (tmp_path / "reg").exists()
