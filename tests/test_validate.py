"""Validation: each user error names the key and the valid values; saved configs validate too."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from runner import schema
from runner.errors import ConfigError
from runner.validate import validate


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model.regularization=0"], "model.regularization must be greater than 0"),
        (["model.regularization=-1"], "model.regularization must be greater than 0"),
        (["model.solver=newton"], "model.solver 'newton' is not one of: lbfgs, liblinear"),
        (["model.max_iter=0"], "model.max_iter must be 1 or more"),
        (["model=svm", "model.penalty=0"], "model.penalty must be greater than 0"),
        (["model=svm", "model.kernel=cubic"], "model.kernel 'cubic' is not one of: linear, poly, rbf, sigmoid"),
        (["model=svm", "model.gamma=-2"], "model.gamma must be 'scale', 'auto' or a positive number"),
        (["model=random_forest", "model.n_estimators=0"], "model.n_estimators must be 1 or more"),
        (["compute=cpu_cluster", "compute.min_nodes=5"], "compute.min_nodes (5) must not exceed compute.max_nodes (4)"),
        (["compute=cpu_cluster", "compute.min_nodes=-1"], "compute.min_nodes must be 0 or more"),
        (["compute=cpu_cluster", "compute.max_nodes=-2"], "compute.max_nodes must be 1 or more"),
        (["compute=cpu_cluster", "compute.vm_size=huge"], "compute.vm_size 'huge' is not an Azure VM size"),
        (["compute=cpu_cluster", "compute.vm_priority=spot"], "compute.vm_priority 'spot' is not one of"),
        (["compute=cpu_cluster", "compute.name=x"], "compute.name 'x' must be 2-16 characters"),
        (["dataset.test_size=1.5"], "dataset.test_size must be between 0 and 1"),
        (["registration.policy=sometimes"], "registration.policy 'sometimes' is not one of: each, best, none"),
        (["registration.model_name='bad name!'"], "registration.model_name 'bad name!' is not a valid model name"),
        (["registration.model_name=-leading"], "is not a valid model name"),
        (["registration.framework=TensorFlow"], "registration.framework 'TensorFlow' is not one of"),
        (["experiment_name='my experiment'"], "experiment_name 'my experiment' must start with a letter or digit"),
        (["seed=-3"], "seed must be between 0 and 2**32-1"),
        (["dataset=idx_folder"], "dataset.path is required but not set"),
    ],
)
def test_user_errors(compose_cfg, overrides: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(compose_cfg(*overrides))
    assert expected in str(err.value)


def test_all_problems_are_reported_at_once(compose_cfg) -> None:
    cfg = compose_cfg("model.regularization=-1", "compute=cpu_cluster", "compute.min_nodes=9")
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    message = str(err.value)
    assert "model.regularization" in message and "compute.min_nodes (9)" in message
    assert "\n" not in message


def test_valid_model_names_pass(compose_cfg) -> None:
    for name in ("sklearn_mnist", "sklearn-iris", "a", "model.v2", "9lives", "x" * 255):
        assert validate(compose_cfg(f"registration.model_name={name}")).registration.model_name == name


def test_too_long_model_name(compose_cfg) -> None:
    with pytest.raises(ConfigError, match="not a valid model name"):
        validate(compose_cfg("registration.model_name=" + "x" * 256))


def test_saved_config_without_schema_validates(compose_cfg) -> None:
    # A run's .hydra/config.yaml is plain YAML (no defaults list, no schema): validation re-types it.
    saved = OmegaConf.create(OmegaConf.to_yaml(compose_cfg("model=svm", "dataset=iris")))
    run = validate(saved)
    assert isinstance(run.model, schema.SvmConfig)
    assert isinstance(run.compute, schema.LocalComputeConfig)


def test_saved_config_with_wrong_types_is_rejected(compose_cfg) -> None:
    saved = OmegaConf.create(OmegaConf.to_container(compose_cfg()))
    saved.model.regularization = "lots"
    with pytest.raises(ConfigError, match="model.regularization"):
        validate(saved)


def test_saved_config_with_unknown_key_is_rejected(compose_cfg) -> None:
    saved = OmegaConf.create(OmegaConf.to_container(compose_cfg()))
    saved.model.learning_rate = 0.1
    with pytest.raises(ConfigError, match="learning_rate"):
        validate(saved)


def test_unknown_model_name_lists_choices(compose_cfg) -> None:
    saved = OmegaConf.create(OmegaConf.to_container(compose_cfg()))
    saved.model.name = "xgboost"
    with pytest.raises(ConfigError, match="model.name='xgboost' is not supported; valid values: "
                                          "logistic_regression, random_forest, svm"):
        validate(saved)


def test_missing_group(compose_cfg) -> None:
    saved = OmegaConf.create(OmegaConf.to_container(compose_cfg()))
    del saved["compute"]
    with pytest.raises(ConfigError, match="no 'compute' group"):
        validate(saved)
