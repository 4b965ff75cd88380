"""Removing what finished jobs stored: one job or one model on request, and retention's
periodic pruning.

Rows go first, in one transaction, then the objects in the artifact store, so no reader ever
finds a row whose files are gone (the order the worker prunes a running job's rolling
checkpoints in). Whoever deleted a row deletes its objects: two API replicas pruning at the
same moment never both work on one model. The pinned model is never removed, nor any model
the caller names as protected (the served one).

Retention keeps, of each finished job, its model (the final checkpoint, or the newest one of
a job that ended without one) and drops its rolling checkpoints; of finished jobs beyond the
newest ``keep_jobs`` (by finish time) it drops the models too, except an open sweep's
members' (the sweep ranks them). Job records and loss curves stay: they are small, and the
history of what ran.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, delete, select

from artifacts.store import ArtifactStore
from core.tables import OPEN_SWEEP_JOBS, job_events, job_losses, jobs, models, serving_pins
from jobs.states import TERMINAL
from registry.model_records import ModelRecord

log = logging.getLogger(__name__)

FINISHED = sorted(state.value for state in TERMINAL)


class JobNotFound(LookupError):
    pass


class JobInUse(RuntimeError):
    """The job cannot be deleted now: it is not finished, or its model is served or pinned."""


@dataclass(frozen=True)
class Removed:
    job_id: str
    models: list[ModelRecord]
    objects: int  # store objects deleted


def remove_job(
    engine: Engine, store: ArtifactStore, job_id: str, protected: Collection[str] = ()
) -> Removed:
    """Delete a finished job: its record, loss curve and models rows, then its objects."""
    with engine.begin() as db:
        state = db.execute(select(jobs.c.state).where(jobs.c.id == job_id)).scalar()
        if state is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        if state not in FINISHED:
            raise JobInUse(
                f"job {job_id} is {state}: cancel it first (POST /jobs/{job_id}/cancel) and "
                "delete it once it has stopped"
            )
        own = [row.id for row in db.execute(select(models.c.id).where(models.c.job_id == job_id))]
        pinned = _pinned(db)
        for model_id in own:
            if model_id == pinned:
                raise JobInUse(f"its model {model_id} is pinned: unpin it or pin another first")
            if model_id in protected:
                raise JobInUse(
                    f"its model {model_id} is being served: pin another model first"
                )
        rows = _delete_models(db, models.c.job_id == job_id)
        db.execute(delete(job_losses).where(job_losses.c.job_id == job_id))
        db.execute(delete(job_events).where(job_events.c.job_id == job_id))
        db.execute(delete(jobs).where(jobs.c.id == job_id))
    keys = store.list(job_id)
    store.delete(*keys)
    folder = store.local_path(job_id)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    log.info("deleted job %s: %d models, %d stored objects", job_id, len(rows), len(keys))
    return Removed(job_id, rows, len(keys))


class ModelNotFound(LookupError):
    pass


def remove_model(
    engine: Engine, store: ArtifactStore, model_id: str, protected: Collection[str] = ()
) -> ModelRecord:
    """Delete one model: its row, then its objects. Not the pinned or a protected (served)
    one, nor a checkpoint of a job still queued or running (it resumes from its newest)."""
    with engine.begin() as db:
        job_id = db.execute(select(models.c.job_id).where(models.c.id == model_id)).scalar()
        if job_id is None:
            raise ModelNotFound(f"no model {model_id!r}")
        if model_id == _pinned(db):
            raise JobInUse(f"{model_id} is pinned: unpin it or pin another first")
        if model_id in protected:
            raise JobInUse(f"{model_id} is being served: pin another model first")
        state = db.execute(select(jobs.c.state).where(jobs.c.id == job_id)).scalar()
        if state is not None and state not in FINISHED:
            raise JobInUse(f"its job {job_id} is {state}: cancel it first")
        (deleted,) = _delete_models(db, models.c.id == model_id)
    delete_objects(store, [deleted])
    log.info("deleted model %s", model_id)
    return deleted


def prune_finished(
    engine: Engine, store: ArtifactStore, keep_jobs: int, protected: Collection[str] = ()
) -> list[ModelRecord]:
    """Retention: drop finished jobs' rolling checkpoints, and every model of the finished
    jobs (with models) beyond the newest ``keep_jobs``; the models deleted."""
    with engine.begin() as db:
        # one statement: the finished jobs and their models from one snapshot (two reads
        # would see a job finish in between and drop its models as an old job's)
        rows = db.execute(
            select(models.c.id, models.c.job_id, models.c.step, models.c.final,
                   jobs.c.finished_at)
            .join(jobs, jobs.c.id == models.c.job_id)
            .where(jobs.c.state.in_(FINISHED))
        ).all()
        kept = set(_newest_jobs(rows, keep_jobs))
        keep = {model_id for model_id in _job_models(rows) if _job_of(model_id) in kept}
        in_sweeps = set(db.execute(OPEN_SWEEP_JOBS).scalars())
        spared = keep | set(protected) | {_pinned(db)} | {
            row.id for row in rows if row.job_id in in_sweeps}
        doomed = [row.id for row in rows if row.id not in spared]
        deleted = _delete_models(db, models.c.id.in_(doomed)) if doomed else []
    delete_objects(store, deleted)
    if deleted:
        log.info("retention: dropped %d models of finished jobs (%s)", len(deleted),
                 ", ".join(record.id for record in deleted[:10]))
    return deleted


def delete_objects(store: ArtifactStore, records: Iterable[ModelRecord]) -> None:
    """The store objects of models whose rows are gone."""
    for record in records:
        store.delete(*record.keys())
        folder = store.local_path(record.artifact_key)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _newest_jobs(rows: Iterable[Any], count: int) -> list[str]:
    """The ``count`` most recently finished of the rows' jobs."""
    finished = {row.job_id: row.finished_at or 0.0 for row in rows}
    return sorted(finished, key=lambda job_id: (-finished[job_id], job_id))[:count]


def _job_models(rows: Iterable[Any]) -> set[str]:
    """Each job's model: its final checkpoint, else its newest."""
    best: dict[str, tuple[bool, int, str]] = {}
    for row in rows:
        candidate = (bool(row.final), row.step, row.id)
        if row.job_id not in best or candidate > best[row.job_id]:
            best[row.job_id] = candidate
    return {model_id for _, _, model_id in best.values()}


def _job_of(model_id: str) -> str:
    return model_id.rsplit(":", 1)[0]


def _pinned(db: Connection) -> str | None:
    newest = select(serving_pins.c.model_id).order_by(serving_pins.c.id.desc()).limit(1)
    return db.execute(newest).scalar()


def _delete_models(db: Connection, where: ColumnElement[bool]) -> list[ModelRecord]:
    deleted = db.execute(delete(models).where(where).returning(*models.c))
    return [ModelRecord.from_row(row) for row in deleted.mappings()]

