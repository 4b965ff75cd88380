"""Checkpoints: one file per save, written atomically, with a manifest carrying its SHA-256.

A checkpoint ``step_0000500.pt`` is complete once its manifest ``step_0000500.json`` exists.
Both are written to a temporary name, flushed, fsync'd and renamed into place (then the
folder is fsync'd), so a crash at any moment leaves either the old files or the new ones,
never a half-written file under a real name. Loading reads the bytes once, checks them
against the manifest and unpickles them with ``torch.load(weights_only=True)``. Writing and
checking are :mod:`shared_models.verified_files`; this module knows what a checkpoint holds.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from shared_models import stored_values as stored
from shared_models import verified_files
from shared_models.verified_files import VerifiedFileError
from shared_models.verified_files import atomic_write as atomic_write  # callers use it too

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step_(\d{7,})\.pt$")


class CheckpointError(VerifiedFileError):
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
            "sha256": self.sha256,
            "size": self.size,
            "file": self.path.name,
            "step": self.step,
            "iterations": self.iterations,
            "dataset": self.dataset,
            "final": self.final,
            "created_at": self.created_at,
            **self.extra,
        }

    @classmethod
    def from_json(cls, checkpoint: Path, data: dict[str, Any]) -> Manifest:
        """The manifest in ``data``, each field of the type it was written as (ValueError
        naming the first that is not)."""
        return cls(
            path=checkpoint,
            sha256=stored.sha256_text(data, "sha256"),
            size=stored.integer(data, "size"),
            step=stored.integer(data, "step"),
            iterations=stored.integer(data, "iterations"),
            dataset=stored.text(data, "dataset"),
            final=stored.flag(data, "final"),
            created_at=stored.real(data, "created_at"),
            extra={key: value for key, value in data.items() if key not in _KNOWN},
        )


_KNOWN = {
    "format", "file", "sha256", "size", "step", "iterations", "dataset", "final", "created_at"
}


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / CHECKPOINT_DIR / f"step_{step:07d}.pt"


def manifest_path(checkpoint: Path) -> Path:
    return verified_files.default_manifest(checkpoint)


def save_checkpoint(
    state: dict[str, Any], path: Path, *, final: bool = False, extra: dict[str, Any] | None = None
) -> Manifest:
    """Serialise ``state`` to ``path`` atomically, then its manifest."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    average = state.get("generator_average")
    fields = {
        "file": path.name,
        "step": int(state["step"]),
        "iterations": int(state["train_config"]["iterations"]),
        "dataset": str(state["dataset"]),
        "final": final,
        "created_at": time.time(),
        "generator_config": state["generator_config"],
        # the weights a sampler loads: the average when the run keeps one
        "ema_decay": average["decay"] if average else 0.0,
        **(extra or {}),
    }
    data = verified_files.write_verified(
        path, buffer.getvalue(), fields, format_version=FORMAT_VERSION
    )
    return Manifest.from_json(path, data)


def read_manifest(checkpoint: Path) -> Manifest:
    """A checkpoint's manifest. One without a "format" field is read as this version: the
    checkpoint carries its own format, checked once it is unpickled."""
    data = verified_files.read_manifest(
        checkpoint, format_version=FORMAT_VERSION, error=CheckpointError, format_required=False,
        allow_nan=True,  # figures entered later (older runs' "metrics") may be NaN
    )
    return _manifest(checkpoint, data)


def load_checkpoint(
    checkpoint: Path, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], Manifest]:
    """Read, verify against the manifest and unpickle (weights only) one checkpoint."""
    manifest = read_manifest(checkpoint)
    payload = verified_files.read_payload(checkpoint, manifest.to_json(), CheckpointError)
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is a bad checkpoint
        raise CheckpointError(f"{checkpoint}: cannot load ({error})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{checkpoint}: not a dcgan checkpoint (format {FORMAT_VERSION})")
    return state, manifest


def _manifest(checkpoint: Path, data: dict[str, Any]) -> Manifest:
    try:
        return Manifest.from_json(checkpoint, data)
    except ValueError as error:
        source = manifest_path(checkpoint)
        raise CheckpointError(f"{source}: unreadable manifest ({error})") from error


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


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A checkpoint read, verified against its manifest and unpickled: what resuming,
    sampling and exporting start from."""

    state: dict[str, Any]
    manifest: Manifest


def newest_checkpoint(
    run_dir: Path, map_location: str | torch.device = "cpu"
) -> LoadedCheckpoint | None:
    """The run's newest checkpoint that verifies and loads, each file read once: newer ones
    that do not (cut short, corrupted) are skipped with a warning."""
    for manifest in sorted(iter_manifests(run_dir), key=lambda m: m.step, reverse=True):
        try:
            state, verified = load_checkpoint(manifest.path, map_location)
        except CheckpointError as error:
            log.warning("skipping %s: %s", manifest.path.name, error)
            continue
        return LoadedCheckpoint(state, verified)
    return None


def read_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """A checkpoint file, or a run folder's newest complete checkpoint: read and verified once."""
    if path.is_dir():
        newest = newest_checkpoint(path, map_location)
        if newest is None:
            raise CheckpointError(f"{path}: no complete checkpoint in this run folder")
        return newest
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    return LoadedCheckpoint(*load_checkpoint(path, map_location))


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

