"""Deleting a finished job and retention's pruning, on SQLite and PostgreSQL with a real
local store: rows first, then the objects; never a running job's, nor the pinned or served
model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from artifacts.publishing import StoredModel, artifact_keys, manifest_key
from artifacts.store import ArtifactStore
from jobs.job_removal import JobInUse, JobNotFound, prune_finished, remove_job
from jobs.job_store import JobStore
from jobs.states import JobState
from registry.model_records import ModelRecords
from registry.serving_pins import PinAction, ServingPins


@pytest.fixture
def objects(tmp_path) -> ArtifactStore:
    return ArtifactStore.from_url(str(tmp_path / "store"))


def stored_model(records: ModelRecords, objects: ArtifactStore, job: str, step: int,
                 final: bool = False):
    checkpoint = f"{job}/checkpoints/step_{step:07d}.pt"
    artifact = f"{job}/models/step_{step:07d}"
    for key in (checkpoint, manifest_key(checkpoint), *artifact_keys(artifact)):
        objects.put_bytes(b"x", key)
    record = records.add(StoredModel(
        job_id=job, step=step, iterations=30, final=final, dataset="mnist", conditional=False,
        ema_decay=0.0, served_weights="the live weights", checkpoint_key=checkpoint,
        checkpoint_sha256="c" * 64, checkpoint_size=1,
        artifact_key=artifact, sha256=f"{job}{step}".ljust(64, "0"), size=1,
    ))
    time.sleep(0.003)
    return record


def finished_job(store: JobStore, state: JobState = JobState.SUCCEEDED) -> str:
    job = store.submit({"iterations": 30}, 30, "q", 100).id
    assert store.claim(job, "w", 30, 3).run
    store.finish(job, "w", state)
    time.sleep(0.003)
    return job


def test_a_finished_job_is_deleted_with_its_rows_then_its_objects(store, records, objects):
    job = finished_job(store)
    for step in (10, 20):
        stored_model(records, objects, job, step)
    stored_model(records, objects, job, 30, final=True)
    store.save_losses(job, np.zeros((30, 2)))
    other = finished_job(store)
    kept = stored_model(records, objects, other, 30, final=True)

    removed = remove_job(store.engine, objects, job)
    assert sorted(m.id for m in removed.models) == [f"{job}:10", f"{job}:20", f"{job}:30"]
    assert removed.objects == 12
    assert store.get(job) is None and store.losses(job) is None and records.of_job(job) == []
    assert objects.list(job) == [] and not (Path(objects.root) / job).exists()
    assert records.get(kept.id) == kept and len(objects.list(other)) == 4
    with pytest.raises(JobNotFound):
        remove_job(store.engine, objects, job)


def test_running_queued_pinned_and_served_jobs_are_not_deleted(store, records, objects,
                                                               engine):
    queued = store.submit({"iterations": 30}, 30, "q", 100).id
    with pytest.raises(JobInUse, match="is queued: cancel it first"):
        remove_job(engine, objects, queued)
    running = store.submit({"iterations": 30}, 30, "q", 100).id
    store.claim(running, "w", 30, 3)
    with pytest.raises(JobInUse, match="is running"):
        remove_job(engine, objects, running)
    pinned = finished_job(store)
    pinned_model = stored_model(records, objects, pinned, 30, final=True)
    ServingPins(engine).record(PinAction.PIN, pinned_model.id)
    with pytest.raises(JobInUse, match="is pinned"):
        remove_job(engine, objects, pinned)
    served = finished_job(store)
    served_model = stored_model(records, objects, served, 30, final=True)
    with pytest.raises(JobInUse, match="being served"):
        remove_job(engine, objects, served, protected={served_model.id})
    for job in (queued, running, pinned, served):
        assert store.get(job) is not None
    assert records.count() == 2 and len(objects.list("")) == 8
    ServingPins(engine).record(PinAction.UNPIN, None)
    assert remove_job(engine, objects, pinned).models == [pinned_model]


def test_retention_drops_rolling_checkpoints_and_the_models_of_old_jobs(store, records,
                                                                        objects, engine):
    oldest = finished_job(store)
    stored_model(records, objects, oldest, 30, final=True)
    pinned_job = finished_job(store)
    pinned = stored_model(records, objects, pinned_job, 30, final=True)
    ServingPins(engine).record(PinAction.PIN, pinned.id)
    served_job = finished_job(store)
    served = stored_model(records, objects, served_job, 30, final=True)
    cancelled = finished_job(store, JobState.CANCELLED)  # no final model: its newest stays
    cancelled_rolling = stored_model(records, objects, cancelled, 10)
    cancelled_newest = stored_model(records, objects, cancelled, 20)
    newest = finished_job(store)
    newest_rolling = stored_model(records, objects, newest, 10)
    newest_final = stored_model(records, objects, newest, 30, final=True)
    running = store.submit({"iterations": 30}, 30, "q", 100).id
    store.claim(running, "w", 30, 3)
    running_rolling = [stored_model(records, objects, running, step) for step in (10, 20)]

    deleted = prune_finished(engine, objects, keep_jobs=2, protected={served.id})
    assert sorted(m.id for m in deleted) == sorted([
        f"{oldest}:30", cancelled_rolling.id, newest_rolling.id
    ])
    left = {m.id for m in records.page(0, 100)[0]}
    assert left == {pinned.id, served.id, cancelled_newest.id, newest_final.id,
                    *(m.id for m in running_rolling)}
    assert objects.list(oldest) == [] and len(objects.list(newest)) == 4
    assert store.get(oldest) is not None  # the record stays
    assert prune_finished(engine, objects, keep_jobs=2, protected={served.id}) == []
