"""Every YAML under conf/ composes and validates; presets set what the tutorials set."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import schema
from runner.config import CONFIG_DIR
from runner.validate import validate

# Values a group option cannot compose without (a required path).
REQUIRED = {
    ("dataset", "idx_folder"): ["dataset.path=/data/mnist"],
    ("dataset", "csv"): ["dataset.path=/data/table.csv", "dataset.target=label"],
    # a workspace dataset needs a workspace: compute=local is refused (see test_validate)
    ("dataset", "registered"): ["dataset.dataset_name=mnist_opendataset", "compute=local_tracked"],
}
COMPUTE = {
    "local": ("local", "local"),
    "local_tracked": ("local_tracked", "local"),
    "cpu_cluster": ("amlcompute", "cpu-cluster"),
    "gpu_cluster": ("amlcompute", "gpu-cluster"),
}


def _group_options() -> list[tuple[str, str]]:
    options = []
    for path in sorted(CONFIG_DIR.glob("*/*.yaml")):
        group = path.parent.name
        if group != "hydra":
            options.append((group, path.stem))
    return options


def test_every_group_option_is_found() -> None:
    options = _group_options()
    groups = {group for group, _ in options}
    assert groups == {"compute", "dataset", "model", "registration", "environment", "experiment"}
    assert len(options) >= 15


@pytest.mark.parametrize(("group", "option"), _group_options())
def test_option_composes_and_validates(compose_cfg, group: str, option: str) -> None:
    cfg = compose_cfg(f"{group}={option}", *REQUIRED.get((group, option), []))
    run = validate(cfg)
    if group == "compute":
        assert (run.compute.kind, run.compute.name) == COMPUTE[option]
    if group in ("dataset", "model"):
        assert getattr(run, group).name == option


def test_hydra_yaml_files_are_used(compose_cfg) -> None:
    # conf/hydra/*/*.yaml are selected by run.yaml's defaults; composing with the hydra node proves it.
    from hydra import compose

    cfg = compose(config_name="run", return_hydra_config=True)
    assert cfg.hydra.job_logging.handlers.console.stream == "ext://sys.stderr"
    assert "run.py" in cfg.hydra.help.header
    assert sorted(p.stem for p in (CONFIG_DIR / "hydra").glob("*/*.yaml")) == ["runner", "runner", "runner"]
    assert cfg.hydra.hydra_logging.handlers.console.stream == "ext://sys.stderr"


def test_defaults(compose_cfg) -> None:
    run = validate(compose_cfg())
    assert isinstance(run.compute, schema.LocalComputeConfig)
    assert run.dataset.name == "digits"
    assert isinstance(run.model, schema.LogisticRegressionConfig)
    assert run.registration.policy == "each"
    assert run.registration.model_name == "sklearn_digits"
    assert Path(run.registration.registry_dir) == CONFIG_DIR.parent / "registry"
    assert run.seed == 0 and run.dry_run is False
    import sklearn

    assert run.registration.framework_version == sklearn.__version__
    assert f"scikit-learn=={sklearn.__version__}" in run.environment.pip_packages


def test_cpu_cluster_preset(compose_cfg) -> None:
    run = validate(compose_cfg("compute=cpu_cluster"))
    c = run.compute
    assert isinstance(c, schema.AmlComputeConfig)
    assert (c.name, c.vm_size, c.min_nodes, c.max_nodes) == ("cpu-cluster", "STANDARD_D2_V2", 0, 4)
    assert c.vm_priority == "dedicated"
    assert c.idle_seconds_before_scaledown == 120


def test_mnist_tutorial_preset(compose_cfg) -> None:
    run = validate(compose_cfg("experiment=mnist_tutorial"))
    assert isinstance(run.dataset, schema.MnistDatasetConfig)  # Azure Open Datasets, as tutorial 002
    assert run.dataset.name == "mnist" and run.dataset.mode == "download"
    assert run.model.regularization == 0.5
    assert run.compute.name == "cpu-cluster"
    assert run.experiment_name == "Tutorial-sklearn-mnist"
    assert run.registration.model_name == "sklearn_mnist"
    assert dict(run.registration.tags) == {"area": "mnist", "type": "classification"}


def test_iris_svm_preset(compose_cfg) -> None:
    run = validate(compose_cfg("experiment=iris_svm"))
    assert run.dataset.name == "iris"
    assert isinstance(run.model, schema.SvmConfig)
    assert (run.model.kernel, run.model.penalty) == ("linear", 1.0)
    reg = run.registration
    assert reg.model_name == "sklearn-iris" and reg.framework == "ScikitLearn"
    assert reg.resource_configuration == schema.ResourceConfig(cpu=1, memory_in_gb=0.5)


def test_preset_values_can_still_be_overridden(compose_cfg) -> None:
    run = validate(compose_cfg("experiment=iris_svm", "model.penalty=2.5", "registration.model_name=iris2"))
    assert run.model.penalty == 2.5
    assert run.registration.model_name == "iris2"
