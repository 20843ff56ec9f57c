"""Which Azure ML workspace to use and how to sign in to it; every failure is one SubmissionError.

Finding the workspace is pure (no azureml import) so a missing config.json fails at once, and the
dry run can say which file would be used. The search mirrors ``Workspace.from_config()``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import schema
from runner.backends.azureml._sdk import SECRET_ENV, Sdk, short_message
from runner.errors import SubmissionError

log = logging.getLogger(__name__)

# Workspace.from_config(): for each folder kind, for each name, walk up from the start folder.
CONFIG_DIRS: tuple[str | None, ...] = (".azureml", "aml_config", None)
CONFIG_NAMES = ("config.json", "project.json")  # project.json: a legacy name the SDK still reads
SP_TENANT = "AZUREML_SERVICE_PRINCIPAL_TENANT_ID"
SP_ID = "AZUREML_SERVICE_PRINCIPAL_ID"
SP_PASSWORD = SECRET_ENV
SP_VARS = (SP_TENANT, SP_ID, SP_PASSWORD)
ID_KEYS = ("subscription_id", "resource_group", "workspace_name")
HOW_TO_CONFIGURE = (
    "Download config.json from the workspace's overview page in the Azure portal (or ml.azure.com: "
    "workspace name at the top right, 'Download config file') to {cwd}/.azureml/config.json, point "
    "azure.config_file=<path> at it, or set azure.subscription_id=<id> azure.resource_group=<group> "
    "azure.workspace_name=<name>."
)
AUTH_HINTS = {
    "interactive": "Sign in when the browser or device-code prompt appears (azure.tenant_id picks the tenant); "
    "on a machine without a browser use azure.auth=azure_cli after 'az login', or azure.auth=service_principal.",
    "service_principal": f"Check {SP_TENANT}, {SP_ID} and {SP_PASSWORD}, and that the service principal has "
    "a role (e.g. Contributor) on the workspace.",
    "managed_identity": "Managed identity works only on Azure compute that has one; for a user-assigned "
    "identity set azure.managed_identity_client_id. Elsewhere use azure.auth=azure_cli or interactive.",
    "azure_cli": "Run 'az login' (and 'az account set --subscription <id>'); azure-cli must be installed "
    "in this Python environment. Or use azure.auth=interactive.",
}
NETWORK_HINT = "Azure ML needs outbound HTTPS to management.azure.com and login.microsoftonline.com."


@dataclass(frozen=True)
class WorkspaceSource:
    """Where the workspace ids come from: explicit ids, a config file, or nothing usable (``problem``)."""

    config_file: Path | None
    ids: Mapping[str, str]
    searched: tuple[Path, ...] = ()
    problem: str | None = None

    def describe(self) -> str:
        """One line naming the workspace source (no network)."""
        if self.problem and self.searched and self.config_file is None:
            where = ", ".join(str(f) for f in self.searched)
            return (f"no config file found (searched .azureml/config.json, aml_config/config.json, config.json, "
                    f"project.json in {where}); see below")
        if self.problem:
            return f"not configured: {self.problem}"
        named = ", ".join(f"{k}={v}" for k, v in self.ids.items()) or "ids unreadable"
        if self.config_file is None:
            return f"explicit ids ({named}) -> Workspace.get"
        return f"config file {self.config_file} ({named}) -> Workspace.from_config"


def search_folders(start: Path) -> tuple[Path, ...]:
    """``start`` and each parent folder, as the SDK walks them."""
    current = Path(os.path.realpath(start))
    return (current, *current.parents)


def find_config_file(start: Path) -> Path | None:
    """The config file ``Workspace.from_config(path=start)`` would read, or None."""
    folders = search_folders(start)
    for folder_name in CONFIG_DIRS:
        for file_name in CONFIG_NAMES:
            for folder in folders:
                candidate = folder / folder_name / file_name if folder_name else folder / file_name
                if candidate.is_file():
                    return candidate
    return None


def resolve_source(azure: schema.AzureConfig, cwd: Path) -> WorkspaceSource:
    """Decide where the workspace comes from; explicit ids take precedence over a config file."""
    if azure.subscription_id and azure.resource_group and azure.workspace_name:
        ids = {"subscription_id": azure.subscription_id, "resource_group": azure.resource_group,
               "workspace_name": azure.workspace_name}
        return WorkspaceSource(config_file=None, ids=ids)
    start = cwd
    if azure.config_file:
        given = Path(os.path.expanduser(azure.config_file))
        given = given if given.is_absolute() else cwd / given
        if given.is_file():
            return _from_file(given, ())
        if not given.is_dir():
            return WorkspaceSource(None, {}, problem=f"azure.config_file={azure.config_file}: {given} does not "
                                   f"exist. {HOW_TO_CONFIGURE.format(cwd=cwd)}")
        start = given
    found = find_config_file(start)
    folders = search_folders(start)
    if found is None:
        return WorkspaceSource(None, {}, searched=folders, problem=_not_found(folders, cwd))
    return _from_file(found, folders)


def _from_file(path: Path, folders: tuple[Path, ...]) -> WorkspaceSource:
    """The source for a config file; an unreadable file or missing ids is a problem before any sign-in."""
    ids = _read_ids(path)
    missing = [key for key in ID_KEYS if not ids.get(key)]
    problem = None
    if missing:
        problem = (f"The workspace config {path} is not valid JSON with {', '.join(ID_KEYS)} "
                   f"(missing or unreadable: {', '.join(missing)}). Download it again from the workspace's "
                   "page in the Azure portal, or set azure.subscription_id, azure.resource_group and "
                   "azure.workspace_name instead.")
    return WorkspaceSource(config_file=path, ids=ids, searched=folders, problem=problem)


def _not_found(folders: tuple[Path, ...], cwd: Path) -> str:
    where = ", ".join(str(f) for f in folders)
    return (
        "No Azure ML workspace config found: searched .azureml/config.json, aml_config/config.json and "
        f"config.json (and the legacy project.json) in {where}. {HOW_TO_CONFIGURE.format(cwd=cwd)}"
    )


def _read_ids(path: Path) -> dict[str, str]:
    """The workspace ids in a config file (empty when unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: str(data[key]) for key in ID_KEYS if key in data}


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Values that must never be shown: the service principal's password."""
    value = environ.get(SP_PASSWORD, "")
    return [value] if value else []


def check_credentials(azure: schema.AzureConfig, environ: Mapping[str, str]) -> None:
    """Raise SubmissionError naming the missing service principal variables (no network)."""
    if azure.auth != "service_principal":
        return
    missing = [name for name in SP_VARS if not environ.get(name)]
    if missing:
        raise SubmissionError(
            f"azure.auth=service_principal needs the environment variables {', '.join(SP_VARS)}; "
            f"missing: {', '.join(missing)}. Export them (the password is never logged or saved), "
            "or choose another azure.auth (interactive, azure_cli, managed_identity)."
        )


def describe_auth(azure: schema.AzureConfig, environ: Mapping[str, str]) -> str:
    """One line naming the sign-in method; says which variables are set, never their values."""
    if azure.auth == "service_principal":
        states = ", ".join(f"{name} {'set' if environ.get(name) else 'MISSING'}" for name in SP_VARS)
        return f"service_principal ({states})"
    if azure.auth == "managed_identity":
        client = azure.managed_identity_client_id
        return f"managed_identity ({'client id ' + client if client else 'system-assigned'})"
    if azure.auth == "interactive":
        return f"interactive{' (tenant ' + azure.tenant_id + ')' if azure.tenant_id else ''}"
    return azure.auth


def make_auth(sdk: Sdk, azure: schema.AzureConfig, environ: Mapping[str, str]) -> Any:
    """Build the SDK authentication object for ``azure.auth``."""
    if azure.auth == "service_principal":
        return sdk.ServicePrincipalAuthentication(
            tenant_id=environ[SP_TENANT], service_principal_id=environ[SP_ID],
            service_principal_password=environ[SP_PASSWORD],
        )
    if azure.auth == "managed_identity":
        client = azure.managed_identity_client_id
        return sdk.MsiAuthentication(identity_config={"client_id": client}) if client else sdk.MsiAuthentication()
    if azure.auth == "azure_cli":
        return sdk.AzureCliAuthentication()
    return sdk.InteractiveLoginAuthentication(tenant_id=azure.tenant_id)


def preflight(azure: schema.AzureConfig, cwd: Path, environ: Mapping[str, str]) -> WorkspaceSource:
    """The workspace source, checked before anything else: SubmissionError if none or credentials are missing."""
    source = resolve_source(azure, cwd)
    if source.problem:
        raise SubmissionError(source.problem)
    check_credentials(azure, environ)
    return source


def connect(sdk: Sdk, azure: schema.AzureConfig, source: WorkspaceSource, environ: Mapping[str, str]) -> Any:
    """Sign in and return the Workspace; SubmissionError says which step failed and what to try."""
    secrets = secret_values(environ)
    log.info("Signing in to Azure ML (azure.auth=%s; workspace from %s)", azure.auth,
             source.config_file or "explicit ids")
    try:
        auth = make_auth(sdk, azure, environ)
    except sdk.errors as err:
        raise SubmissionError(_auth_failure(err, azure, secrets)) from None
    try:
        if source.config_file is not None:
            workspace = sdk.Workspace.from_config(path=str(source.config_file), auth=auth)
        else:
            workspace = sdk.Workspace.get(
                source.ids["workspace_name"], subscription_id=source.ids["subscription_id"],
                resource_group=source.ids["resource_group"], auth=auth,
            )
    except sdk.AuthenticationException as err:
        raise SubmissionError(_auth_failure(err, azure, secrets)) from None
    except sdk.errors as err:
        raise SubmissionError(_workspace_failure(err, azure, source, secrets)) from None
    log.info("Using workspace %s (resource group %s)", workspace.name, workspace.resource_group)
    return workspace


def _auth_failure(err: BaseException, azure: schema.AzureConfig, secrets: list[str]) -> str:
    """The message for a sign-in that failed."""
    reason = short_message(err, secrets).rstrip(".")
    return f"Azure ML sign-in with azure.auth={azure.auth} failed: {reason}. {AUTH_HINTS[azure.auth]}"


def _workspace_failure(err: BaseException, azure: schema.AzureConfig, source: WorkspaceSource,
                       secrets: list[str]) -> str:
    """The message for a workspace that could not be opened (credentials, existence, network)."""
    reason = short_message(err, secrets).rstrip(".")
    name = source.ids.get("workspace_name", "?")
    origin = str(source.config_file) if source.config_file else "azure.subscription_id/resource_group/workspace_name"
    return (
        f"Could not open Azure ML workspace '{name}' (from {origin}) with azure.auth={azure.auth}: {reason}. "
        f"Check that the workspace exists and that your identity can access it. {AUTH_HINTS[azure.auth]} "
        f"{NETWORK_HINT}"
    )
