"""Load a named dataset (scikit-learn's bundled data or an MNIST idx folder) into a train/test split.

scikit-learn is imported only when a bundled dataset is loaded, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

import idx_format

# name -> (loader in sklearn.datasets, the data file scikit-learn ships for it)
BUNDLED: dict[str, tuple[str, str]] = {
    "digits": ("load_digits", "digits.csv.gz"),
    "iris": ("load_iris", "iris.csv"),
    "wine": ("load_wine", "wine_data.csv"),
}
IDX_FOLDER = "idx_folder"
DATASETS: tuple[str, ...] = (*BUNDLED, IDX_FOLDER)

# Logical role -> file name without ".gz"; both "<name>.gz" and "<name>" are accepted.
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class DataSourceError(ValueError):
    """A dataset cannot be loaded: unknown name, missing/duplicate/corrupt files, bad shapes."""


@dataclass(frozen=True, eq=False)
class Split:
    """A train/test split plus where it came from."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    source: str
    files: list[Path] = field(default_factory=list)
    image_shape: tuple[int, int] | None = None


def load_dataset(
    name: str, data_folder: str | Path | None = None, test_size: float = 0.25, seed: int = 0
) -> Split:
    """Load dataset `name` ("digits", "iris", "wine" or "idx_folder") as a Split."""
    if name not in DATASETS:
        raise DataSourceError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    if name == IDX_FOLDER:
        if data_folder is None:
            raise DataSourceError("dataset idx_folder needs a data folder (--data-folder PATH)")
        return load_idx_folder(Path(data_folder))
    if data_folder is not None:
        raise DataSourceError(
            f"dataset {name} is bundled with scikit-learn and takes no data folder; "
            f"a data folder is only used by {IDX_FOLDER}"
        )
    return load_bundled(name, test_size, seed)


def _bundled_files(name: str) -> list[Path]:
    """Return the data file scikit-learn ships for `name`, or [] if it cannot be found."""
    try:
        path = Path(str(resources.files("sklearn.datasets.data") / BUNDLED[name][1]))
    except (ModuleNotFoundError, TypeError):
        return []
    return [path] if path.is_file() else []


def load_bundled(name: str, test_size: float = 0.25, seed: int = 0) -> Split:
    """Load one of scikit-learn's bundled datasets and split it stratified by class."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise DataSourceError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    X, y = getattr(datasets, BUNDLED[name][0])(return_X_y=True)
    image_shape = None
    if name == "digits":
        X, image_shape = X / 16.0, (8, 8)
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, random_state=seed, stratify=y
        )
    except ValueError as exc:
        raise DataSourceError(f"cannot split {name} with test_size={test_size}: {exc}") from exc
    return Split(X_train, X_test, y_train, y_test, f"sklearn:{name}", _bundled_files(name), image_shape)


def _walk_dirs(folder: Path) -> list[tuple[str, list[str]]]:
    """List (dirpath, filenames) below folder, following symlinks but never a directory twice."""
    seen: set[str] = set()
    found: list[tuple[str, list[str]]] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        found.append((dirpath, filenames))
    return found


def find_idx_files(folder: Path) -> dict[str, Path]:
    """Find each MNIST idx file (gzipped or raw) exactly once anywhere below folder."""
    wanted = {f"{base}{ext}": role for role, base in IDX_FILES.items() for ext in (".gz", "")}
    copies: dict[str, list[Path]] = {role: [] for role in IDX_FILES}
    for dirpath, filenames in _walk_dirs(folder):
        for filename in sorted(filenames):
            if filename in wanted:
                copies[wanted[filename]].append(Path(dirpath) / filename)
    missing = [f"{IDX_FILES[role]}[.gz]" for role, paths in copies.items() if not paths]
    if missing:
        raise DataSourceError(
            f"idx_folder: {', '.join(missing)} not found anywhere below {folder} "
            f"(searched recursively for {', '.join(f'{b}[.gz]' for b in IDX_FILES.values())})"
        )
    for role, paths in copies.items():
        if len(paths) > 1:
            raise DataSourceError(
                f"idx_folder: {len(paths)} copies of {IDX_FILES[role]}[.gz] below {folder}: "
                f"{', '.join(map(str, paths))}; point the data folder at a folder that holds only one"
            )
    return {role: paths[0] for role, paths in copies.items()}


def _read(path: Path) -> np.ndarray:
    """Read one idx file, turning format and I/O errors into DataSourceError."""
    try:
        return idx_format.read_idx(path)
    except idx_format.IdxFormatError as exc:
        raise DataSourceError(str(exc)) from exc
    except OSError as exc:
        raise DataSourceError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _images_and_labels(
    images_path: Path, labels_path: Path
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Read and check one images/labels pair; return flat float32 images, int64 labels, (rows, cols)."""
    images, labels = _read(images_path), _read(labels_path)
    if images.ndim != 3:
        raise DataSourceError(
            f"{images_path}: images must be 3-D (count, rows, cols), got shape {images.shape}"
        )
    if labels.ndim != 1:
        raise DataSourceError(f"{labels_path}: labels must be 1-D (count,), got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataSourceError(
            f"{images_path.name} holds {len(images)} images but {labels_path.name} holds "
            f"{len(labels)} labels; the counts must match"
        )
    flat = images.reshape(len(images), -1).astype(np.float32)
    if images.dtype == np.uint8:
        flat /= 255.0
    return flat, labels.astype(np.int64), (int(images.shape[1]), int(images.shape[2]))


def load_idx_folder(folder: Path) -> Split:
    """Load the four MNIST idx files found below folder, keeping their own train/t10k split."""
    if not folder.exists():
        raise DataSourceError(f"data folder {folder} does not exist")
    if not folder.is_dir():
        raise DataSourceError(f"data folder {folder} is not a folder")
    paths = find_idx_files(folder)
    X_train, y_train, train_shape = _images_and_labels(paths["train_images"], paths["train_labels"])
    X_test, y_test, test_shape = _images_and_labels(paths["test_images"], paths["test_labels"])
    if train_shape != test_shape:
        raise DataSourceError(
            f"train images are {train_shape[0]}x{train_shape[1]} but test images are "
            f"{test_shape[0]}x{test_shape[1]}; they must match"
        )
    return Split(X_train, X_test, y_train, y_test, IDX_FOLDER, list(paths.values()), train_shape)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _hash_arrays(split: Split) -> str:
    """Return a sha256 over the split's arrays (dtype, shape and bytes of each)."""
    digest = hashlib.sha256()
    for array in (split.X_train, split.X_test, split.y_train, split.y_test):
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(contiguous.tobytes())
    return digest.hexdigest()


def _class_counts(y: np.ndarray) -> dict[str, int]:
    """Return {label: count} with labels as strings, in label order."""
    labels, counts = np.unique(y, return_counts=True)
    return {str(label): int(count) for label, count in zip(labels.tolist(), counts.tolist())}


def fingerprint(split: Split) -> dict[str, Any]:
    """Return a JSON-serialisable record of which data a run saw (files, hashes, shapes, classes)."""
    files = [{"path": str(p.absolute()), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in split.files]
    if files:
        joined = "\n".join(sorted(f["sha256"] for f in files))
        content, hashed = hashlib.sha256(joined.encode()).hexdigest(), "files"
    else:
        content, hashed = _hash_arrays(split), "arrays"
    return {
        "source": split.source,
        "files": files,
        "content_sha256": content,
        "hashed": hashed,
        "shapes": {"X_train": list(split.X_train.shape), "X_test": list(split.X_test.shape)},
        "image_shape": list(split.image_shape) if split.image_shape else None,
        "class_counts": {"train": _class_counts(split.y_train), "test": _class_counts(split.y_test)},
    }
