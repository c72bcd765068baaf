"""The IDX file format of MNIST-style datasets (LeCun et al.), read and written with numpy.

Layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions,
then one big-endian uint32 per dimension, then the data in C order.
Files may be gzipped (detected by content, not by name).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from oekaki.core.errors import IdxError

GZIP_MAGIC = b"\x1f\x8b"
UBYTE = 0x08


def read_idx_bytes(path: Path) -> bytes:
    """The decompressed content of an IDX file (gzipped or not)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise IdxError(f"{path}: file not found") from exc
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise IdxError(f"{path}: corrupt or truncated gzip data ({exc}); download or copy the file again") from exc


def parse_idx(content: bytes, path: Path, expected_ndim: int) -> np.ndarray:
    """Parse decompressed IDX content into a uint8 array, checking magic, shape and length."""
    if len(content) < 4:
        raise IdxError(f"{path}: too short to be an IDX file ({len(content)} bytes)")
    if content[0:2] != b"\x00\x00" or content[2] != UBYTE:
        raise IdxError(
            f"{path}: wrong magic number 0x{content[:4].hex()}; expected 0x000008{expected_ndim:02x} "
            "(an unsigned-byte IDX file, as MNIST ships)"
        )
    ndim = content[3]
    if ndim != expected_ndim:
        kind = "images (3 dimensions)" if expected_ndim == 3 else "labels (1 dimension)"
        raise IdxError(f"{path}: has {ndim} dimensions; expected {kind}")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise IdxError(f"{path}: truncated header")
    dims = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    need = header + int(np.prod(dims))
    if len(content) != need:
        state = "truncated" if len(content) < need else "has trailing bytes"
        raise IdxError(f"{path}: {state}: header promises {dims} = {need - header} bytes of data, file holds {len(content) - header}")
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: Path, expected_ndim: int) -> tuple[np.ndarray, str]:
    """Read one IDX file. Returns the array and the SHA-256 of its decompressed content."""
    content = read_idx_bytes(path)
    return parse_idx(content, Path(path), expected_ndim), hashlib.sha256(content).hexdigest()


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (uncompressed)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()
