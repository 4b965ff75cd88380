"""Verified files: payload bytes written atomically, then a JSON manifest that vouches for them.

A payload (a checkpoint, a classifier's weights, a serving artifact's weights) is complete once
its manifest exists. Both are written under a temporary name, flushed, fsync'd and renamed into
place (then the folder is fsync'd), so a crash at any moment leaves either the old files or the
new ones, never a half-written file under a real name. The manifest carries the format version,
the payload's SHA-256 and size, and whatever fields its owner adds.

Reading takes the bytes once, checks their size and SHA-256 against the manifest and the
manifest's format version, and hands back both: the caller parses bytes that are known to be
the ones written. Nothing on disk is trusted before it is checked: a manifest is read only up
to a bound and must be a JSON object of bounded nesting, and a payload whose size on disk is
not the manifest's is refused before any of it is read.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from shared_models.stored_values import integer, is_integer, sha256_text, shown

RESERVED = ("format", "sha256", "size")
# A manifest is a few lines of JSON; these bounds are far above any written, and keep a
# damaged or hostile one from costing more than a moment to refuse.
MAX_MANIFEST_BYTES = 1 << 20
MAX_MANIFEST_DEPTH = 32  # objects and lists inside one another


class VerifiedFileError(RuntimeError):
    """A verified file is missing its manifest, unreadable, or not what its manifest says."""


def default_manifest(path: Path) -> Path:
    """``step_0000500.pt`` -> ``step_0000500.json``."""
    return path.with_suffix(".json")


def sha256_hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def write_verified(
    path: Path,
    payload: bytes,
    fields: Mapping[str, Any],
    *,
    format_version: int,
    manifest: Path | None = None,
) -> dict[str, Any]:
    """Write ``payload`` to ``path`` atomically, then its manifest; returns the manifest."""
    clash = [name for name in RESERVED if name in fields]
    if clash:
        raise ValueError(f"manifest fields {clash} are written by write_verified itself")
    data = {
        "format": format_version,
        "sha256": sha256_hex(payload),
        "size": len(payload),
        **fields,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, payload)
    write_manifest(manifest or default_manifest(path), data)
    return data


def write_manifest(manifest: Path, data: Mapping[str, Any]) -> None:
    """Replace a manifest atomically (e.g. to add figures computed later)."""
    atomic_write(manifest, json.dumps(data, indent=2).encode())


def read_manifest(
    path: Path,
    *,
    format_version: int,
    manifest: Path | None = None,
    error: type[VerifiedFileError] = VerifiedFileError,
    format_required: bool = True,
    allow_nan: bool = False,
) -> dict[str, Any]:
    """The manifest of ``path`` as a dict, its format and its sha256/size fields checked.

    ``format_required=False`` reads a manifest without a ``format`` field as this version
    (checkpoints keep their format inside the payload too, and that is checked on loading).
    ``allow_nan`` admits NaN and infinite numbers (see :func:`parse_manifest`).
    """
    source = manifest or default_manifest(path)
    try:
        with open(source, "rb") as handle:
            text = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{path}: no manifest ({source.name}); incomplete") from None
    except OSError as exc:
        raise error(f"{source}: unreadable manifest ({exc})") from exc
    data = parse_manifest(text, source, error, allow_nan=allow_nan)
    found = data.get("format", None if format_required else format_version)
    if not is_integer(found) or found != format_version:
        raise error(
            f"{source}: unreadable manifest (format {shown(found)}, expected {format_version})"
        )
    if not isinstance(data.get("sha256"), str) or not is_integer(data.get("size")):
        raise error(f"{source}: unreadable manifest (no sha256 and size of {path.name})")
    try:
        sha256_text(data, "sha256")
        integer(data, "size")
    except ValueError as exc:
        raise error(f"{source}: unreadable manifest ({exc})") from exc
    return data


def parse_manifest(
    text: bytes,
    source: Path | str,
    error: type[VerifiedFileError] = VerifiedFileError,
    *,
    allow_nan: bool = False,
) -> dict[str, Any]:
    """The JSON object in ``text``, or ``error`` saying what is wrong with it: over
    MAX_MANIFEST_BYTES, not JSON, not an object, nested deeper than MAX_MANIFEST_DEPTH, text
    that UTF-8 cannot hold, or (unless ``allow_nan``) NaN or an infinite number."""
    if len(text) > MAX_MANIFEST_BYTES:
        raise error(f"{source}: unreadable manifest (over {MAX_MANIFEST_BYTES} bytes)")
    try:
        if allow_nan:
            data = json.loads(text)
        else:
            data = json.loads(text, parse_constant=_refuse, parse_float=_finite)
    except RecursionError:
        raise error(f"{source}: unreadable manifest (nested too deeply)") from None
    except ValueError as exc:  # not JSON, not UTF-8, a number Python will not parse
        raise error(f"{source}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict):
        raise error(f"{source}: unreadable manifest (not a JSON object)")
    problem = _structure_problem(data)
    if problem:
        raise error(f"{source}: unreadable manifest ({problem})")
    return data


def _refuse(constant: str) -> float:
    raise ValueError(f"{constant} is not a number a manifest holds")


def _finite(literal: str) -> float:
    number = float(literal)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"{shown(literal)} is too large a number")
    return number


def _structure_problem(data: Any) -> str | None:
    """What makes parsed JSON unfit to hand on: nesting deeper than MAX_MANIFEST_DEPTH, or
    strings holding lone surrogates (JSON's \\ud800), which no file or response can encode."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return "text that is not UTF-8"
        elif isinstance(item, dict | list):
            if depth > MAX_MANIFEST_DEPTH:
                return f"nested deeper than {MAX_MANIFEST_DEPTH} levels"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def read_verified(
    path: Path,
    *,
    format_version: int,
    manifest: Path | None = None,
    error: type[VerifiedFileError] = VerifiedFileError,
    format_required: bool = True,
    allow_nan: bool = False,
) -> tuple[bytes, dict[str, Any]]:
    """Read ``path`` once and check it against its manifest: (payload, manifest)."""
    data = read_manifest(
        path,
        format_version=format_version,
        manifest=manifest,
        error=error,
        format_required=format_required,
        allow_nan=allow_nan,
    )
    return read_payload(path, data, error), data


def read_payload(
    path: Path, manifest: Mapping[str, Any], error: type[VerifiedFileError] = VerifiedFileError
) -> bytes:
    """The bytes of ``path``, checked against ``manifest`` (read by :func:`read_manifest`):
    a file whose size is not the manifest's is refused before any of it is read."""
    expected = manifest["size"]
    try:
        with open(path, "rb") as handle:
            found = os.fstat(handle.fileno()).st_size
            if found != expected:
                raise error(
                    f"{path}: contents do not match its manifest ({found} bytes; expected "
                    f"{expected} bytes)"
                )
            payload = handle.read(expected + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc})") from exc
    check_payload(path, payload, manifest, error)
    return payload


def check_payload(
    path: Path,
    payload: bytes,
    manifest: Mapping[str, Any],
    error: type[VerifiedFileError] = VerifiedFileError,
) -> None:
    digest = sha256_hex(payload)
    if len(payload) != manifest["size"] or digest != manifest["sha256"]:
        raise error(
            f"{path}: contents do not match its manifest "
            f"({len(payload)} bytes, sha256 {digest[:12]}…; expected {manifest['size']} bytes, "
            f"{str(manifest['sha256'])[:12]}…)"
        )


def temp_path(path: Path) -> Path:
    """A hidden temporary name beside ``path``, unique per process and call."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def atomic_write(path: Path, payload: bytes) -> None:
    """Write bytes under a temporary name, fsync, rename over ``path``, fsync the folder."""
    atomic_replace(path, lambda temp: temp.write_bytes(payload))


def atomic_replace(path: Path, fill: Callable[[Path], object]) -> None:
    """Have ``fill`` write a temporary file beside ``path``, fsync it, rename it over ``path``
    and fsync the folder: readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(path)
    try:
        fill(temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
