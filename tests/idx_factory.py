"""Write small synthetic MNIST-style idx folders (and corrupt them) for tests.

API:
    write_idx(path, array, gz=True) -> Path
        Write `array` as an idx file (gzip-compressed when gz); the path is used as given.
    write_idx_folder(root, n_train=200, n_test=50, rows=8, cols=8, nested="sub/dir", seed=0, gz=True) -> Path
        Write the four MNIST files into root/nested with learnable 10-class uint8 images;
        returns root/nested (the folder holding the files). Pass `root` as data_folder
        to exercise the recursive search.
    idx_file(folder, role) -> Path
        The file for role "train_images", "train_labels", "test_images" or "test_labels" in folder.
    corrupt_magic(path), truncate_payload(path, n_bytes=1), drop_labels(path, n=1)
        Rewrite an existing file (keeping its gzip-ness) with a bad magic, a short payload
        or fewer labels than images.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np

FILE_NAMES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DTYPE_CODES: dict[str, int] = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C,
                               "float32": 0x0D, "float64": 0x0E}
N_CLASSES = 10


def idx_bytes(array: np.ndarray) -> bytes:
    """Return the idx encoding (big-endian header and payload) of array."""
    code = DTYPE_CODES[np.dtype(array.dtype).name]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()


def _write(path: Path, data: bytes, gz: bool) -> Path:
    """Write data to path, gzip-compressed when gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_idx(path: str | Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write array as an idx file at path (gzip-compressed when gz); return the path."""
    return _write(Path(path), idx_bytes(array), gz)


def synthetic_digits(n: int, rows: int, cols: int, rng: np.random.Generator,
                     prototypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return n uint8 images (each class a noisy copy of its prototype) and their labels."""
    labels = rng.permutation(np.arange(n) % N_CLASSES).astype(np.uint8)
    noise = rng.normal(0.0, 40.0, size=(n, rows, cols))
    images = np.clip(prototypes[labels] + noise, 0, 255).astype(np.uint8)
    return images, labels


def write_idx_folder(root: str | Path, n_train: int = 200, n_test: int = 50, rows: int = 8,
                     cols: int = 8, nested: str = "sub/dir", seed: int = 0, gz: bool = True) -> Path:
    """Write the four MNIST idx files under root/nested; return root/nested."""
    folder = Path(root) / nested
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 2, size=(N_CLASSES, rows, cols)) * 200.0
    train = synthetic_digits(n_train, rows, cols, rng, prototypes)
    test = synthetic_digits(n_test, rows, cols, rng, prototypes)
    suffix = ".gz" if gz else ""
    for (images, labels), part in ((train, "train"), (test, "test")):
        write_idx(folder / (FILE_NAMES[f"{part}_images"] + suffix), images, gz)
        write_idx(folder / (FILE_NAMES[f"{part}_labels"] + suffix), labels, gz)
    return folder


def idx_file(folder: str | Path, role: str) -> Path:
    """Return the (gzipped or raw) file for role in folder, e.g. role="train_labels"."""
    base = Path(folder) / FILE_NAMES[role]
    gz = base.with_name(base.name + ".gz")
    return gz if gz.exists() else base


def _rewrite(path: Path, change: Callable[[bytes], bytes]) -> Path:
    """Apply change to the file's idx bytes and write it back with the same compression."""
    gz = path.suffix == ".gz"
    data = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    return _write(path, change(data), gz)


def corrupt_magic(path: str | Path) -> Path:
    """Replace the two leading zero bytes of an idx file with 12 34."""
    return _rewrite(Path(path), lambda data: b"\x12\x34" + data[2:])


def truncate_payload(path: str | Path, n_bytes: int = 1) -> Path:
    """Drop the last n_bytes of an idx file's payload."""
    return _rewrite(Path(path), lambda data: data[:-n_bytes])


def drop_labels(path: str | Path, n: int = 1) -> Path:
    """Rewrite a 1-D label file without its last n labels (so counts no longer match the images)."""
    path = Path(path)
    gz = path.suffix == ".gz"
    data = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    labels = np.frombuffer(data, dtype=np.uint8, offset=8)
    return write_idx(path, labels[:-n].copy(), gz)
