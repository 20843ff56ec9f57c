"""Data-source configs: validation, defaults, and the argv the plan gives the task for each source."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from runner import datasets, schema
from runner.errors import ConfigError
from runner.plan import LOCAL_ONLY_FLAGS, build_plan
from runner.report import describe_data
from runner.validate import validate

TAGS = {"git_commit": "abc", "git_dirty": "false", "config_hash": "123"}
CSV = ("dataset=csv", "dataset.path=data/t.csv", "dataset.target=label")
REGISTERED = ("dataset=registered", "dataset.dataset_name=mnist_opendataset")


def _plan(compose_cfg, *overrides: str, cwd: str = "/home/u/p"):
    run = validate(compose_cfg(*overrides))
    return build_plan(run, run_dir="/runs/x", cwd=cwd, source_dir="/src/tasks", tags=TAGS)


def _flag(argv: tuple[str, ...], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


# ---------------------------------------------------------------- defaults


def test_cache_folders_default_to_the_user_cache(compose_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    run = validate(compose_cfg("dataset=mnist"))
    assert run.dataset.cache_dir == "/xdg/aml-runner/mnist"
    assert run.data_cache_dir == "/xdg/aml-runner/parsed" and run.preview is False
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/someone")
    assert validate(compose_cfg("dataset=mnist")).dataset.cache_dir == "/home/someone/.cache/aml-runner/mnist"


def test_saved_config_from_before_the_data_keys_validates(compose_cfg) -> None:
    saved = OmegaConf.to_container(compose_cfg())
    del saved["data_cache_dir"], saved["preview"]
    run = validate(OmegaConf.create(saved))
    assert run.preview is False and run.data_cache_dir.endswith("aml-runner/parsed")


# ---------------------------------------------------------------- argv per source


def test_mnist_argv(compose_cfg) -> None:
    plan = _plan(compose_cfg, "dataset=mnist", "dataset.cache_dir=x/../m", "data_cache_dir=/c", "dataset.mode=mount")
    assert plan.argv[:6] == ("--dataset", "mnist", "--data-folder", "/home/u/p/m", "--cache-dir", "/c")
    assert plan.dataset.cache_dir == "/home/u/p/m" and "mount" not in plan.argv and "--mode" not in plan.argv


def test_csv_argv(compose_cfg) -> None:
    plan = _plan(compose_cfg, *CSV, "dataset.features=[a,b c]", "dataset.test_size=0.3", "data_cache_dir=cache")
    assert plan.argv[:12] == ("--dataset", "csv", "--data-file", "/home/u/p/data/t.csv", "--target", "label",
                              "--features", "a,b c", "--test-size", "0.3", "--cache-dir", "/home/u/p/cache")
    no_features = _plan(compose_cfg, *CSV)
    assert "--features" not in no_features.argv  # empty list: every other column


def test_cache_dir_is_local_only(compose_cfg) -> None:
    local = _plan(compose_cfg, "dataset=idx_folder", "dataset.path=/d")
    tracked = _plan(compose_cfg, "dataset=idx_folder", "dataset.path=/d", "compute=local_tracked")
    cluster = _plan(compose_cfg, "dataset=idx_folder", "dataset.path=/d", "compute=cpu_cluster")
    assert _flag(local.argv, "--cache-dir") and tracked.argv == local.argv
    assert LOCAL_ONLY_FLAGS == ("--cache-dir",)
    cache = _flag(local.argv, "--cache-dir")
    assert cluster.argv == tuple(a for a in local.argv if a not in ("--cache-dir", cache))
    off = _plan(compose_cfg, "dataset=idx_folder", "dataset.path=/d", "data_cache_dir=null")
    assert off.argv == cluster.argv
    assert "--cache-dir" not in _plan(compose_cfg).argv  # bundled data: nothing to cache


def test_registered_argv_puts_a_reference_under_the_data_flag(compose_cfg) -> None:
    idx = _plan(compose_cfg, *REGISTERED, "compute=cpu_cluster")
    assert idx.argv[:4] == ("--dataset", "idx_folder", "--data-folder", "azureml:mnist_opendataset:latest")
    assert isinstance(idx.dataset, schema.RegisteredDatasetConfig)  # the plan keeps name, version, mode
    table = _plan(compose_cfg, "dataset=registered", "dataset.dataset_name=t", "dataset.version=3",
                  "dataset.content=csv", "dataset.target=y", "compute=cpu_cluster")
    assert table.argv[:8] == ("--dataset", "csv", "--data-file", "azureml:t:3", "--target", "y",
                              "--test-size", "0.25")
    assert datasets.data_flag(table.dataset) == "--data-file"
    tracked = _plan(compose_cfg, *REGISTERED, "compute=local_tracked")
    assert _flag(tracked.argv, "--cache-dir")  # parsed on this machine: the cache applies


def test_preview_flag(compose_cfg) -> None:
    assert _plan(compose_cfg, "preview=true").argv[-1] == "--preview"
    assert "--preview" not in _plan(compose_cfg).argv


def test_dry_run_describes_each_source(compose_cfg) -> None:
    lines = {
        "mnist": describe_data(_plan(compose_cfg, "dataset=mnist", "dataset.cache_dir=/m").dataset),
        "csv": describe_data(_plan(compose_cfg, *CSV).dataset),
        "registered": describe_data(_plan(compose_cfg, *REGISTERED, "compute=cpu_cluster").dataset),
    }
    assert lines["mnist"].startswith("mnist: Azure Open Datasets MNIST, cached in /m")
    assert lines["csv"] == ("csv: /home/u/p/data/t.csv, target label, features every other column, "
                            "test_size 0.25")
    assert lines["registered"].startswith("registered: azureml:mnist_opendataset:latest from the Azure ML workspace")


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["dataset=csv", "dataset.path=t.csv"], "dataset.target is required but not set"),
        (["dataset=csv", "dataset.target=y"], "dataset.path is required but not set"),
        ([*CSV, "dataset.target=''"], "dataset.target must name the label column"),
        ([*CSV, "dataset.test_size=0"], "dataset.test_size must be between 0 and 1"),
        ([*CSV, "dataset.features=['a,b']"], "dataset.features entries must be non-empty column names without ','"),
        ([*CSV, "dataset.features=[label]"], "dataset.features must not include the target column 'label'"),
        ([*CSV, "dataset.mode=stream"], "dataset.mode 'stream' is not one of: download, mount"),
        (["dataset=mnist", "dataset.cache_dir=''"], "dataset.cache_dir must name a folder"),
        (["dataset=mnist", "dataset.mode=copy"], "dataset.mode 'copy' is not one of"),
        (["dataset=registered"], "dataset.dataset_name is required but not set"),
        ([*REGISTERED], "dataset=registered needs an Azure ML workspace, which compute=local does not use: "
                        "run it with compute=local_tracked or a cluster"),
        ([*REGISTERED, "compute=cpu_cluster", "dataset.version=0"], "dataset.version must be null (latest) or 1 or more"),
        ([*REGISTERED, "compute=cpu_cluster", "dataset.content=parquet"],
         "dataset.content 'parquet' is not one of: idx_folder, csv"),
        ([*REGISTERED, "compute=cpu_cluster", "dataset.content=csv"], "dataset.target must name the label column"),
        ([*REGISTERED, "compute=cpu_cluster", "dataset.target=y"],
         "dataset.target and dataset.features apply only to dataset.content=csv"),
        (["data_cache_dir=''"], "data_cache_dir must name a folder, or be null"),
    ],
)
def test_data_config_errors(compose_cfg, overrides: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(compose_cfg(*overrides))
    assert expected in str(err.value)
