"""Read arrays stored in the idx format used by MNIST (gzip-compressed or raw)."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"

# idx dtype code -> big-endian numpy dtype (the format is always big-endian).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxFormatError(ValueError):
    """An idx file is not valid: bad gzip stream, bad header or wrong payload size."""


def _read_bytes(path: Path) -> bytes:
    """Return the file's idx bytes, gunzipping when it is a gzip file or named *.gz."""
    raw = path.read_bytes()
    is_gzip = raw[:2] == GZIP_MAGIC
    if path.suffix == ".gz" and not is_gzip:
        found = raw[:2].hex(" ") or "nothing (empty file)"
        raise IdxFormatError(f"{path}: not a valid gzip file: expected magic bytes 1f 8b, found {found}")
    if not is_gzip:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as exc:
        raise IdxFormatError(f"{path}: truncated gzip file ({len(raw)} bytes): {exc}") from exc
    except (OSError, zlib.error) as exc:
        raise IdxFormatError(f"{path}: not a valid gzip file: {exc}") from exc


def _parse_header(path: Path, data: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """Validate the idx header and return (dtype, dims, header length in bytes)."""
    if len(data) < 4:
        raise IdxFormatError(
            f"{path}: file too short for an idx header: {len(data)} bytes, expected at least 4"
        )
    if data[0] != 0 or data[1] != 0:
        raise IdxFormatError(
            f"{path}: bad idx magic: expected first two bytes 00 00, found {data[:2].hex(' ')}"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IdxFormatError(f"{path}: unknown idx dtype code 0x{code:02X}, expected one of {known}")
    if ndim < 1:
        raise IdxFormatError(f"{path}: idx header declares 0 dimensions, expected at least 1")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IdxFormatError(
            f"{path}: file too short for an idx header with {ndim} dimensions: "
            f"{len(data)} bytes, expected at least {header_len}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return IDX_DTYPES[code], dims, header_len


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx (or idx.gz) file into a native-byte-order numpy array of its declared shape."""
    path = Path(path)
    data = _read_bytes(path)
    dtype, dims, header_len = _parse_header(path, data)
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_len
    if found != expected:
        problem = "shorter" if found < expected else "longer"
        raise IdxFormatError(
            f"{path}: payload {problem} than declared: shape {dims} of {dtype.name} needs "
            f"{expected} bytes, found {found}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)
