"""Workspace discovery, sign-in and secrets: failures are one clear SubmissionError, secrets never leak."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import pytest
import requests
from fake_azure import (
    SP_ENV,
    FakeCloud,
    make_plan,
    write_idx_folder,
    write_workspace_config,
)

from runner.backends.azureml import AzureMLBackend
from runner.backends.azureml._sdk import TELEMETRY_ENV, load_sdk, quiet_telemetry
from runner.backends.azureml.workspace import find_config_file, make_auth
from runner.errors import SubmissionError
from runner.schema import AzureConfig

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::DeprecationWarning")


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCloud:
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return FakeCloud()


def test_missing_config_fails_first_and_names_the_searched_folders(cloud, compose_cfg, tmp_path) -> None:
    cwd = tmp_path / "project" / "sub"
    cwd.mkdir(parents=True)
    backend = AzureMLBackend(sdk=cloud.sdk(), cwd=cwd, environ=dict(SP_ENV))
    with pytest.raises(SubmissionError) as caught:
        backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster"))
    message = str(caught.value)
    for part in (".azureml/config.json", "aml_config/config.json", f"{cwd}, {cwd.parent}, {tmp_path}",
                 f"to {cwd}/.azureml/config.json", "azure.subscription_id=<id> azure.resource_group=<group>"):
        assert part in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert cloud.connects == [] and cloud.submissions == []


def test_config_search_matches_workspace_from_config(tmp_path, monkeypatch) -> None:
    sdk = load_sdk()
    seen: list[str] = []
    monkeypatch.setattr(sdk.Workspace, "get", staticmethod(lambda name, **kwargs: seen.append(name)))
    start = tmp_path / "a" / "b" / "c"
    start.mkdir(parents=True)
    layout = {"parent-azureml": tmp_path / "a" / ".azureml" / "config.json",
              "aml-config": tmp_path / "a" / "b" / "aml_config" / "config.json",
              "plain": tmp_path / "a" / "b" / "config.json"}
    for name, path in layout.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"subscription_id": "s", "resource_group": "r", "workspace_name": name}))
    for expected in ("parent-azureml", "aml-config", "plain"):
        sdk.Workspace.from_config(path=str(start))
        assert seen[-1] == expected and find_config_file(start) == layout[expected]
        layout[expected].unlink()
    assert find_config_file(start) is None


def test_explicit_ids_take_precedence_over_config_json(cloud, compose_cfg, tmp_path) -> None:
    write_workspace_config(tmp_path)
    backend = AzureMLBackend(sdk=cloud.sdk(), cwd=tmp_path, environ=dict(SP_ENV))
    backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "azure.subscription_id=sub-9",
                          "azure.resource_group=rg-9", "azure.workspace_name=ws-9"))
    [call] = cloud.connects
    ids = (call["how"], call["name"], call["subscription_id"], call["resource_group"])
    assert ids == ("get", "ws-9", "sub-9", "rg-9")
    assert type(call["auth"]).__name__ == "ServicePrincipalAuthentication"


def test_config_file_option(cloud, compose_cfg, tmp_path) -> None:
    path = write_workspace_config(tmp_path / "elsewhere")
    backend = AzureMLBackend(sdk=cloud.sdk(), cwd=tmp_path, environ=dict(SP_ENV))
    backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster",
                          "azure.config_file=elsewhere/.azureml/config.json"))
    assert cloud.connects[0]["how"] == "from_config" and cloud.connects[0]["path"] == str(path)
    with pytest.raises(SubmissionError, match="azure.config_file=nope.json: .*nope.json does not exist"):
        backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "azure.config_file=nope.json"))


def test_auth_failure_is_one_clean_message(cloud, compose_cfg, tmp_path) -> None:
    write_workspace_config(tmp_path)
    backend = AzureMLBackend(sdk=cloud.sdk(), cwd=tmp_path, environ=dict(SP_ENV))
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster")
    cloud.connect_error = cloud.real.AuthenticationException("AADSTS7000215: Invalid client secret provided.")
    with pytest.raises(SubmissionError) as caught:
        backend.run(plan)
    message = str(caught.value)
    assert message.startswith("Azure ML sign-in with azure.auth=service_principal failed: AADSTS7000215")
    assert "AZUREML_SERVICE_PRINCIPAL_PASSWORD" in message and "Traceback" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    cloud.connect_error = requests.exceptions.ConnectionError("Failed to resolve 'management.azure.com'")
    with pytest.raises(SubmissionError, match=r"Could not open Azure ML workspace 'ws' \(from .*config.json\)"):
        backend.run(plan)
    assert cloud.submissions == []


def test_service_principal_needs_exactly_the_missing_variables(cloud, compose_cfg, tmp_path) -> None:
    write_workspace_config(tmp_path)
    environ = {"AZUREML_SERVICE_PRINCIPAL_ID": "sp-1"}
    backend = AzureMLBackend(sdk=cloud.sdk(), cwd=tmp_path, environ=environ)
    with pytest.raises(SubmissionError) as caught:
        backend.run(make_plan(compose_cfg, tmp_path, "compute=cpu_cluster"))
    missing = str(caught.value).split("missing: ")[1].split(".")[0]
    assert missing == "AZUREML_SERVICE_PRINCIPAL_TENANT_ID, AZUREML_SERVICE_PRINCIPAL_PASSWORD"
    assert cloud.connects == []


def test_auth_objects_are_the_real_ones() -> None:
    sdk = load_sdk()
    sp = make_auth(sdk, AzureConfig(auth="service_principal"), SP_ENV)
    assert isinstance(sp, sdk.ServicePrincipalAuthentication)
    msi = make_auth(sdk, AzureConfig(auth="managed_identity", managed_identity_client_id="cid-1"), {})
    assert isinstance(msi, sdk.MsiAuthentication) and msi._identity_config == {"client_id": "cid-1"}


def test_telemetry_is_off_unless_asked(monkeypatch) -> None:
    monkeypatch.delenv(TELEMETRY_ENV, raising=False)
    quiet_telemetry(True)
    assert TELEMETRY_ENV not in __import__("os").environ
    quiet_telemetry(False)
    assert __import__("os").environ[TELEMETRY_ENV] == "true"


def test_no_secret_reaches_files_tags_logs_or_the_dry_run(cloud, compose_cfg, tmp_path, monkeypatch, caplog,
                                                         capsys) -> None:
    marker = "S3CRET-MARKER-7f3a"
    environ = {**SP_ENV, "AZUREML_SERVICE_PRINCIPAL_PASSWORD": marker}
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    write_workspace_config(tmp_path)
    data = write_idx_folder(tmp_path / "mnist")
    backend = AzureMLBackend(sdk=cloud.sdk(), cwd=tmp_path, environ=environ)
    plan = make_plan(compose_cfg, tmp_path, "compute=cpu_cluster", "dataset=idx_folder", f"dataset.path={data}")
    with caplog.at_level(logging.DEBUG):
        text = backend.describe(plan)
        result = backend.run(plan)
        cloud.connect_error = cloud.real.AuthenticationException(f"secret {marker} was rejected")
        with pytest.raises(SubmissionError) as caught:
            backend.run(plan)
    assert "AZUREML_SERVICE_PRINCIPAL_PASSWORD set" in text
    assert marker not in text and marker not in str(caught.value) and "***" in str(caught.value)
    assert all(marker not in value for value in cloud.submissions[0].tags.values())
    assert all(marker not in record.getMessage() for record in caplog.records)
    assert marker not in json.dumps(cloud.sdk().serialize(cloud.submissions[0].config.run_config), default=str)
    assert all(marker.encode() not in content for content in cloud.submissions[0].files.values())
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert (Path(plan.run_dir) / "outputs" / "metrics.json") in written and result.status == "completed"
    assert [p for p in written if marker.encode() in p.read_bytes()] == []
    assert marker not in capsys.readouterr().out


def test_corrupt_config_file_fails_before_sign_in(tmp_path) -> None:
    from runner.backends.azureml import workspace
    from runner.errors import SubmissionError
    from runner.schema import AzureConfig

    (tmp_path / ".azureml").mkdir()
    (tmp_path / ".azureml" / "config.json").write_text("{not json")
    with pytest.raises(SubmissionError, match="is not valid JSON with subscription_id"):
        workspace.preflight(AzureConfig(), tmp_path, {})
    source = workspace.resolve_source(AzureConfig(), tmp_path)
    assert "not configured" in source.describe() and "config.json" in source.describe()
