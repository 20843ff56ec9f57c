"""Local model registry: <root>/<model_name>/<version>/ holds a copied model file and model.json."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from runner.errors import ConfigError, RegistryError
from runner.jsonio import write_json

log = logging.getLogger(__name__)

MODEL_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9\-\._]{0,254}$"
METADATA_FILE = "model.json"
STAGING_PREFIX = ".staging-"
MAX_CLAIM_ATTEMPTS = 1000
_NAME_RE = re.compile(MODEL_NAME_PATTERN)
# rename() of a folder onto an existing one fails with one of these when another writer took it.
_TAKEN_ERRNOS = frozenset({errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR})


def check_model_name(name: str) -> None:
    """Raise ConfigError unless name follows Azure ML's model naming rule."""
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise ConfigError(
            f"registration.model_name {name!r} is not a valid model name: it must start with a "
            "letter or digit and contain only letters, digits, '-', '_' and '.' "
            "(at most 255 characters), e.g. 'sklearn_mnist'."
        )


@dataclass(frozen=True)
class RegistrationRequest:
    """Everything needed to register one model file as a new version."""

    model_name: str
    model_file: Path
    framework: str
    framework_version: str
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    description: str
    resource_configuration: Mapping[str, float] | None
    source_run: str
    properties: Mapping[str, object]


@dataclass(frozen=True)
class RegistryEntry:
    """One registered model version on disk."""

    name: str
    version: int
    path: Path
    model_file: Path
    sha256: str


def sha256_file(path: Path) -> str:
    """Return the sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version_number(entry_name: str) -> int | None:
    """Return the version an entry name stands for ('3' -> 3), or None for anything else."""
    if entry_name.isascii() and entry_name.isdigit() and str(int(entry_name)) == entry_name:
        return int(entry_name) if int(entry_name) > 0 else None
    return None


def _clean_metrics(metrics: Mapping[str, float]) -> dict[str, float | None]:
    """Return metrics as plain floats; non-finite values become null (JSON has no NaN)."""
    cleaned: dict[str, float | None] = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise RegistryError(f"metric {key!r} is {value!r}, which is not a number.") from exc
        if math.isfinite(number):
            cleaned[str(key)] = number
        else:
            log.warning("Metric %r is %s; it is recorded as null in model.json", key, number)
            cleaned[str(key)] = None
    return cleaned


def _metadata(request: RegistrationRequest, version: int, sha256: str, size: int) -> dict[str, Any]:
    """Build the model.json document for a request."""
    resources = request.resource_configuration
    return {
        "name": request.model_name,
        "version": version,
        "framework": request.framework,
        "framework_version": request.framework_version,
        "description": request.description,
        "metrics": _clean_metrics(request.metrics),
        "tags": {str(k): str(v) for k, v in request.tags.items()},
        "properties": json.loads(json.dumps(dict(request.properties), default=str)),
        "resource_configuration": None if resources is None else dict(resources),
        "model_file": Path(request.model_file).name,
        "sha256": sha256,
        "bytes": size,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source_run": str(request.source_run),
    }


class LocalRegistry:
    """A folder of versioned models that parallel processes can register into safely."""

    def __init__(self, root: Path) -> None:
        """Use root as the registry folder; it is created on the first registration."""
        self.root = Path(root)

    def models(self) -> list[str]:
        """Return the names of models with at least one complete version, sorted."""
        if not self.root.is_dir():
            return []
        names = [p.name for p in self.root.iterdir() if p.is_dir() and _NAME_RE.fullmatch(p.name)]
        return sorted(name for name in names if self.versions(name))

    def versions(self, name: str) -> list[int]:
        """Return the complete versions of a model (folders holding model.json), sorted."""
        check_model_name(name)
        model_dir = self.root / name
        if not model_dir.is_dir():
            return []
        found = []
        for entry in model_dir.iterdir():
            number = _version_number(entry.name)
            if number is not None and (entry / METADATA_FILE).is_file():
                found.append(number)
        return sorted(found)

    def _highest_taken(self, model_dir: Path) -> int:
        """Return the highest version number used by any entry, complete or not (0 if none)."""
        numbers = [_version_number(entry.name) for entry in model_dir.iterdir()]
        return max((n for n in numbers if n is not None), default=0)

    def register(self, request: RegistrationRequest) -> RegistryEntry:
        """Copy the model file into the next free version folder and return its entry."""
        check_model_name(request.model_name)
        source = Path(request.model_file)
        if not source.is_file():
            raise RegistryError(
                f"cannot register model {request.model_name!r}: model file {str(source)!r} "
                "does not exist or is not a file."
            )
        if source.name == METADATA_FILE:
            raise RegistryError(
                f"cannot register model {request.model_name!r}: the model file may not be called "
                f"{METADATA_FILE!r}, which the registry uses for its metadata; rename it."
            )
        model_dir = self.root / request.model_name
        try:
            model_dir.mkdir(parents=True, exist_ok=True)
            staging = model_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
            staging.mkdir()
        except OSError as exc:
            raise RegistryError(
                f"cannot register model {request.model_name!r}: registry folder "
                f"{str(model_dir)!r} is not writable ({exc.strerror or exc})."
            ) from exc
        try:
            entry = self._stage_and_claim(request, source, model_dir, staging)
        except BaseException as exc:
            self._discard(staging)
            if isinstance(exc, RegistryError) or not isinstance(exc, Exception):
                raise
            raise RegistryError(
                f"cannot register model {request.model_name!r} in {str(self.root)!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        log.info(
            "Registered model %s version %d at %s (sha256 %s)",
            entry.name, entry.version, entry.path, entry.sha256[:12],
        )
        return entry

    def _stage_and_claim(
        self, request: RegistrationRequest, source: Path, model_dir: Path, staging: Path
    ) -> RegistryEntry:
        """Fill the staging folder, then rename it onto the first free version number."""
        staged_file = staging / source.name
        shutil.copyfile(source, staged_file)
        sha256 = sha256_file(staged_file)
        size = staged_file.stat().st_size
        version = self._highest_taken(model_dir) + 1
        for _ in range(MAX_CLAIM_ATTEMPTS):
            write_json(staging / METADATA_FILE, _metadata(request, version, sha256, size))
            target = model_dir / str(version)
            # The exists() check keeps rename() from replacing a stray empty folder.
            if not os.path.lexists(target):
                try:
                    os.rename(staging, target)
                except OSError as exc:
                    if exc.errno not in _TAKEN_ERRNOS:
                        raise
                else:
                    return RegistryEntry(
                        request.model_name, version, target, target / source.name, sha256
                    )
            log.debug("Version %d of %s was taken by another writer; retrying", version, model_dir)
            version = max(version + 1, self._highest_taken(model_dir) + 1)
        raise RegistryError(
            f"cannot register model {request.model_name!r}: no free version found in "
            f"{str(model_dir)!r} after {MAX_CLAIM_ATTEMPTS} attempts."
        )

    @staticmethod
    def _discard(staging: Path) -> None:
        """Remove a staging folder, logging (not raising) if that fails."""
        if not os.path.lexists(staging):
            return
        try:
            shutil.rmtree(staging)
        except OSError as exc:
            log.warning("Could not remove registry staging folder %s: %s", staging, exc)

    def read(self, name: str, version: int | None = None) -> dict[str, Any]:
        """Return the model.json of a version (the latest when version is None)."""
        available = self.versions(name)
        if not available:
            known = ", ".join(self.models()) or "none"
            raise RegistryError(
                f"no model named {name!r} in registry {str(self.root)!r}; "
                f"registered models: {known}."
            )
        chosen = available[-1] if version is None else version
        if chosen not in available:
            listed = ", ".join(str(v) for v in available)
            raise RegistryError(f"model {name!r} has no version {chosen}; versions: {listed}.")
        path = self.root / name / str(chosen) / METADATA_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RegistryError(f"cannot read {str(path)!r}: {exc}") from exc

    def verify(self, name: str, version: int) -> bool:
        """Return True when the stored model file's sha256 matches its model.json."""
        metadata = self.read(name, version)
        model_file = self.root / name / str(version) / str(metadata.get("model_file", ""))
        if not model_file.is_file():
            log.warning("Model %s version %d: file %s is missing", name, version, model_file)
            return False
        matches = sha256_file(model_file) == metadata.get("sha256")
        if not matches:
            log.warning("Model %s version %d: sha256 of %s differs", name, version, model_file)
        return matches
