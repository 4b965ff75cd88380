"""Entering the checkpoints of a single-machine deployment into the models table.

Before the models table existed, the API found models by listing the runs folder. When the
migration that creates the table runs on such a deployment's database, this enters every
complete checkpoint found there — with the serving artifact made from it, its scores and its
time — so no model disappears; each job's loss history comes from its newest checkpoint. It
runs inside the migration's transaction, on the migration's connection.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sqlalchemy import Connection, insert, inspect

from artifacts.publishing import StoredCheckpoint
from artifacts.store import ArtifactStore
from core.tables import job_losses, models
from registry.model_records import model_id, stored_fields
from shared_models.checkpoint import (
    CHECKPOINT_DIR,
    CheckpointError,
    iter_manifests,
    load_checkpoint,
)

log = logging.getLogger(__name__)


class LegacyModelImport:
    def __init__(self, runs_dir: Path, store: ArtifactStore) -> None:
        self.runs_dir = runs_dir
        self.uploader = StoredCheckpoint(store, runs_dir)

    def __call__(self, connection: Connection) -> None:
        if not self.runs_dir.is_dir():
            return
        # the models table as the migration that runs this created it: later revisions add
        # columns (and fill them for the rows entered here)
        columns = {column["name"] for column in inspect(connection).get_columns(models.name)}
        imported = 0
        for run_dir in sorted(path.parent for path in self.runs_dir.glob(f"*/{CHECKPOINT_DIR}")):
            imported += self._import_run(connection, columns, run_dir)
        log.info("entered %d existing checkpoints into the models table", imported)

    def _import_run(self, connection: Connection, columns: set[str], run_dir: Path) -> int:
        job_id = run_dir.name
        newest_history = None
        count = 0
        for manifest in iter_manifests(run_dir):
            try:
                state, verified = load_checkpoint(manifest.path)
            except CheckpointError as error:
                log.warning("not entering %s: %s", manifest.path, error)
                continue
            stored = stored_fields(self.uploader.upload(job_id, verified, state))
            connection.execute(insert(models).values(
                id=model_id(job_id, verified.step),
                created_at=verified.created_at,
                metrics=verified.extra.get("metrics"),
                **{name: value for name, value in stored.items() if name in columns},
            ))
            newest_history = state["loss_history"]
            count += 1
        if newest_history is not None:
            history = np.ascontiguousarray(newest_history.float().numpy(), dtype="<f4")
            connection.execute(insert(job_losses).values(
                job_id=job_id, step=history.shape[0], history=history.tobytes(),
            ))
        return count
