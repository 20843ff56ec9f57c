"""Parsed arrays cached on disk, keyed by the content of their source files.

An entry is one file ``<cache dir>/<kind>-<key>.arrays``; the key is a sha256 over the cache format,
the parser's version, the source kind, the parse options and the sha256 of every source file, so a
changed byte in a source (or a new parser) gives a new key and old entries are simply not used.

Layout: ``MAGIC``, the header length (8 bytes, little-endian), a JSON header (key, meta, each
array's dtype/shape/offset, the payload length and checksum), zero padding to ``ALIGN`` bytes,
then the payload: every array's bytes at an ``ALIGN``-aligned offset, zero padded.

Reading maps the file copy-on-write (the arrays are writable and nothing is copied up front) and
checks, before anything is used: magic, header, key, exact file size, dtypes, shapes and offsets,
and a checksum over the whole payload — the sum of its 64-bit words modulo 2**64, which any
damaged word changes and which runs at memory speed (a cryptographic hash of a 220 MB MNIST entry
would cost more than half of what the cache saves). The caller's ``check`` then verifies how the
arrays fit together. Anything wrong makes the entry "damaged": a warning, and it is rebuilt.

Entries are written to a temporary file in the cache folder and renamed into place, so readers and
parallel writers (a sweep) only ever see complete entries; two writers of one key write the same
bytes. No fsync: an entry lost or torn by a crash fails its checks and is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import mmap
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
MAGIC = b"AML-RUNNER-ARRAYS\n"
ALIGN = 64
MAX_HEADER = 1 << 20
SUFFIX = ".arrays"
NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float: never objects
OFF, HIT, MISS, REBUILT = "off", "hit", "miss", "rebuilt"


class CacheDamaged(ValueError):
    """A cache entry cannot be trusted (truncated, unreadable, inconsistent or a bad checksum)."""


@dataclass
class Entry:
    """What is cached: named numeric arrays plus JSON-serialisable facts about them."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


def cache_key(kind: str, parser_version: int, file_hashes: Sequence[tuple[str, str]],
              options: dict[str, Any] | None = None) -> str:
    """The hex sha256 naming an entry: format, parser version, kind, options and (role, file sha256)s."""
    identity = {"format": CACHE_FORMAT, "parser": parser_version, "kind": kind,
                "options": options or {}, "files": [list(pair) for pair in file_hashes]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()


def entry_path(cache_dir: Path, kind: str, key: str) -> Path:
    """Where the entry for ``key`` lives."""
    return Path(cache_dir) / f"{kind}-{key}{SUFFIX}"


def load_or_build(cache_dir: Path | None, kind: str, key: str, build: Callable[[], Entry],
                  check: Callable[[Entry], None]) -> tuple[Entry, str]:
    """Return the cached entry ("hit") or build and store it ("miss", or "rebuilt" when the old one was
    damaged); with no cache folder just build ("off"). ``check`` raises CacheDamaged/ValueError on bad arrays."""
    if cache_dir is None:
        return build(), OFF
    path = entry_path(cache_dir, kind, key)
    status = MISS
    if path.exists():
        try:
            entry = read_entry(path, key)
            check(entry)
            log.info("Data cache hit: %s", path)
            return entry, HIT
        except (OSError, ValueError) as exc:  # CacheDamaged is a ValueError
            log.warning("Data cache entry %s is damaged (%s); rebuilding it", path, exc)
            status = REBUILT
    entry = build()
    try:
        write_entry(path, key, entry)
        log.info("Data cache %s: stored %s", status, path)
    except OSError as exc:
        log.warning("Data cache: cannot write %s (%s); continuing without it", path, exc.strerror or exc)
    return entry, status


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _sum64(buffer: np.ndarray) -> int:
    """Sum of the buffer's little-endian 64-bit words mod 2**64 (its length is a multiple of 8)."""
    return int(np.add.reduce(buffer.view("<u8"), dtype=np.uint64))


def write_entry(path: Path, key: str, entry: Entry) -> None:
    """Write ``entry`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    arrays = {name: np.ascontiguousarray(a) for name, a in entry.arrays.items()}
    specs, offset = [], 0
    for name, array in arrays.items():
        if array.dtype.kind not in NUMERIC_KINDS:
            raise TypeError(f"cannot cache array {name} of dtype {array.dtype}")
        specs.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape), "offset": offset})
        offset = _aligned(offset + array.nbytes)
    checksum = 0
    for array in arrays.values():
        raw = array.reshape(-1).view(np.uint8)
        padded = raw if raw.size % 8 == 0 else np.concatenate([raw, np.zeros(8 - raw.size % 8, np.uint8)])
        checksum = (checksum + _sum64(padded)) % 2**64
    header = json.dumps({"format": CACHE_FORMAT, "key": key, "meta": entry.meta, "arrays": specs,
                         "payload_bytes": offset, "sum64": checksum}).encode("utf-8")
    start = _aligned(len(MAGIC) + 8 + len(header))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(MAGIC + len(header).to_bytes(8, "little") + header)
            for spec, array in zip(specs, arrays.values()):
                fh.write(b"\0" * (start + spec["offset"] - fh.tell()))
                fh.write(memoryview(array.reshape(-1).view(np.uint8)))
            fh.write(b"\0" * (start + offset - fh.tell()))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_header(fh: Any) -> dict[str, Any]:
    """The JSON header after the magic and length; the file position ends just after it."""
    if fh.read(len(MAGIC)) != MAGIC:
        raise CacheDamaged("not a cache entry (bad magic)")
    length = int.from_bytes(fh.read(8), "little")
    if not 0 < length <= MAX_HEADER:
        raise CacheDamaged(f"bad header length {length}")
    raw = fh.read(length)
    if len(raw) != length:
        raise CacheDamaged("truncated header")
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise CacheDamaged(f"unreadable header ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != CACHE_FORMAT:
        raise CacheDamaged("unknown entry format")
    return header


def read_entry(path: Path, key: str) -> Entry:
    """Map and verify the entry at ``path``; raise CacheDamaged when anything does not add up."""
    with open(path, "rb") as fh:
        header = _read_header(fh)
        start = _aligned(fh.tell())
        try:
            if header["key"] != key:
                raise CacheDamaged("the entry holds another key")
            payload, specs = int(header["payload_bytes"]), list(header["arrays"])
            expected_sum = int(header["sum64"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CacheDamaged(f"incomplete header ({exc})") from None
        size = os.fstat(fh.fileno()).st_size
        if payload % 8 or size != start + payload:
            raise CacheDamaged(f"size {size} bytes, expected {start + payload} (truncated or padded)")
        if payload == 0:
            raise CacheDamaged("empty payload")
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    if _sum64(np.frombuffer(mapped, np.uint8, count=payload, offset=start)) != expected_sum:
        raise CacheDamaged("checksum mismatch")
    arrays = {}
    for spec in specs:
        try:
            dtype, shape, offset = np.dtype(spec["dtype"]), tuple(int(d) for d in spec["shape"]), int(spec["offset"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CacheDamaged(f"bad array description ({exc})") from None
        count = math.prod(shape)
        if dtype.kind not in NUMERIC_KINDS or offset % ALIGN or offset + count * dtype.itemsize > payload:
            raise CacheDamaged(f"array {spec.get('name')} does not fit the payload")
        arrays[str(spec["name"])] = np.frombuffer(mapped, dtype, count=count, offset=start + offset).reshape(shape)
    return Entry(arrays, header.get("meta") or {})


def require(entry: Entry, name: str, dtype: Any, ndim: int) -> np.ndarray:
    """The entry's array ``name`` if it has ``dtype`` and ``ndim`` dimensions; else CacheDamaged."""
    array = entry.arrays.get(name)
    if array is None:
        raise CacheDamaged(f"no array {name}")
    if array.dtype != np.dtype(dtype) or array.ndim != ndim:
        raise CacheDamaged(f"{name} is {array.dtype}{list(array.shape)}, expected {np.dtype(dtype)} with {ndim} dims")
    return array
