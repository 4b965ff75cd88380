"""Publishing a job's checkpoints: scratch folder -> artifact store -> models table.

Each checkpoint the training loop writes into the worker's scratch folder goes to the store
and then gets its models row (``artifacts.publishing``: objects first, row last). Rolling
checkpoints beyond the run's ``keep_checkpoints`` leave in the opposite order: row first, then
objects. A job that moves to another host resumes from the newest stored checkpoint.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from artifacts.publishing import StoredCheckpoint, manifest_key
from artifacts.store import ArtifactStore
from core import tracing
from jobs.job_store import JobStore
from registry.model_records import ModelRecord, ModelRecords
from shared_models.checkpoint import CheckpointError, manifest_path, read_manifest
from shared_models.training import SavedCheckpoint

log = logging.getLogger(__name__)


class CheckpointPublisher:
    def __init__(
        self, store: ArtifactStore, models: ModelRecords, jobs: JobStore, scratch_root: Path
    ) -> None:
        self.store = store
        self.models = models
        self.jobs = jobs
        self.scratch_root = scratch_root.resolve()
        self.uploader = StoredCheckpoint(store, scratch_root)

    def publish(self, job_id: str, saved: SavedCheckpoint, keep: int) -> ModelRecord:
        with tracing.span("checkpoint.publish", job=job_id, step=saved.manifest.step):
            record = self.models.add(self.uploader.upload(job_id, saved.manifest, saved.state))
            self.jobs.save_losses(job_id, saved.state["loss_history"].float().numpy())
            log.info("published %s (%.1f MB training state, %.1f MB serving artifact)",
                     record.id, (record.checkpoint_size or 0) / 1e6, record.size / 1e6)
            self.prune(job_id, keep)
            return record

    def prune(self, job_id: str, keep: int) -> None:
        """Drop all but the newest ``keep`` rolling checkpoints: row, then objects."""
        rolling = [record for record in self.models.of_job(job_id) if not record.final]
        for record in rolling[:-keep] if keep else rolling:
            self.models.delete(record.id)
            self.store.delete(*record.keys())
            local = self.scratch_root / record.artifact_key
            shutil.rmtree(local, ignore_errors=True)

    def fetch_newest(self, job_id: str) -> None:
        """Put the job's newest stored checkpoint into the scratch folder, unless it is there:
        a job handed to another host resumes from the store."""
        newest = self.models.newest_of_job(job_id)
        if newest is None or newest.checkpoint_key is None:
            return
        local = self.scratch_root / newest.checkpoint_key
        if self.store.local_path(newest.checkpoint_key) == local or _holds(local, newest):
            return
        log.info("job %s: fetching its step %d checkpoint from the store", job_id, newest.step)
        local.parent.mkdir(parents=True, exist_ok=True)
        self.store.get_file(manifest_key(newest.checkpoint_key), manifest_path(local))
        self.store.get_file(newest.checkpoint_key, local)

    def scratch_is_store(self) -> bool:
        return self.store.local and Path(self.store.root) == self.scratch_root

    def clear_scratch(self, job_id: str) -> None:
        """Forget the job's local copies once the store holds everything (remote stores)."""
        if not self.scratch_is_store():
            shutil.rmtree(self.scratch_root / job_id, ignore_errors=True)


def _holds(local: Path, record: ModelRecord) -> bool:
    """The scratch file is the stored checkpoint (by its manifest's hash)."""
    try:
        return local.is_file() and read_manifest(local).sha256 == record.checkpoint_sha256
    except CheckpointError:
        return False

