"""Checkpoints: one file per save, written atomically, with a manifest carrying its SHA-256.

A checkpoint ``step_0000500.pt`` is complete once its manifest ``step_0000500.json`` exists.
Both are written to a temporary name, flushed, fsync'd and renamed into place (then the
folder is fsync'd), so a crash at any moment leaves either the old files or the new ones,
never a half-written file under a real name. Loading reads the bytes once, checks them
against the manifest and unpickles them with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step_(\d{7,})\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt or does not match its manifest."""


@dataclass(frozen=True)
class Manifest:
    path: Path  # the checkpoint file this manifest describes
    sha256: str
    size: int
    step: int
    iterations: int
    dataset: str
    final: bool
    created_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.path.parent.parent

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "file": self.path.name,
            "sha256": self.sha256,
            "size": self.size,
            "step": self.step,
            "iterations": self.iterations,
            "dataset": self.dataset,
            "final": self.final,
            "created_at": self.created_at,
            **self.extra,
        }


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / CHECKPOINT_DIR / f"step_{step:07d}.pt"


def manifest_path(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".json")


def save_checkpoint(
    state: dict[str, Any], path: Path, *, final: bool = False, extra: dict[str, Any] | None = None
) -> Manifest:
    """Serialise ``state`` to ``path`` atomically, then its manifest."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    average = state.get("generator_average")
    manifest = Manifest(
        path=path,
        sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload),
        step=int(state["step"]),
        iterations=int(state["train_config"]["iterations"]),
        dataset=str(state["dataset"]),
        final=final,
        created_at=time.time(),
        extra={
            "generator_config": state["generator_config"],
            # the weights a sampler loads: the average when the run keeps one
            "ema_decay": average["decay"] if average else 0.0,
            **(extra or {}),
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, payload)
    atomic_write(manifest_path(path), json.dumps(manifest.to_json(), indent=2).encode())
    return manifest


def atomic_write(path: Path, payload: bytes) -> None:
    """Write bytes under a temporary name, fsync, rename over ``path``, fsync the folder."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def update_manifest(manifest: Manifest, **extra: Any) -> Manifest:
    """Add fields (e.g. evaluation figures) to a manifest, atomically."""
    updated = Manifest(**{**manifest.__dict__, "extra": {**manifest.extra, **extra}})
    atomic_write(manifest_path(manifest.path), json.dumps(updated.to_json(), indent=2).encode())
    return updated


def read_manifest(checkpoint: Path) -> Manifest:
    source = manifest_path(checkpoint)
    try:
        data = json.loads(source.read_text())
        known = {
            "format",
            "file",
            "sha256",
            "size",
            "step",
            "iterations",
            "dataset",
            "final",
            "created_at",
        }
        return Manifest(
            path=checkpoint,
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            step=int(data["step"]),
            iterations=int(data["iterations"]),
            dataset=str(data["dataset"]),
            final=bool(data["final"]),
            created_at=float(data["created_at"]),
            extra={key: value for key, value in data.items() if key not in known},
        )
    except FileNotFoundError:
        raise CheckpointError(f"{checkpoint}: no manifest ({source.name}); incomplete") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{source}: unreadable manifest ({error})") from error


def load_checkpoint(
    checkpoint: Path, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], Manifest]:
    """Read, verify against the manifest and unpickle (weights only) one checkpoint."""
    manifest = read_manifest(checkpoint)
    try:
        payload = checkpoint.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{checkpoint}: cannot read ({error})") from error
    digest = hashlib.sha256(payload).hexdigest()
    if len(payload) != manifest.size or digest != manifest.sha256:
        raise CheckpointError(
            f"{checkpoint}: contents do not match its manifest "
            f"({len(payload)} bytes, sha256 {digest[:12]}…; expected {manifest.size} bytes, "
            f"{manifest.sha256[:12]}…)"
        )
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad checkpoint
        raise CheckpointError(f"{checkpoint}: cannot load ({error})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{checkpoint}: not a dcgan checkpoint (format {FORMAT_VERSION})")
    return state, manifest


def iter_manifests(run_dir: Path) -> Iterator[Manifest]:
    """Manifests of the complete checkpoints in one run folder, oldest step first."""
    folder = run_dir / CHECKPOINT_DIR
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if _NAME.match(path.name):
            try:
                yield read_manifest(path)
            except CheckpointError:
                continue  # written without its manifest: a save that did not finish


def latest_checkpoint(run_dir: Path) -> Manifest | None:
    """The newest checkpoint of a run whose file still matches its manifest."""
    for manifest in sorted(iter_manifests(run_dir), key=lambda m: m.step, reverse=True):
        if verify_file(manifest):
            return manifest
        log.warning("skipping %s: it does not match its manifest", manifest.path)
    return None


def verify_file(manifest: Manifest) -> bool:
    try:
        payload = manifest.path.read_bytes()
    except OSError:
        return False
    return len(payload) == manifest.size and hashlib.sha256(payload).hexdigest() == manifest.sha256


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` non-final checkpoints (manifest first)."""
    rolling = [m for m in iter_manifests(run_dir) if not m.final]
    for manifest in sorted(rolling, key=lambda m: m.step)[:-keep] if keep else rolling:
        manifest_path(manifest.path).unlink(missing_ok=True)
        manifest.path.unlink(missing_ok=True)


def remove_stale_temp_files(run_dir: Path) -> None:
    folder = run_dir / CHECKPOINT_DIR
    if folder.is_dir():
        for temp in folder.glob(".*.tmp-*"):
            temp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
