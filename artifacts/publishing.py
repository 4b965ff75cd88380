"""One stored checkpoint: its objects in the artifact store, then its models row.

A checkpoint written into a scratch folder gets its serving artifact beside it and goes to the
store in this order: the training state, its manifest, the artifact's weights, the artifact's
config — only then may its models row be written, so no reader ever sees a row whose objects
are missing or partial. Store keys are the files' paths relative to the scratch root, so the
local default store (the runs folder itself) holds exactly the files that were written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artifacts.store import ArtifactStore
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

    def upload(self, job_id: str, manifest: Manifest, state: dict[str, Any]) -> StoredModel:
        """Write the serving artifact, upload everything in order; what the models row says."""
        folder = artifact_dir(manifest.run_dir, manifest.step)
        info = write_serving_artifact(state, folder, manifest.sha256)
        for path in (manifest.path, manifest_path(manifest.path),
                     folder / WEIGHTS_FILE, folder / CONFIG_FILE):
            self.store.put_file(path, self.key(path))
        return StoredModel.of(job_id, manifest, info, self.key(manifest.path), self.key(folder))


@dataclass(frozen=True)
class StoredModel:
    """A checkpoint and its serving artifact in the store: what the models row records about
    them (``registry.model_records.ModelRecord`` adds the row's own fields)."""

    job_id: str
    step: int
    iterations: int
    final: bool
    dataset: str
    conditional: bool
    ema_decay: float  # decay of the weight average the artifact holds; 0.0 = live weights
    served_weights: str  # which weights the artifact holds and why, in words
    checkpoint_key: str | None  # the training state in the artifact store (None: imported)
    checkpoint_sha256: str | None
    checkpoint_size: int | None
    artifact_key: str  # store folder of the serving artifact, e.g. "JOB/models/step_0000500"
    sha256: str  # of the artifact's model.safetensors: the served model's identity
    size: int

    def keys(self) -> list[str]:
        """Its objects in the store: the training state and its manifest (unless imported),
        the serving artifact's two files."""
        held = [] if self.checkpoint_key is None else [
            self.checkpoint_key, manifest_key(self.checkpoint_key)]
        return [*held, *artifact_keys(self.artifact_key)]

    @classmethod
    def of(
        cls, job_id: str, manifest: Manifest, info: ArtifactInfo, checkpoint_key: str,
        artifact_key: str,
    ) -> StoredModel:
        return cls(
            job_id=job_id,
            step=manifest.step,
            iterations=manifest.iterations,
            final=manifest.final,
            dataset=manifest.dataset,
            conditional=info.conditional,
            ema_decay=info.ema_decay,
            served_weights=info.served_weights,
            checkpoint_key=checkpoint_key,
            checkpoint_sha256=manifest.sha256,
            checkpoint_size=manifest.size,
            artifact_key=artifact_key,
            sha256=info.sha256,
            size=info.size,
        )
