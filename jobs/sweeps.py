"""Sweep records, and moving a sweep along: its members are submitted as ordinary jobs.

Whatever replica runs ``advance``, member i of sweep S is the job ``S-i``: submitting it twice
fails on the job's id, so members are submitted once even when replicas advance the same sweep
at the same moment, and a replica lost mid-sweep leaves nothing another cannot pick up. A
member waits for the job cap like any job; a member job that cannot be published stays queued
and the workers' recovery pass publishes it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.database import db_now, reading
from core.tables import SWEEP_RUNNING, jobs, sweeps
from jobs.job_store import CapReached, JobRecord, JobStore
from jobs.spec import JobSpec
from jobs.states import ACTIVE
from jobs.sweep_spec import SCORE_SAMPLES, RankBy

log = logging.getLogger(__name__)


class SweepState(StrEnum):
    RUNNING = SWEEP_RUNNING
    SUCCEEDED = "succeeded"  # every member ran (each job's own state says how it ended)
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class SweepRecord:
    id: str
    created_at: float
    updated_at: float
    state: SweepState
    spec: dict[str, Any]
    members: list[dict[str, Any]]
    result: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> SweepRecord:
        values = dict(row)
        values["state"] = SweepState(values["state"])
        return cls(**values)

    @property
    def rank_by(self) -> RankBy:
        return cast(RankBy, self.spec.get("rank_by", "frechet_distance"))

    @property
    def score_samples(self) -> int:
        """The samples each member's final model is scored on."""
        return int(self.spec.get("score_samples", SCORE_SAMPLES))


def member_id(sweep_id: str, index: int) -> str:
    return f"{sweep_id}-{index}"


class SweepStore:
    def __init__(self, engine: Engine, jobs_store: JobStore) -> None:
        self.engine = engine
        self.jobs = jobs_store

    def create(self, spec: dict[str, Any], members: list[dict[str, Any]]) -> SweepRecord:
        row = {"id": "sweep-" + uuid.uuid4().hex[:12], "created_at": db_now(),
               "updated_at": db_now(), "state": SweepState.RUNNING.value, "spec": spec,
               "members": members, "result": None}
        with self.engine.begin() as db:
            written = db.execute(insert(sweeps).values(row).returning(*sweeps.c))
            return SweepRecord.from_row(written.mappings().one())

    def get(self, sweep_id: str) -> SweepRecord | None:
        with reading(self.engine) as db:
            row = db.execute(select(sweeps).where(sweeps.c.id == sweep_id)).mappings().first()
        return SweepRecord.from_row(row) if row else None

    def page(self, offset: int = 0, limit: int = 20) -> list[SweepRecord]:
        query = select(sweeps).order_by(sweeps.c.created_at.desc(), sweeps.c.id)
        with reading(self.engine) as db:
            rows = db.execute(query.offset(offset).limit(limit)).mappings()
            return [SweepRecord.from_row(row) for row in rows]

    def running(self) -> list[SweepRecord]:
        query = select(sweeps).where(sweeps.c.state == SweepState.RUNNING.value)
        with reading(self.engine) as db:
            return [SweepRecord.from_row(row) for row in db.execute(query).mappings()]

    def member_jobs(self, sweep_id: str) -> dict[int, JobRecord]:
        """The sweep's submitted members by index."""
        query = select(jobs).where(jobs.c.sweep_id == sweep_id)
        with reading(self.engine) as db:
            records = [JobRecord.from_row(row) for row in db.execute(query).mappings()]
        return {int(record.id.rsplit("-", 1)[1]): record for record in records}

    def end(self, sweep_id: str, state: SweepState, result: dict[str, Any] | None) -> bool:
        """Mark a running sweep ended; False when it was not running (ended elsewhere)."""
        with self.engine.begin() as db:
            changed = db.execute(
                update(sweeps)
                .where(sweeps.c.id == sweep_id, sweeps.c.state == SweepState.RUNNING.value)
                .values(state=state.value, result=result, updated_at=db_now())
            )
        return changed.rowcount == 1

    def score_samples(self, job: JobRecord) -> int | None:
        """The samples its sweep scores a member's final model on; None: not a member."""
        sweep = self.get(job.sweep_id) if job.sweep_id else None
        return sweep.score_samples if sweep else None

    def delete(self, sweep_id: str) -> None:
        """The sweep's record; its members stay, as the ordinary jobs they are."""
        with self.engine.begin() as db:
            db.execute(delete(sweeps).where(sweeps.c.id == sweep_id))

    def advance(
        self, sweep: SweepRecord, queue: str, max_active: int,
        publish: Callable[[JobRecord], object],
    ) -> bool:
        """Submit the next members while the sweep's parallel cap and the job cap allow;
        True when every member has been submitted and has finished."""
        submitted = self.member_jobs(sweep.id)
        active = sum(1 for record in submitted.values() if record.state in ACTIVE)
        parallel = int(sweep.spec.get("parallel", 1))
        # members go in order: a member deleted with its job is not submitted again
        following = max(submitted, default=-1) + 1
        for index, params in enumerate(sweep.members[following:], start=following):
            if active >= parallel:
                break
            spec = JobSpec.model_validate(params).seeded()
            try:
                record = self.jobs.submit(
                    spec.model_dump(), spec.total_iterations, queue, max_active,
                    job_id=member_id(sweep.id, index), sweep_id=sweep.id,
                )
            except CapReached:
                break  # the next pass tries again
            except IntegrityError:  # another replica submitted it a moment ago
                break
            log.info("sweep %s: submitted member %d as job %s", sweep.id, index, record.id)
            submitted[index] = record
            active += 1
            try:
                publish(record)
            except Exception:  # noqa: BLE001 - queued: the recovery pass publishes it
                log.exception("sweep %s: could not publish job %s yet", sweep.id, record.id)
        return max(submitted, default=-1) == len(sweep.members) - 1 and active == 0
