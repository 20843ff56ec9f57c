"""The plan: pure, frozen, argv in the tutorials' style, paths made absolute."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from runner.plan import build_plan, task_argv
from runner.validate import validate

TAGS = {"git_commit": "abc", "git_dirty": "false", "config_hash": "123"}


def _plan(compose_cfg, *overrides: str, cwd: str = "/home/user/project"):
    run = validate(compose_cfg(*overrides))
    return build_plan(run, run_dir="/runs/x", cwd=cwd, source_dir="/src/tasks", tags=TAGS)


def test_default_argv(compose_cfg) -> None:
    plan = _plan(compose_cfg)
    assert plan.argv == (
        "--dataset", "digits", "--test-size", "0.25",
        "--model", "logistic_regression", "--regularization", "0.5", "--solver", "lbfgs", "--max-iter", "1000",
        "--seed", "0", "--output-dir", "outputs",
    )
    assert plan.script == "train.py" and str(plan.script_path) == "/src/tasks/train.py"


def test_overrides_reach_argv(compose_cfg) -> None:
    plan = _plan(compose_cfg, "model.regularization=0.1", "model.solver=liblinear", "seed=7")
    argv = " ".join(plan.argv)
    assert "--regularization 0.1 --solver liblinear" in argv and "--seed 7" in argv


def test_svm_and_forest_argv(compose_cfg) -> None:
    svm = _plan(compose_cfg, "experiment=iris_svm")
    assert " ".join(svm.argv).startswith("--dataset iris --test-size 0.25 --model svm --kernel linear --penalty 1.0")
    forest = _plan(compose_cfg, "model=random_forest", "dataset=wine")
    argv = " ".join(forest.argv)
    assert "--n-estimators 100" in argv and "--max-depth" not in argv  # None is left out
    assert "--max-depth 5" in " ".join(_plan(compose_cfg, "model=random_forest", "model.max_depth=5").argv)


def test_idx_folder_path_becomes_absolute(compose_cfg) -> None:
    plan = _plan(compose_cfg, "dataset=idx_folder", "dataset.path=data/../data/mnist", cwd="/home/u/p")
    assert plan.argv[:4] == ("--dataset", "idx_folder", "--data-folder", "/home/u/p/data/mnist")
    assert plan.dataset.path == "/home/u/p/data/mnist"


def test_registry_dir_relative_to_cwd(compose_cfg) -> None:
    plan = _plan(compose_cfg, "registration.registry_dir=reg", cwd="/w")
    assert plan.registration.registry_dir == "/w/reg"


def test_tags_merge_user_and_provenance(compose_cfg) -> None:
    plan = _plan(compose_cfg, "experiment=iris_svm")
    assert plan.tags["area"] == "iris" and plan.tags["git_commit"] == "abc"


def test_plan_is_frozen(compose_cfg) -> None:
    plan = _plan(compose_cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.argv = ()  # type: ignore[misc]


def test_building_a_plan_does_not_touch_the_disk(compose_cfg, tmp_path) -> None:
    missing = tmp_path / "nowhere"
    plan = _plan(compose_cfg, "dataset=idx_folder", f"dataset.path={missing}")
    assert plan.dataset.path == str(missing) and not missing.exists()


def test_task_argv_is_the_same_for_every_backend(compose_cfg) -> None:
    local = _plan(compose_cfg)
    remote = _plan(compose_cfg, "compute=cpu_cluster")
    assert local.argv == remote.argv
    run = validate(compose_cfg())
    assert task_argv(run.dataset, run.model, run.seed) == local.argv


def test_plan_path_imports_no_heavy_library() -> None:
    code = (
        "import sys; import runner.app, runner.plan, runner.validate, runner.report, runner.backends.local; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'azureml', 'numpy', 'scipy')); "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_backend_only_fields_stay_out_of_argv(compose_cfg) -> None:
    plan = _plan(compose_cfg, "dataset=idx_folder", "dataset.path=/d", "dataset.mode=mount")
    assert "--mode" not in plan.argv and "mount" not in plan.argv
    assert plan.dataset.mode == "mount"


def test_config_hash_ignores_where_the_data_sits(compose_cfg) -> None:
    from runner.app import _hashed_sections

    here = validate(compose_cfg("dataset=idx_folder", "dataset.path=/a/mnist"))
    there = validate(compose_cfg("dataset=idx_folder", "dataset.path=/b/mnist", "dataset.mode=mount"))
    other = validate(compose_cfg("dataset=idx_folder", "dataset.path=/a/mnist", "model.regularization=0.2"))
    assert _hashed_sections(here) == _hashed_sections(there)
    assert _hashed_sections(here) != _hashed_sections(other)


def test_task_defaults_match_the_schemas() -> None:
    import dataclasses

    import train

    from runner import schema

    for name, cls in schema.MODEL_SCHEMAS.items():
        defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.name != "name"}
        assert train.MODEL_DEFAULTS[name] == defaults, name
