"""Load a named dataset (scikit-learn's bundled data, an MNIST idx folder, a CSV table) into a split.

scikit-learn is imported only when a split is made, so importing this module is cheap. With a cache
folder, parsed idx/CSV arrays are reused across runs (see data_cache.py): the key is the sha256 of
the source files, which the fingerprint then reuses instead of hashing them twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

import csv_table
import data_cache
import idx_format

# name -> (loader in sklearn.datasets, the data file scikit-learn ships for it)
BUNDLED: dict[str, tuple[str, str]] = {
    "digits": ("load_digits", "digits.csv.gz"),
    "iris": ("load_iris", "iris.csv"),
    "wine": ("load_wine", "wine_data.csv"),
}
IDX_FOLDER = "idx_folder"
MNIST = "mnist"  # Azure Open Datasets MNIST: read exactly like an idx folder
CSV = "csv"
IDX_DATASETS: tuple[str, ...] = (IDX_FOLDER, MNIST)
DATASETS: tuple[str, ...] = (*BUNDLED, IDX_FOLDER, MNIST, CSV)
IDX_PARSER_VERSION = 1  # bump when idx parsing/scaling changes: it is part of the cache key

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
    class_names: tuple[str, ...] | None = None  # label i means class_names[i] (CSV tables)
    columns: tuple[str, ...] | None = None  # the feature columns used (CSV tables)
    target: str | None = None  # the label column (CSV tables)
    file_sha256: dict[str, str] = field(default_factory=dict)  # str(file) -> sha256, when already computed
    cache: str = data_cache.OFF  # off | hit | miss | rebuilt


@dataclass(frozen=True)
class DataSpec:
    """What to load: a dataset name and the options of its source."""

    name: str
    data_folder: Path | None = None  # idx_folder, mnist
    data_file: Path | None = None  # csv: a file, or a folder holding exactly one .csv
    target: str | None = None  # csv
    features: tuple[str, ...] = ()  # csv; empty: every column but the target
    test_size: float = 0.25  # bundled, csv
    seed: int = 0
    cache_dir: Path | None = None  # parsed-array cache; None: off


def load(spec: DataSpec) -> Split:
    """Load the dataset ``spec`` names as a Split."""
    if spec.name not in DATASETS:
        raise DataSourceError(f"unknown dataset {spec.name!r}; valid datasets: {', '.join(DATASETS)}")
    if spec.name in IDX_DATASETS:
        if spec.data_folder is None:
            raise DataSourceError(f"dataset {spec.name} needs a data folder (--data-folder PATH)")
        return load_idx_folder(Path(spec.data_folder), spec.cache_dir, spec.name)
    if spec.name == CSV:
        if spec.data_file is None or not spec.target:
            raise DataSourceError("dataset csv needs a data file and a target column (--data-file PATH --target NAME)")
        return load_csv(spec)
    if spec.data_folder is not None:
        raise DataSourceError(
            f"dataset {spec.name} is bundled with scikit-learn and takes no data folder; "
            f"a data folder is only used by {' and '.join(IDX_DATASETS)}"
        )
    return load_bundled(spec.name, spec.test_size, spec.seed)


def load_dataset(
    name: str, data_folder: str | Path | None = None, test_size: float = 0.25, seed: int = 0
) -> Split:
    """Load dataset ``name`` as a Split (a shorthand for :func:`load` without file-table options)."""
    folder = Path(data_folder) if data_folder is not None else None
    return load(DataSpec(name, data_folder=folder, test_size=test_size, seed=seed))


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


def load_idx_folder(folder: Path, cache_dir: Path | None = None, source: str = IDX_FOLDER) -> Split:
    """Load the four MNIST idx files found below folder, keeping their own train/t10k split."""
    if not folder.exists():
        raise DataSourceError(f"data folder {folder} does not exist")
    if not folder.is_dir():
        raise DataSourceError(f"data folder {folder} is not a folder")
    paths = find_idx_files(folder)

    def parse() -> data_cache.Entry:
        X_train, y_train, train_shape = _images_and_labels(paths["train_images"], paths["train_labels"])
        X_test, y_test, test_shape = _images_and_labels(paths["test_images"], paths["test_labels"])
        if train_shape != test_shape:
            raise DataSourceError(
                f"train images are {train_shape[0]}x{train_shape[1]} but test images are "
                f"{test_shape[0]}x{test_shape[1]}; they must match"
            )
        arrays = {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}
        return data_cache.Entry(arrays, {"image_shape": list(train_shape)})

    hashes = _hashes(paths.values()) if cache_dir is not None else {}
    key = data_cache.cache_key("idx", IDX_PARSER_VERSION, [(role, hashes.get(str(p), "")) for role, p in paths.items()])
    entry, status = data_cache.load_or_build(cache_dir, "idx", key, parse, _check_idx)
    a, (rows, cols) = entry.arrays, entry.meta["image_shape"]
    return Split(a["X_train"], a["X_test"], a["y_train"], a["y_test"], source, list(paths.values()),
                 (int(rows), int(cols)), file_sha256=hashes, cache=status)


def _check_idx(entry: data_cache.Entry) -> None:
    """A cached idx entry: float32 images and int64 labels of matching counts and image size."""
    X_train, X_test = (data_cache.require(entry, n, np.float32, 2) for n in ("X_train", "X_test"))
    y_train, y_test = (data_cache.require(entry, n, np.int64, 1) for n in ("y_train", "y_test"))
    shape = entry.meta.get("image_shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(d, int) for d in shape)):
        raise data_cache.CacheDamaged(f"bad image_shape {shape!r}")
    if not (len(X_train) == len(y_train) and len(X_test) == len(y_test)
            and X_train.shape[1] == X_test.shape[1] == shape[0] * shape[1]):
        raise data_cache.CacheDamaged("array shapes do not fit together")


def load_csv(spec: DataSpec) -> Split:
    """Load a CSV table (cached when ``spec.cache_dir`` is set) and split it stratified by class."""
    try:
        path = csv_table.find_csv(Path(spec.data_file))  # type: ignore[arg-type]
        target, features = str(spec.target), tuple(spec.features)

        def parse() -> data_cache.Entry:
            table = csv_table.read_table(path, target, features)
            meta = {"class_names": list(table.class_names), "columns": list(table.columns)}
            return data_cache.Entry({"X": table.X, "y": table.y}, meta)

        hashes = _hashes([path]) if spec.cache_dir is not None else {}
        options = {"target": target, "features": list(features)}
        key = data_cache.cache_key("csv", csv_table.PARSER_VERSION, [("table", hashes.get(str(path), ""))], options)
        entry, status = data_cache.load_or_build(spec.cache_dir, "csv", key, parse, _check_table)
    except csv_table.TableError as exc:
        raise DataSourceError(str(exc)) from exc
    X, y = entry.arrays["X"], entry.arrays["y"]
    names, columns = tuple(entry.meta["class_names"]), tuple(entry.meta["columns"])
    X_train, X_test, y_train, y_test = _stratified_split(X, y, names, spec.test_size, spec.seed, target)
    return Split(X_train, X_test, y_train, y_test, CSV, [path], class_names=names, columns=columns,
                 target=target, file_sha256=hashes, cache=status)


def _check_table(entry: data_cache.Entry) -> None:
    """A cached table: float64 features, int64 labels indexing the class names, one column name per feature."""
    X, y = data_cache.require(entry, "X", np.float64, 2), data_cache.require(entry, "y", np.int64, 1)
    names, columns = entry.meta.get("class_names"), entry.meta.get("columns")
    if not (isinstance(names, list) and isinstance(columns, list) and len(columns) == X.shape[1]
            and len(X) == len(y) and len(y) and 0 <= y.min() and y.max() < len(names)):
        raise data_cache.CacheDamaged("arrays and column/class names do not fit together")


def _stratified_split(X: np.ndarray, y: np.ndarray, names: tuple[str, ...], test_size: float, seed: int,
                      target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """train_test_split stratified by y, with a message saying why too few rows cannot be split."""
    counts = np.bincount(y, minlength=len(names))
    single = [names[i] for i in np.flatnonzero(counts < 2)]
    if single:
        raise DataSourceError(
            f"csv: class(es) {', '.join(map(repr, single[:10]))} of target {target!r} have a single row; a stratified "
            "split needs at least 2 rows per class (one to train on, one to test on)")
    n, k = len(y), len(names)
    n_test = int(np.ceil(test_size * n))
    if n_test < k or n - n_test < k:
        raise DataSourceError(
            f"csv: {n} rows are too few to split {k} classes with test_size {test_size}: the test part would get "
            f"{n_test} rows and the training part {n - n_test}, but each needs at least one row per class; "
            "add rows or change the test size")
    from sklearn.model_selection import train_test_split

    try:
        return tuple(train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y))  # type: ignore[return-value]
    except ValueError as exc:
        raise DataSourceError(f"csv: cannot split {n} rows with test_size {test_size}: {exc}") from exc


def _hashes(paths: Any) -> dict[str, str]:
    """{str(path): sha256} for each path."""
    return {str(p): sha256_file(p) for p in paths}


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


def _class_counts(y: np.ndarray, names: tuple[str, ...] | None = None) -> dict[str, int]:
    """Return {label: count} with labels as strings (class names when known), in label order."""
    labels, counts = np.unique(y, return_counts=True)
    shown = [names[label] if names else str(label) for label in labels.tolist()]
    return {label: int(count) for label, count in zip(shown, counts.tolist())}


def fingerprint(split: Split) -> dict[str, Any]:
    """Return a JSON-serialisable record of which data a run saw (files, hashes, shapes, classes)."""
    files = [{"path": str(p.absolute()), "bytes": p.stat().st_size,
              "sha256": split.file_sha256.get(str(p)) or sha256_file(p)} for p in split.files]
    table = None
    if split.target is not None:  # a table: which columns were read matters as much as the file
        table = {"target": split.target, "columns": list(split.columns or ()),
                 "class_names": list(split.class_names or ())}
    if files:
        joined = "\n".join(sorted(f["sha256"] for f in files))
        if table:
            joined += "\n" + json.dumps(table, sort_keys=True)
        content, hashed = hashlib.sha256(joined.encode()).hexdigest(), "files+columns" if table else "files"
    else:
        content, hashed = _hash_arrays(split), "arrays"
    record: dict[str, Any] = {
        "source": split.source,
        "files": files,
        "content_sha256": content,
        "hashed": hashed,
        "shapes": {"X_train": list(split.X_train.shape), "X_test": list(split.X_test.shape)},
        "image_shape": list(split.image_shape) if split.image_shape else None,
        "class_counts": {"train": _class_counts(split.y_train, split.class_names),
                         "test": _class_counts(split.y_test, split.class_names)},
    }
    if table:
        record["table"] = table
    return record
