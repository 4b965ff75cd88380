"""Job records shared by the API replicas and the workers, in SQLite or PostgreSQL.

Every state change is one conditional UPDATE evaluated by the database, against the database's
clock (``db_now()``), so replicas and workers on different hosts never race: a job is cancelled
only while queued, started only while not finished, and run by one worker at a time, the holder
of its lease. Submissions serialise on the admission row, so the cap on active jobs holds
however many API replicas accept jobs at once.

Every change a watcher cares about also writes the job's next event (``job_events``), in the
same transaction: the UPDATE that makes the change takes the event's number from the job's
row (``event_seq + 1``), so a job's events commit in their order, one after another, whichever
host writes them (``jobs.events`` reads them back).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    RowMapping,
    String,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from core.database import db_now, json_merge, reading, upsert
from core.tables import (
    ADMISSION_ROW,
    admission,
    job_events,
    job_losses,
    jobs,
    stopping_workers,
)
from jobs.events import EventKind, JobEvent, state_event
from jobs.progress import JobProgress
from jobs.states import ACTIVE, TERMINAL, JobState

FINISHED = sorted(TERMINAL)
IS_ACTIVE = jobs.c.state.in_(sorted(ACTIVE))
COUNT_ACTIVE = select(func.count()).select_from(jobs).where(IS_ACTIVE)


@dataclass(frozen=True)
class JobRecord:
    id: str
    state: JobState
    created_at: float
    updated_at: float
    params: dict[str, Any]
    progress: dict[str, Any]
    error: str | None
    cancel_requested: bool
    attempts: int
    lease_owner: str | None
    lease_until: float | None
    enqueued_at: float | None
    started_at: float | None
    finished_at: float | None
    queue: str
    event_seq: int
    trace_context: dict[str, str] | None
    tracking_run_id: str | None
    sweep_id: str | None = None  # the sweep it is a member of

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @classmethod
    def from_row(cls, row: RowMapping) -> JobRecord:
        fields = dict(row)
        fields["state"] = JobState(fields["state"])
        fields["cancel_requested"] = bool(fields["cancel_requested"])
        return cls(**fields)


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a delivered job."""

    record: JobRecord | None
    run: bool  # True: this worker holds the lease and must run the job
    reason: str


class CapReached(Exception):
    """A submission refused: as many jobs as allowed are queued or running."""

    def __init__(self, active: int, limit: int) -> None:
        super().__init__(f"{active} jobs are queued or running (the limit is {limit})")
        self.active = active
        self.limit = limit


class JobStore:
    """Job records in the database behind ``engine``; the schema comes from the migrations."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- the API's side ----------------------------------------------------------------------

    def submit(
        self, params: dict[str, Any], total: int, queue: str, max_active: int,
        job_id: str | None = None, sweep_id: str | None = None,
    ) -> JobRecord:
        """A new queued job (``job_id``, else a random one), unless ``max_active`` jobs are
        already queued or running; an IntegrityError when ``job_id`` exists.

        The transaction's first statement updates the admission row: PostgreSQL locks that row
        and SQLite the whole database until commit, so concurrent submissions count and insert
        one after another and the cap holds under READ COMMITTED too.
        """
        with self.engine.begin() as db:
            admitted = db.execute(
                update(admission)
                .where(admission.c.id == ADMISSION_ROW)
                .values(submissions=admission.c.submissions + 1)
            )
            if admitted.rowcount != 1:
                raise RuntimeError("the jobs database has no admission row: run the migrations")
            active = db.execute(COUNT_ACTIVE).scalar_one()
            if active >= max_active:
                raise CapReached(active, max_active)
            job = insert(jobs).values(
                id=job_id or uuid.uuid4().hex,
                sweep_id=sweep_id,
                created_at=db_now(),
                updated_at=db_now(),
                state=JobState.QUEUED.value,
                params=params,
                progress=JobProgress(step=0, total=total).changes(),
                queue=queue,
                event_seq=1,
            )
            record = JobRecord.from_row(db.execute(job.returning(*jobs.c)).mappings().one())
            _insert_events(db, [record], state_event)
        return record

    def get(self, job_id: str) -> JobRecord | None:
        with reading(self.engine) as db:
            row = db.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return JobRecord.from_row(row) if row else None

    def page(self, offset: int = 0, limit: int = 20) -> tuple[list[JobRecord], int]:
        """Newest first, and the number of jobs."""
        with reading(self.engine) as db:
            total = db.execute(select(func.count()).select_from(jobs)).scalar_one()
        newest_first = (jobs.c.created_at.desc(), jobs.c.id)
        return self._select(None, *newest_first, limit=limit, offset=offset), total

    def in_state(self, state: JobState) -> list[JobRecord]:
        return self._select(jobs.c.state == state.value, jobs.c.created_at, jobs.c.id)

    def count_by_state(self) -> dict[str, int]:
        """Every state, with 0 for the ones no job is in."""
        counts = {state.value: 0 for state in JobState}
        with reading(self.engine) as db:
            rows = db.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state))
            counts.update({state: count for state, count in rows})
        return counts

    def count_active(self) -> int:
        with reading(self.engine) as db:
            return db.execute(COUNT_ACTIVE).scalar_one()

    def mark_enqueued(self, job_id: str) -> None:
        self._update(jobs.c.id == job_id, enqueued_at=db_now(), updated_at=db_now())

    def request_cancel(self, job_id: str) -> JobRecord | None:
        """Queued jobs are cancelled at once; running ones get a flag their worker obeys."""
        queued = jobs.c.state == JobState.QUEUED.value
        rows = self._update(
            (jobs.c.id == job_id) & IS_ACTIVE,
            event=state_event,
            state=case((queued, JobState.CANCELLED.value), else_=jobs.c.state),
            finished_at=case((queued, db_now()), else_=jobs.c.finished_at),
            cancel_requested=1,
            updated_at=db_now(),
        )
        return rows[0] if rows else self.get(job_id)

    def fail(self, job_id: str, error: str) -> None:
        """Mark the job failed, unless it already finished."""
        self._update(
            (jobs.c.id == job_id) & jobs.c.state.not_in(FINISHED),
            event=state_event,
            state=JobState.FAILED.value,
            error=error,
            finished_at=db_now(),
            updated_at=db_now(),
        )

    # --- the worker's side -------------------------------------------------------------------

    def claim(self, job_id: str, owner: str, lease_seconds: float, max_deliveries: int) -> Claim:
        """Take the job's lease and mark it running, unless it is finished or held elsewhere.

        One conditional UPDATE decides: a job delivered ``max_deliveries`` times already
        fails instead (its workers were lost each time).
        """
        free = or_(
            jobs.c.lease_owner.is_(None),
            jobs.c.lease_owner == owner,
            jobs.c.lease_until.is_(None),
            jobs.c.lease_until <= db_now(),
        )
        spent = jobs.c.attempts >= max_deliveries
        gave_up = (
            literal("gave up after ")
            + cast(jobs.c.attempts, String)
            + literal(" deliveries: the worker running it was lost each time")
        )
        rows = self._update(
            (jobs.c.id == job_id) & jobs.c.state.not_in(FINISHED) & free,
            event=state_event,
            state=case((spent, JobState.FAILED.value), else_=JobState.RUNNING.value),
            error=case((spent, gave_up), else_=jobs.c.error),
            attempts=case((spent, jobs.c.attempts), else_=jobs.c.attempts + 1),
            lease_owner=case((spent, None), else_=owner),
            lease_until=case((spent, None), else_=db_now() + lease_seconds),
            started_at=func.coalesce(jobs.c.started_at, case((spent, None), else_=db_now())),
            finished_at=case((spent, db_now()), else_=jobs.c.finished_at),
            updated_at=db_now(),
        )
        if rows:
            record = rows[0]
            if record.state is JobState.FAILED:
                return Claim(record, False, record.error or "failed")
            return Claim(record, True, "claimed")
        current = self.get(job_id)
        if current is None:
            return Claim(None, False, "unknown job")
        if current.finished:
            return Claim(current, False, f"already {current.state}")
        return Claim(current, False, f"running on {current.lease_owner or 'another worker'}")

    def heartbeat(self, job_id: str, owner: str, lease_seconds: float) -> JobRecord | None:
        """Renew the lease; None when this owner no longer holds it."""
        rows = self._update(
            (jobs.c.id == job_id)
            & (jobs.c.lease_owner == owner)
            & (jobs.c.state == JobState.RUNNING.value),
            lease_until=db_now() + lease_seconds,
        )
        return rows[0] if rows else None

    def update_progress(self, job_id: str, report: JobProgress) -> None:
        """Merge the fields ``report`` sets into the job's progress."""
        self.merge_progress(job_id, report.changes())

    def merge_progress(self, job_id: str, fields: dict[str, Any]) -> None:
        """Merge ``fields`` into the job's progress, in the database (concurrent calls add up)."""
        self._update(
            jobs.c.id == job_id,
            event=lambda _: (EventKind.PROGRESS, fields),
            progress=json_merge(jobs.c.progress, fields),
            updated_at=db_now(),
        )

    def finish(
        self,
        job_id: str,
        owner: str,
        state: JobState,
        error: str | None = None,
        progress: JobProgress | None = None,
    ) -> None:
        """End the job, if ``owner`` still holds its lease."""
        self._update(
            (jobs.c.id == job_id) & (jobs.c.lease_owner == owner),
            event=state_event,
            state=state.value,
            error=error,
            progress=json_merge(jobs.c.progress, progress.changes() if progress else {}),
            finished_at=db_now(),
            updated_at=db_now(),
            lease_owner=None,
            lease_until=None,
        )

    def hand_back(self, job_id: str, owner: str) -> None:
        """A stopping worker returns its job: queued again, due for a fresh message at once.

        The delivery does not count against the job's limit, and no message is published
        here (the stopping worker might still fetch it); any live worker's recovery pass, or
        the next worker's at start-up, publishes it.
        """
        self._update(
            (jobs.c.id == job_id) & (jobs.c.lease_owner == owner),
            event=state_event,
            state=JobState.QUEUED.value,
            lease_owner=None,
            lease_until=None,
            attempts=case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0),
            enqueued_at=0.0,
            updated_at=db_now(),
        )

    # --- recovery ----------------------------------------------------------------------------

    def requeue_orphans(self) -> list[JobRecord]:
        """Running jobs whose lease expired (their worker died) go back to queued.

        They count as published now: the caller publishes their messages again.
        """
        return self._update(
            (jobs.c.state == JobState.RUNNING.value)
            & or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < db_now()),
            event=state_event,
            state=JobState.QUEUED.value,
            lease_owner=None,
            lease_until=None,
            updated_at=db_now(),
            enqueued_at=db_now(),
        )

    def stale_queued(self, older_than_seconds: float) -> list[JobRecord]:
        """Queued jobs not (re)published for that long: their message may be lost.

        They count as published now: the caller publishes them again.
        """
        last_published = func.coalesce(jobs.c.enqueued_at, jobs.c.created_at)
        return self._update(
            (jobs.c.state == JobState.QUEUED.value)
            & (last_published < db_now() - older_than_seconds),
            enqueued_at=db_now(),
        )

    def set_worker_stopping(self, worker: str, stopping: bool = True) -> None:
        with self.engine.begin() as db:
            if stopping:
                row = {"worker": worker, "since": db_now()}
                db.execute(upsert(db.dialect.name, stopping_workers, row))
            else:
                db.execute(delete(stopping_workers).where(stopping_workers.c.worker == worker))

    def worker_stopping(self, worker: str) -> bool:
        with reading(self.engine) as db:
            found = db.execute(
                select(stopping_workers.c.worker).where(stopping_workers.c.worker == worker)
            ).first()
        return found is not None

    # --- events ------------------------------------------------------------------------------

    def add_event(self, job_id: str, kind: EventKind, data: dict[str, Any]) -> None:
        """Write the job's next event (none when the job is gone)."""
        self._update(jobs.c.id == job_id, event=lambda _: (kind, data), updated_at=db_now())

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> list[JobEvent]:
        """The job's events numbered above ``after``, oldest first."""
        query = (
            select(job_events)
            .where((job_events.c.job_id == job_id) & (job_events.c.seq > after))
            .order_by(job_events.c.seq)
            .limit(limit)
        )
        with reading(self.engine) as db:
            return [JobEvent.from_row(row) for row in db.execute(query).mappings()]

    def event_heads(self, changed_since: float | None) -> tuple[float, dict[str, int]]:
        """The database's time now, and the newest event number of every job changed since
        ``changed_since`` (every job when None)."""
        query = select(jobs.c.id, jobs.c.event_seq)
        if changed_since is not None:
            query = query.where(jobs.c.updated_at >= changed_since)
        with reading(self.engine) as db:
            now = db.execute(select(db_now())).scalar_one()
            heads = {job_id: seq for job_id, seq in db.execute(query)}
        return float(now), heads

    def events_since(self, created_since: float) -> list[JobEvent]:
        """Every job's events written since ``created_since``, by job and number."""
        query = (
            select(job_events)
            .where(job_events.c.created_at >= created_since)
            .order_by(job_events.c.job_id, job_events.c.seq)
        )
        with reading(self.engine) as db:
            return [JobEvent.from_row(row) for row in db.execute(query).mappings()]

    def clock(self) -> float:
        """The database's time now (seconds since the epoch)."""
        with reading(self.engine) as db:
            return float(db.execute(select(db_now())).scalar_one())

    def remove_progress_events_before(self, cutoff: float) -> int:
        """Delete the progress events written before ``cutoff`` (seconds since the epoch): a
        job's newer reports and its record say more. Its other events go with the job."""
        old_progress = (job_events.c.created_at < cutoff) & (
            job_events.c.kind == EventKind.PROGRESS.value
        )
        with self.engine.begin() as db:
            return db.execute(delete(job_events).where(old_progress)).rowcount

    def record_trace(self, job_id: str, context: dict[str, str]) -> None:
        """Keep the job's trace context, so every delivery of the job joins its trace."""
        self._update(jobs.c.id == job_id, trace_context=context)

    def record_tracking_run(self, job_id: str, run_id: str) -> None:
        """Keep the job's experiment-tracking run, so a resumed job continues it."""
        self._update(jobs.c.id == job_id, tracking_run_id=run_id)

    # --- loss histories ----------------------------------------------------------------------

    def save_losses(self, job_id: str, history: np.ndarray) -> None:
        """Store the job's (steps, 2) float32 (D, G) loss history, replacing the last one."""
        values = np.ascontiguousarray(history, dtype="<f4")
        if values.ndim != 2 or values.shape[1] != 2:
            raise ValueError(f"a loss history has shape (steps, 2), not {values.shape}")
        row = {"job_id": job_id, "step": len(values), "history": values.tobytes()}
        with self.engine.begin() as db:
            db.execute(upsert(db.dialect.name, job_losses, row))

    def losses(self, job_id: str) -> np.ndarray | None:
        with reading(self.engine) as db:
            data = db.execute(
                select(job_losses.c.history).where(job_losses.c.job_id == job_id)
            ).scalar()
        if data is None:
            return None
        return np.frombuffer(data, dtype="<f4").reshape(-1, 2).astype(np.float32)

    # --- health ------------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise when the database cannot be reached."""
        self.clock()

    # --- helpers -----------------------------------------------------------------------------

    def _select(
        self, where: ColumnElement[bool] | None, *order: Any, limit: int | None = None,
        offset: int = 0,
    ) -> list[JobRecord]:
        query = select(jobs).order_by(*order).limit(limit).offset(offset)
        with reading(self.engine) as db:
            rows = db.execute(query if where is None else query.where(where)).mappings()
            return [JobRecord.from_row(row) for row in rows]

    def _update(
        self, where: ColumnElement[bool], event: EventOf | None = None, **values: Any
    ) -> list[JobRecord]:
        """One conditional UPDATE; the rows it changed, as they are now. With ``event``, each
        changed job's next event too, in the same transaction."""
        if event is not None:
            values["event_seq"] = jobs.c.event_seq + 1
        with self.engine.begin() as db:
            rows = db.execute(update(jobs).where(where).values(**values).returning(*jobs.c))
            records = [JobRecord.from_row(row) for row in rows.mappings()]
            if event is not None:
                _insert_events(db, records, event)
            return records


# what a change writes as each changed job's event: its kind and data, from the record as the
# change left it
EventOf = Callable[[JobRecord], tuple[EventKind, dict[str, Any]]]


def _insert_events(db: Connection, records: list[JobRecord], event: EventOf) -> None:
    rows = []
    for record in records:
        kind, data = event(record)
        rows.append({"job_id": record.id, "seq": record.event_seq, "kind": kind.value,
                     "data": data})
    if rows:
        db.execute(insert(job_events).values(created_at=db_now()), rows)
