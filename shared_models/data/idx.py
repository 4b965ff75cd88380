"""Reading and writing IDX files (the MNIST format), gzip'd or raw.

Every problem with a file raises :class:`DataError` naming that file: a wrong magic
number, an unexpected shape, a truncated body, trailing bytes or a broken gzip stream.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

UBYTE = 0x08


class DataError(RuntimeError):
    """A data set file is missing, corrupt or not what it claims to be."""


def read_idx(path: Path, expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Parse an unsigned-byte IDX file into a C-ordered uint8 array."""
    try:
        raw = _read_bytes(path)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot read ({error})") from error
    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != UBYTE or ndim == 0:
        raise DataError(f"{path}: not an unsigned-byte IDX file (header {raw[:4].hex()})")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    if expected_shape is not None and tuple(shape) != tuple(expected_shape):
        raise DataError(f"{path}: shape {tuple(shape)}, expected {tuple(expected_shape)}")
    body = len(raw) - header_size
    size = int(np.prod(shape))
    if body != size:
        kind = "truncated" if body < size else "has trailing bytes"
        raise DataError(f"{path}: {kind}: {body} data bytes for shape {tuple(shape)} ({size})")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as IDX (gzip'd when the name ends in .gz), atomically."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX writer takes uint8 arrays, got {array.dtype}")
    header = struct.pack(">HBB", 0, UBYTE, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + np.ascontiguousarray(array).tobytes()
    if path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _read_bytes(path: Path) -> bytes:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as handle:
            return handle.read()
    return path.read_bytes()
