"""One stored checkpoint: its objects in the artifact store, then its models row.

A checkpoint written into a scratch folder gets its serving artifact beside it and goes to the
store in this order: the training state, its manifest, the artifact's weights, the artifact's
config — only then may its models row be written, so no reader ever sees a row whose objects
are missing or partial. Store keys are the files' paths relative to the scratch root, so the
local default store (the runs folder itself) holds exactly the files that were written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.artifact_store import ArtifactStore
from shared_models.checkpoint import Manifest, manifest_path
from shared_models.serving_artifact import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ArtifactInfo,
    write_serving_artifact,
)

MODELS_DIR = "models"


def artifact_dir(run_dir: Path, step: int) -> Path:
    return run_dir / MODELS_DIR / f"step_{step:07d}"


def manifest_key(checkpoint_key: str) -> str:
    return checkpoint_key.rsplit(".", 1)[0] + ".json"


def artifact_keys(artifact_key: str) -> tuple[str, str]:
    return f"{artifact_key}/{WEIGHTS_FILE}", f"{artifact_key}/{CONFIG_FILE}"


class StoredCheckpoint:
    """Puts a scratch folder's checkpoints into the store, keyed by their relative paths."""

    def __init__(self, store: ArtifactStore, scratch_root: Path) -> None:
        self.store = store
        self.scratch_root = scratch_root.resolve()

    def key(self, path: Path) -> str:
        return path.resolve().relative_to(self.scratch_root).as_posix()

    def upload(self, job_id: str, manifest: Manifest, state: dict[str, Any]) -> dict[str, Any]:
        """Write the serving artifact, upload everything in order; the models row's fields."""
        folder = artifact_dir(manifest.run_dir, manifest.step)
        info = write_serving_artifact(state, folder, manifest.sha256)
        for path in (manifest.path, manifest_path(manifest.path),
                     folder / WEIGHTS_FILE, folder / CONFIG_FILE):
            self.store.put_file(path, self.key(path))
        return model_fields(job_id, manifest, info, self.key(manifest.path), self.key(folder))


def model_fields(
    job_id: str, manifest: Manifest, info: ArtifactInfo, checkpoint_key: str, artifact_key: str
) -> dict[str, Any]:
    """A models row for a stored checkpoint and its serving artifact."""
    return {
        "job_id": job_id,
        "step": manifest.step,
        "iterations": manifest.iterations,
        "final": manifest.final,
        "dataset": manifest.dataset,
        "conditional": info.conditional,
        "ema_decay": info.ema_decay,
        "checkpoint_key": checkpoint_key,
        "checkpoint_sha256": manifest.sha256,
        "checkpoint_size": manifest.size,
        "artifact_key": artifact_key,
        "sha256": info.sha256,
        "size": info.size,
    }
