"""Verified files: payload bytes written atomically, then a JSON manifest that vouches for them.

A payload (a checkpoint, a classifier's weights, a serving artifact's weights) is complete once
its manifest exists. Both are written under a temporary name, flushed, fsync'd and renamed into
place (then the folder is fsync'd), so a crash at any moment leaves either the old files or the
new ones, never a half-written file under a real name. The manifest carries the format version,
the payload's SHA-256 and size, and whatever fields its owner adds.

Reading takes the bytes once, checks their size and SHA-256 against the manifest and the
manifest's format version, and hands back both: the caller parses bytes that are known to be
the ones written.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

RESERVED = ("format", "sha256", "size")


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
) -> dict[str, Any]:
    """The manifest of ``path`` as a dict, its format and its sha256/size fields checked.

    ``format_required=False`` reads a manifest without a ``format`` field as this version
    (checkpoints keep their format inside the payload too, and that is checked on loading).
    """
    source = manifest or default_manifest(path)
    try:
        data = json.loads(source.read_text())
    except FileNotFoundError:
        raise error(f"{path}: no manifest ({source.name}); incomplete") from None
    except (OSError, ValueError) as exc:
        raise error(f"{source}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict):
        raise error(f"{source}: unreadable manifest (not a JSON object)")
    found = data.get("format", None if format_required else format_version)
    if found != format_version:
        raise error(f"{source}: unreadable manifest (format {found!r}, expected {format_version})")
    if not isinstance(data.get("sha256"), str) or not isinstance(data.get("size"), int):
        raise error(f"{source}: unreadable manifest (no sha256 and size of {path.name})")
    return data


def read_verified(
    path: Path,
    *,
    format_version: int,
    manifest: Path | None = None,
    error: type[VerifiedFileError] = VerifiedFileError,
    format_required: bool = True,
) -> tuple[bytes, dict[str, Any]]:
    """Read ``path`` once and check it against its manifest: (payload, manifest)."""
    data = read_manifest(
        path,
        format_version=format_version,
        manifest=manifest,
        error=error,
        format_required=format_required,
    )
    try:
        payload = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc})") from exc
    check_payload(path, payload, data, error)
    return payload, data


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
