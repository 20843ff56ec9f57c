"""Content-addressed uploads to the workspace's default datastore: same content, same path, one upload.

A local folder (``dataset=idx_folder``) or file (``dataset=csv``) goes to ``runner-data/<first 16 hex of
its content sha256>/``; ``overwrite=False`` makes the SDK skip files already there, so a second run
with the same data transfers nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.backends.azureml._sdk import Sdk, translate

log = logging.getLogger(__name__)

DATASTORE_PREFIX = "runner-data"
HASH_CHARS = 16
CHUNK = 1 << 20
UPLOAD_HINT = "Check that your identity may write to the workspace's default datastore."


@dataclass(frozen=True)
class FolderDigest:
    """A folder's content identity: file count, bytes and sha256 over relative paths and contents."""

    files: int
    total_bytes: int
    sha256: str


def folder_digest(folder: Path) -> FolderDigest:
    """Hash every file below ``folder`` in sorted relative-path order (paths, sizes and bytes)."""
    digest = hashlib.sha256()
    count = total = 0
    for path in _files_below(folder):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        _update(digest, path)
        count, total = count + 1, total + size
    return FolderDigest(count, total, digest.hexdigest())


def content_path(sha256: str) -> str:
    """``runner-data/<first 16 hex of sha256>``: the datastore folder for this content."""
    return f"{DATASTORE_PREFIX}/{sha256[:HASH_CHARS]}"


def _update(digest: Any, path: Path) -> None:
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)


def _files_below(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(Path(root) / name for name in files)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def upload_folder(sdk: Sdk, workspace: Any, folder: Path, datastore_path: str, label: str) -> Any:
    """Upload ``folder``'s files to ``datastore_path`` on the default datastore (files already there are
    skipped) and return the datastore; ``label`` names the data in the log and in errors."""
    with translate(sdk, f"Uploading {label} to the default datastore", UPLOAD_HINT):
        datastore = workspace.get_default_datastore()
        log.info("Uploading %s to datastore %s at %s/ (files already there are skipped)",
                 label, datastore.name, datastore_path)
        sdk.upload_directory(src_dir=str(folder), target=(datastore, datastore_path),
                             overwrite=False, show_progress=False)
    return datastore


def upload_file(sdk: Sdk, workspace: Any, file: Path, name: str, datastore_path: str, label: str) -> Any:
    """Upload one file as ``<datastore_path>/<name>`` through a temporary one-file folder (the folder
    upload above, unchanged); returns the datastore."""
    with tempfile.TemporaryDirectory(prefix="runner-upload-") as folder:
        staged = Path(folder) / name
        with translate(sdk, f"Uploading {label} to the default datastore", "Check that the file is readable."):
            try:
                os.link(file, staged)  # no copy when the temporary folder is on the same file system
            except OSError:
                shutil.copyfile(file, staged)
        return upload_folder(sdk, workspace, Path(folder), datastore_path, label)
