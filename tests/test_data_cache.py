"""The parsed-data cache (tasks/data_cache.py) and its use by the idx and CSV loaders."""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import data_cache
import numpy as np
import pytest
from data_cache import CacheDamaged, Entry
from data_sources import DataSpec, load, load_idx_folder
from idx_factory import idx_file, write_idx_folder


def _entry() -> Entry:
    rng = np.random.default_rng(0)
    arrays = {"X": rng.random((7, 3)).astype(np.float32), "y": np.arange(7, dtype=np.int64),
              "odd": np.arange(5, dtype=np.uint8)}  # 5 bytes: not a multiple of 8
    return Entry(arrays, {"image_shape": [1, 3]})


def _same(a: Entry, b: Entry) -> None:
    assert a.meta == b.meta and a.arrays.keys() == b.arrays.keys()
    for name in a.arrays:
        assert a.arrays[name].dtype == b.arrays[name].dtype
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name])


# ---------------------------------------------------------------- entry format


def test_entry_round_trip_is_writable_and_leaves_no_temp(tmp_path: Path) -> None:
    path = data_cache.entry_path(tmp_path, "t", "k1")
    data_cache.write_entry(path, "k1", _entry())
    back = data_cache.read_entry(path, "k1")
    _same(_entry(), back)
    back.arrays["X"][0, 0] = 42.0  # copy-on-write: usable like a parsed array, the file is untouched
    _same(_entry(), data_cache.read_entry(path, "k1"))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_key_depends_on_content_parser_and_options() -> None:
    base = data_cache.cache_key("idx", 1, [("a", "00"), ("b", "11")])
    assert base == data_cache.cache_key("idx", 1, [("a", "00"), ("b", "11")])
    assert base != data_cache.cache_key("idx", 1, [("a", "01"), ("b", "11")])  # a changed file
    assert base != data_cache.cache_key("idx", 2, [("a", "00"), ("b", "11")])  # a new parser
    assert base != data_cache.cache_key("idx", 1, [("b", "00"), ("a", "11")])  # roles swapped
    assert base != data_cache.cache_key("idx", 1, [("a", "00"), ("b", "11")], {"target": "y"})


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[:-9]
    elif how == "flipped payload byte":
        data[-20] ^= 0x04
    elif how == "bad magic":
        data[:4] = b"JUNK"
    elif how == "garbage header":
        data[len(data_cache.MAGIC) + 8] = ord("!")
    elif how == "empty":
        data = bytearray()
    elif how == "appended bytes":
        data += b"\0" * 64
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "flipped payload byte", "bad magic", "garbage header", "empty",
                                 "appended bytes"])
def test_damaged_entry_is_detected(tmp_path: Path, how: str) -> None:
    path = data_cache.entry_path(tmp_path, "t", "k1")
    data_cache.write_entry(path, "k1", _entry())
    _damage(path, how)
    with pytest.raises(CacheDamaged):
        data_cache.read_entry(path, "k1")


def test_entry_under_another_key_is_refused(tmp_path: Path) -> None:
    path = data_cache.entry_path(tmp_path, "t", "k1")
    data_cache.write_entry(path, "k1", _entry())
    with pytest.raises(CacheDamaged, match="another key"):
        data_cache.read_entry(path, "k2")


# ---------------------------------------------------------------- load_or_build


def test_off_miss_hit_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    builds: list[int] = []

    def build() -> Entry:
        builds.append(1)
        return _entry()

    def check(entry: Entry) -> None:
        data_cache.require(entry, "X", np.float32, 2)

    assert data_cache.load_or_build(None, "t", "k", build, check)[1] == "off"
    entry, status = data_cache.load_or_build(tmp_path, "t", "k", build, check)
    assert status == "miss"
    entry, status = data_cache.load_or_build(tmp_path, "t", "k", build, check)
    assert status == "hit" and len(builds) == 2
    _same(_entry(), entry)
    _damage(data_cache.entry_path(tmp_path, "t", "k"), "flipped payload byte")
    with caplog.at_level(logging.WARNING):
        entry, status = data_cache.load_or_build(tmp_path, "t", "k", build, check)
    assert status == "rebuilt" and len(builds) == 3
    assert "is damaged (checksum mismatch); rebuilding it" in caplog.text
    _same(_entry(), entry)
    assert data_cache.load_or_build(tmp_path, "t", "k", build, check)[1] == "hit"  # repaired


def test_entry_failing_the_callers_check_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_cache.write_entry(data_cache.entry_path(tmp_path, "t", "k"), "k", _entry())

    def check(entry: Entry) -> None:
        data_cache.require(entry, "X", np.float64, 2)  # the stored X is float32: wrong dtype

    with caplog.at_level(logging.WARNING):
        _, status = data_cache.load_or_build(tmp_path, "t", "k", _entry, check)
    assert status == "rebuilt" and "X is float32[7, 3], expected float64" in caplog.text


def test_unwritable_cache_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        entry, status = data_cache.load_or_build(blocker / "cache", "t", "k", _entry, lambda e: None)
    assert status == "miss" and "cannot write" in caplog.text
    _same(_entry(), entry)


# ---------------------------------------------------------------- loaders


def _load_idx(folder: Path, cache: Path | None):
    return load(DataSpec("idx_folder", data_folder=folder, cache_dir=cache))


def test_idx_cache_hit_gives_the_same_split(tmp_path: Path) -> None:
    write_idx_folder(tmp_path / "data", n_train=60, n_test=20)
    plain = _load_idx(tmp_path / "data", None)
    first = _load_idx(tmp_path / "data", tmp_path / "cache")
    second = _load_idx(tmp_path / "data", tmp_path / "cache")
    assert (plain.cache, first.cache, second.cache) == ("off", "miss", "hit")
    for name in ("X_train", "X_test", "y_train", "y_test"):
        a, b = getattr(plain, name), getattr(second, name)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert second.image_shape == plain.image_shape == (8, 8)
    assert len(list((tmp_path / "cache").glob("idx-*.arrays"))) == 1


def test_idx_cache_is_keyed_by_content_not_place(tmp_path: Path) -> None:
    write_idx_folder(tmp_path / "a", n_train=60, n_test=20, nested="x")
    write_idx_folder(tmp_path / "b", n_train=60, n_test=20, nested="y/z")
    assert _load_idx(tmp_path / "a", tmp_path / "cache").cache == "miss"
    other = _load_idx(tmp_path / "b", tmp_path / "cache")
    assert other.cache == "hit" and all("/b/" in str(p) for p in other.files)


def test_a_changed_source_byte_gives_a_new_entry(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "data", n_train=60, n_test=20)
    before = _load_idx(tmp_path / "data", tmp_path / "cache")
    path = idx_file(folder, "test_images")
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[-1] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(raw)))
    after = _load_idx(tmp_path / "data", tmp_path / "cache")
    assert (before.cache, after.cache) == ("miss", "miss")  # the old entry is not used
    assert len(list((tmp_path / "cache").glob("*.arrays"))) == 2
    assert after.X_test[-1, -1] != before.X_test[-1, -1]
    assert _load_idx(tmp_path / "data", tmp_path / "cache").cache == "hit"


def test_damaged_idx_entry_is_rebuilt_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_idx_folder(tmp_path / "data", n_train=60, n_test=20)
    good = _load_idx(tmp_path / "data", tmp_path / "cache")
    [entry] = (tmp_path / "cache").glob("*.arrays")
    _damage(entry, "truncated")
    with caplog.at_level(logging.WARNING):
        again = _load_idx(tmp_path / "data", tmp_path / "cache")
    assert again.cache == "rebuilt" and "damaged" in caplog.text
    np.testing.assert_array_equal(good.X_train, again.X_train)
    assert _load_idx(tmp_path / "data", tmp_path / "cache").cache == "hit"


def test_cached_file_hashes_are_reused_by_the_fingerprint(tmp_path: Path) -> None:
    import data_sources

    write_idx_folder(tmp_path / "data", n_train=60, n_test=20)
    split = load_idx_folder(tmp_path / "data", tmp_path / "cache")
    assert set(split.file_sha256) == {str(p) for p in split.files}
    fp = data_sources.fingerprint(split)
    assert [f["sha256"] for f in fp["files"]] == [data_sources.sha256_file(p) for p in split.files]


def test_parallel_writers_share_one_entry(tmp_path: Path) -> None:
    """Two processes filling the same cache at once both succeed and leave one complete entry."""
    import subprocess
    import sys

    write_idx_folder(tmp_path / "data", n_train=400, n_test=100)
    code = ("import sys; sys.path[:0] = sys.argv[1:3]; from pathlib import Path; import data_sources as d; "
            "s = d.load(d.DataSpec('idx_folder', data_folder=Path(sys.argv[3]), cache_dir=Path(sys.argv[4]))); "
            "print(s.cache, s.X_train.shape)")
    tasks = str(Path(data_cache.__file__).parent)
    argv = [sys.executable, "-c", code, tasks, tasks, str(tmp_path / "data"), str(tmp_path / "cache")]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert all("(400, 64)" in out for out, _ in outputs)
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".arrays")] == []
    assert _load_idx(tmp_path / "data", tmp_path / "cache").cache == "hit"
    assert os.listdir(tmp_path / "cache") == [p.name for p in (tmp_path / "cache").glob("*.arrays")]
