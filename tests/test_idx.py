"""Tests for the idx reader (tasks/idx_format.py) and the dataset loader (tasks/data_sources.py)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import data_sources
import numpy as np
import pytest
from data_sources import DataSourceError, fingerprint, load_dataset
from idx_factory import (
    corrupt_magic,
    drop_labels,
    idx_bytes,
    idx_file,
    truncate_payload,
    write_idx,
    write_idx_folder,
)
from idx_format import IdxFormatError, read_idx

# ---------------------------------------------------------------- idx_format.read_idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("gz", [True, False])
def test_round_trip(tmp_path: Path, dtype: str, gz: bool) -> None:
    rng = np.random.default_rng(1)
    array = (rng.normal(0, 50, size=(3, 4, 5))).astype(dtype)
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), array, gz=gz)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_round_trip_1d_and_str_path(tmp_path: Path) -> None:
    labels = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "labels", labels, gz=False)
    np.testing.assert_array_equal(read_idx(str(path)), labels)


def test_gzip_detected_by_content_without_gz_suffix(tmp_path: Path) -> None:
    array = np.arange(6, dtype=np.int16).reshape(2, 3)
    path = write_idx(tmp_path / "no-suffix", array, gz=True)
    np.testing.assert_array_equal(read_idx(path), array)


def _raw(tmp_path: Path, data: bytes, name: str = "f.idx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bad_magic_shows_bytes(tmp_path: Path) -> None:
    path = _raw(tmp_path, b"\x12\x34\x08\x01" + b"\x00\x00\x00\x01" + b"\x05")
    expected = r"bad idx magic: expected first two bytes 00 00, found 12 34"
    with pytest.raises(IdxFormatError, match=expected) as e:
        read_idx(path)
    assert str(path) in str(e.value)


def test_unknown_dtype_code(tmp_path: Path) -> None:
    path = _raw(tmp_path, b"\x00\x00\x07\x01\x00\x00\x00\x01\x05")
    with pytest.raises(IdxFormatError, match=r"unknown idx dtype code 0x07, expected one of 0x08, 0x09"):
        read_idx(path)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", r"too short for an idx header: 0 bytes, expected at least 4"),
        (b"\x00\x00", r"too short for an idx header: 2 bytes, expected at least 4"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", r"with 3 dimensions: 8 bytes, expected at least 16"),
        (b"\x00\x00\x08\x00", r"declares 0 dimensions, expected at least 1"),
    ],
)
def test_short_header(tmp_path: Path, data: bytes, expected: str) -> None:
    with pytest.raises(IdxFormatError, match=expected):
        read_idx(_raw(tmp_path, data))


def test_payload_too_short(tmp_path: Path) -> None:
    data = idx_bytes(np.zeros((2, 3, 4), dtype=np.int32))  # 96 payload bytes
    with pytest.raises(IdxFormatError, match=r"payload shorter than declared: shape \(2, 3, 4\) of int32 "
                       r"needs 96 bytes, found 95"):
        read_idx(_raw(tmp_path, data[:-1]))


def test_payload_too_long(tmp_path: Path) -> None:
    data = idx_bytes(np.zeros(5, dtype=np.uint8))
    with pytest.raises(IdxFormatError, match=r"payload longer than declared: .* needs 5 bytes, found 7"):
        read_idx(_raw(tmp_path, data + b"\x01\x02"))


def test_gz_suffix_but_not_gzip(tmp_path: Path) -> None:
    path = _raw(tmp_path, idx_bytes(np.zeros(3, dtype=np.uint8)), "x.gz")
    expected = r"not a valid gzip file: expected magic bytes 1f 8b, found 00 00"
    with pytest.raises(IdxFormatError, match=expected):
        read_idx(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    compressed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = _raw(tmp_path, compressed[: len(compressed) // 2], "x.gz")
    with pytest.raises(IdxFormatError, match=r"truncated gzip file"):
        read_idx(path)


def test_corrupt_gzip_stream(tmp_path: Path) -> None:
    compressed = bytearray(gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32))))
    compressed[-8] ^= 0xFF  # break the CRC32 in the gzip trailer
    with pytest.raises(IdxFormatError, match=r"x.gz: not a valid gzip file: CRC check failed"):
        read_idx(_raw(tmp_path, bytes(compressed), "x.gz"))


def test_idx_format_error_is_value_error() -> None:
    assert issubclass(IdxFormatError, ValueError)
    assert issubclass(DataSourceError, ValueError)


# ---------------------------------------------------------------- data_sources: idx_folder


def test_idx_folder_found_recursively(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "root", n_train=60, n_test=20, rows=4, cols=5, nested="a/b/c")
    split = load_dataset("idx_folder", tmp_path / "root")
    assert split.X_train.shape == (60, 20) and split.X_test.shape == (20, 20)
    assert split.X_train.dtype == np.float32
    assert 0.0 <= split.X_train.min() and split.X_train.max() <= 1.0
    assert split.y_train.shape == (60,) and split.y_test.shape == (20,)
    assert split.image_shape == (4, 5)
    assert split.source == "idx_folder"
    assert {p.parent for p in split.files} == {folder}
    assert len(split.files) == 4


def test_idx_folder_scaling_matches_raw_bytes(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, n_train=20, n_test=10, nested=".")
    split = load_dataset("idx_folder", tmp_path)
    raw = read_idx(idx_file(folder, "train_images"))
    np.testing.assert_allclose(split.X_train, raw.reshape(20, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(split.y_train, read_idx(idx_file(folder, "train_labels")))


def test_idx_folder_raw_files_accepted(tmp_path: Path) -> None:
    write_idx_folder(tmp_path, n_train=30, n_test=10, gz=False)
    split = load_dataset("idx_folder", str(tmp_path))
    assert split.X_train.shape == (30, 64)
    assert all(p.suffix != ".gz" for p in split.files)


def test_missing_files_are_all_named(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, n_train=20, n_test=10)
    idx_file(folder, "test_images").unlink()
    idx_file(folder, "test_labels").unlink()
    with pytest.raises(DataSourceError) as e:
        load_dataset("idx_folder", tmp_path)
    message = str(e.value)
    assert "t10k-images-idx3-ubyte[.gz]" in message and "t10k-labels-idx1-ubyte[.gz]" in message
    assert "train-" not in message.split(" not found")[0]  # only the missing ones are named
    assert str(tmp_path) in message and "\n" not in message


def test_duplicate_copies_listed(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, n_train=20, n_test=10, nested="one")
    copy = tmp_path / "two" / "train-labels-idx1-ubyte.gz"
    copy.parent.mkdir()
    shutil.copy(idx_file(folder, "train_labels"), copy)
    with pytest.raises(DataSourceError, match=r"2 copies of train-labels-idx1-ubyte\[\.gz\]") as e:
        load_dataset("idx_folder", tmp_path)
    assert str(copy) in str(e.value) and str(idx_file(folder, "train_labels")) in str(e.value)
    assert "point the data folder at a folder that holds only one" in str(e.value)
    assert load_dataset("idx_folder", folder).X_train.shape == (20, 64)  # pointing at one copy works


def test_gz_and_raw_copy_is_a_duplicate(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, n_train=20, n_test=10)
    write_idx(folder / "t10k-labels-idx1-ubyte", read_idx(idx_file(folder, "test_labels")), gz=False)
    with pytest.raises(DataSourceError, match=r"2 copies of t10k-labels-idx1-ubyte"):
        load_dataset("idx_folder", tmp_path)


def test_label_count_mismatch(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, n_train=40, n_test=10)
    drop_labels(idx_file(folder, "train_labels"), n=3)
    expected = r"holds 40 images but train-labels-idx1-ubyte.gz holds 37 labels; the counts must match"
    with pytest.raises(DataSourceError, match=expected):
        load_dataset("idx_folder", tmp_path)


def test_images_must_be_3d_and_labels_1d(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, n_train=20, n_test=10)
    write_idx(idx_file(folder, "train_images"), np.zeros((20, 64), dtype=np.uint8))
    expected = r"images must be 3-D \(count, rows, cols\), got shape \(20, 64\)"
    with pytest.raises(DataSourceError, match=expected):
        load_dataset("idx_folder", tmp_path)
    folder = write_idx_folder(tmp_path / "b", n_train=20, n_test=10)
    write_idx(idx_file(folder, "test_labels"), np.zeros((10, 1), dtype=np.uint8))
    with pytest.raises(DataSourceError, match=r"labels must be 1-D \(count,\), got shape \(10, 1\)"):
        load_dataset("idx_folder", tmp_path / "b")


def test_corrupt_file_wrapped_with_its_text(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, n_train=20, n_test=10)
    corrupt_magic(idx_file(folder, "test_images"))
    with pytest.raises(DataSourceError, match=r"t10k-images-idx3-ubyte.gz: bad idx magic.*found 12 34") as e:
        load_dataset("idx_folder", tmp_path)
    assert isinstance(e.value.__cause__, IdxFormatError)


def test_truncated_payload_wrapped(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, n_train=20, n_test=10)
    truncate_payload(idx_file(folder, "train_images"), n_bytes=5)
    with pytest.raises(DataSourceError, match=r"payload shorter than declared.*needs 1280 bytes, found 1275"):
        load_dataset("idx_folder", tmp_path)


def test_train_and_test_image_shapes_must_agree(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, n_train=20, n_test=10)
    write_idx(idx_file(folder, "test_images"), np.zeros((10, 4, 4), dtype=np.uint8))
    with pytest.raises(DataSourceError, match=r"train images are 8x8 but test images are 4x4"):
        load_dataset("idx_folder", tmp_path)


def test_folder_missing_or_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"data folder .*nope does not exist"):
        load_dataset("idx_folder", tmp_path / "nope")
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(DataSourceError, match=r"is not a folder"):
        load_dataset("idx_folder", file)
    with pytest.raises(DataSourceError, match=r"needs a data folder"):
        load_dataset("idx_folder")


def test_unknown_name_and_folder_for_bundled(tmp_path: Path) -> None:
    expected = r"unknown dataset 'cifar'; valid datasets: digits, iris, wine, idx_folder, mnist, csv"
    with pytest.raises(DataSourceError, match=expected):
        load_dataset("cifar")
    with pytest.raises(DataSourceError, match=r"dataset mnist needs a data folder"):
        load_dataset("mnist")
    with pytest.raises(DataSourceError, match=r"takes no data folder"):
        load_dataset("digits", tmp_path)


# ---------------------------------------------------------------- data_sources: bundled


@pytest.mark.parametrize(("name", "n", "features", "classes"),
                         [("digits", 1797, 64, 10), ("iris", 150, 4, 3), ("wine", 178, 13, 3)])
def test_bundled_split(name: str, n: int, features: int, classes: int) -> None:
    split = load_dataset(name, test_size=0.2, seed=3)
    assert len(split.y_train) + len(split.y_test) == n
    assert split.X_train.shape[1] == features
    assert len(np.unique(split.y_test)) == classes  # stratified: every class in test
    assert split.source == f"sklearn:{name}"
    again = load_dataset(name, test_size=0.2, seed=3)
    np.testing.assert_array_equal(split.X_test, again.X_test)


def test_digits_scaled_to_unit_interval() -> None:
    split = load_dataset("digits")
    assert split.X_train.max() == 1.0 and split.X_train.min() == 0.0
    assert split.image_shape == (8, 8)
    assert len(split.y_test) == 450


def test_bad_test_size() -> None:
    with pytest.raises(DataSourceError, match=r"test_size must be between 0 and 1"):
        load_dataset("iris", test_size=1.0)
    with pytest.raises(DataSourceError, match=r"cannot split iris with test_size=0.01"):
        load_dataset("iris", test_size=0.01)


# ---------------------------------------------------------------- fingerprint


def test_fingerprint_idx_folder(tmp_path: Path) -> None:
    write_idx_folder(tmp_path / "a", n_train=40, n_test=20)
    write_idx_folder(tmp_path / "b", n_train=40, n_test=20, nested="elsewhere")
    fp_a = fingerprint(load_dataset("idx_folder", tmp_path / "a"))
    fp_b = fingerprint(load_dataset("idx_folder", tmp_path / "b"))
    json.dumps(fp_a)  # serialisable
    assert fp_a["content_sha256"] == fp_b["content_sha256"]  # same content, different place
    assert fp_a["hashed"] == "files" and fp_a["source"] == "idx_folder"
    assert len(fp_a["files"]) == 4
    for entry in fp_a["files"]:
        path = Path(entry["path"])
        assert path.is_absolute() and entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == data_sources.sha256_file(path)
    assert fp_a["shapes"] == {"X_train": [40, 64], "X_test": [20, 64]}
    assert fp_a["class_counts"] == {"train": {str(i): 4 for i in range(10)},
                                    "test": {str(i): 2 for i in range(10)}}


def test_fingerprint_changes_with_one_byte(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path, n_train=40, n_test=20)
    before = fingerprint(load_dataset("idx_folder", tmp_path))
    path = idx_file(folder, "train_images")
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[-1] ^= 0x01
    path.write_bytes(gzip.compress(bytes(data)))
    after = fingerprint(load_dataset("idx_folder", tmp_path))
    assert before["content_sha256"] != after["content_sha256"]
    changed = [a["path"] for a, b in zip(after["files"], before["files"]) if a["sha256"] != b["sha256"]]
    assert changed == [str(path.absolute())]


def test_fingerprint_bundled_uses_package_file() -> None:
    split = load_dataset("iris", seed=1)
    fp = fingerprint(split)
    assert fp["hashed"] == "files"
    assert [Path(f["path"]).name for f in fp["files"]] == ["iris.csv"]
    for part, y in (("train", split.y_train), ("test", split.y_test)):
        assert fp["class_counts"][part] == {str(c): int((y == c).sum()) for c in (0, 1, 2)}
    assert sum(fp["class_counts"]["test"].values()) == 38
    assert fingerprint(load_dataset("iris", seed=2))["content_sha256"] == fp["content_sha256"]


def test_fingerprint_falls_back_to_arrays() -> None:
    split = load_dataset("wine")
    bare = data_sources.Split(split.X_train, split.X_test, split.y_train, split.y_test, "custom")
    fp = fingerprint(bare)
    assert fp["hashed"] == "arrays" and fp["files"] == []
    assert fp["content_sha256"] == fingerprint(bare)["content_sha256"]
    X_test = split.X_test.copy()
    X_test[0, 0] += 1.0
    changed = data_sources.Split(split.X_train, X_test, split.y_train, split.y_test, "custom")
    assert fingerprint(changed)["content_sha256"] != fp["content_sha256"]
