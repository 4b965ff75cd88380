"""The project's own job records: one SQLite database beside the checkpoints.

Records live in ``$DCGAN_RUNS_DIR/jobs.sqlite3``, not in the broker, so they survive a broker
restart and look the same in Redis and embedded mode. Every state change is a single
conditional UPDATE (or an IMMEDIATE transaction), so the API and workers never race:
a job is cancelled only while it is still queued, started only while it is not finished,
and run by one worker at a time, the holder of its lease.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    progress TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    enqueued_at REAL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS stopping_workers (hostname TEXT PRIMARY KEY, since REAL NOT NULL);
"""


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)
ACTIVE = (JobState.QUEUED, JobState.RUNNING)


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

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        return cls(
            id=row["id"],
            state=JobState(row["state"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            params=json.loads(row["params"]),
            progress=json.loads(row["progress"]),
            error=row["error"],
            cancel_requested=bool(row["cancel_requested"]),
            attempts=row["attempts"],
            lease_owner=row["lease_owner"],
            lease_until=row["lease_until"],
            enqueued_at=row["enqueued_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
        )


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a delivered job."""

    record: JobRecord | None
    run: bool  # True: this worker holds the lease and must run the job
    reason: str


class JobStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # --- the API's side ----------------------------------------------------------------------

    def create(self, params: dict[str, Any], total: int) -> JobRecord:
        job_id = uuid.uuid4().hex
        now = time.time()
        progress = json.dumps({"step": 0, "total": total})
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, created_at, updated_at, state, params, progress) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, now, now, JobState.QUEUED, json.dumps(params), progress),
            )
        return self._require(job_id)

    def get(self, job_id: str) -> JobRecord | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return JobRecord.from_row(row) if row else None

    def page(self, offset: int = 0, limit: int = 20) -> tuple[list[JobRecord], int]:
        """Newest first."""
        with self._connect() as db:
            total = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            rows = db.execute(
                "SELECT * FROM jobs ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return [JobRecord.from_row(row) for row in rows], total

    def in_state(self, state: JobState) -> list[JobRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs WHERE state = ?", (state,)).fetchall()
        return [JobRecord.from_row(row) for row in rows]

    def count_by_state(self) -> dict[str, int]:
        with self._connect() as db:
            rows = db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        counts = {state.value: 0 for state in JobState}
        counts.update({row[0]: row[1] for row in rows})
        return counts

    def count_active(self) -> int:
        counts = self.count_by_state()
        return sum(counts[state] for state in ACTIVE)

    def mark_enqueued(self, job_id: str) -> None:
        self._execute("UPDATE jobs SET enqueued_at = ?, updated_at = ? WHERE id = ?",
                      (time.time(), time.time(), job_id))

    def request_cancel(self, job_id: str) -> JobRecord | None:
        """Queued jobs are cancelled at once; running ones get a flag their worker obeys."""
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state = ?, finished_at = ?, updated_at = ?, cancel_requested = 1 "
                "WHERE id = ? AND state = ?",
                (JobState.CANCELLED, now, now, job_id, JobState.QUEUED),
            )
            db.execute(
                "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ? AND state = ?",
                (now, job_id, JobState.RUNNING),
            )
        return self.get(job_id)

    def fail(self, job_id: str, error: str) -> None:
        now = time.time()
        self._execute(
            "UPDATE jobs SET state = ?, error = ?, finished_at = ?, updated_at = ? "
            "WHERE id = ? AND state NOT IN (?, ?, ?)",
            (JobState.FAILED, error, now, now, job_id, *TERMINAL),
        )

    # --- the worker's side -------------------------------------------------------------------

    def claim(self, job_id: str, owner: str, lease_seconds: float, max_deliveries: int) -> Claim:
        """Take the job's lease and mark it running, unless it is finished or held elsewhere."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return Claim(None, False, "unknown job")
            record = JobRecord.from_row(row)
            if record.finished:
                return Claim(record, False, f"already {record.state}")
            held = record.lease_owner not in (None, owner) and (record.lease_until or 0) > now
            if held:
                return Claim(record, False, f"running on {record.lease_owner}")
            if record.attempts >= max_deliveries:
                error = (
                    f"gave up after {record.attempts} deliveries: the worker running it was "
                    "lost each time"
                )
                db.execute(
                    "UPDATE jobs SET state = ?, error = ?, finished_at = ?, updated_at = ?, "
                    "lease_owner = NULL, lease_until = NULL WHERE id = ?",
                    (JobState.FAILED, error, now, now, job_id),
                )
                return Claim(record, False, error)
            db.execute(
                "UPDATE jobs SET state = ?, attempts = attempts + 1, lease_owner = ?, "
                "lease_until = ?, started_at = COALESCE(started_at, ?), updated_at = ? "
                "WHERE id = ?",
                (JobState.RUNNING, owner, now + lease_seconds, now, now, job_id),
            )
        return Claim(self._require(job_id), True, "claimed")

    def heartbeat(self, job_id: str, owner: str, lease_seconds: float) -> JobRecord | None:
        """Renew the lease; None when this owner no longer holds it."""
        now = time.time()
        with self._connect() as db:
            changed = db.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND state = ?",
                (now + lease_seconds, job_id, owner, JobState.RUNNING),
            ).rowcount
        return self.get(job_id) if changed else None

    def update_progress(self, job_id: str, **progress: Any) -> None:
        self._execute(
            "UPDATE jobs SET progress = json_patch(progress, ?), updated_at = ? WHERE id = ?",
            (json.dumps(progress), time.time(), job_id),
        )

    def finish(
        self,
        job_id: str,
        owner: str,
        state: JobState,
        error: str | None = None,
        progress: dict[str, Any] | None = None,
    ) -> None:
        now = time.time()
        self._execute(
            "UPDATE jobs SET state = ?, error = ?, progress = json_patch(progress, ?), "
            "finished_at = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND lease_owner = ?",
            (state, error, json.dumps(progress or {}), now, now, job_id, owner),
        )

    def release(self, job_id: str, owner: str) -> None:
        """Give the lease back without finishing the job (it stays running until reclaimed)."""
        self._execute(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, updated_at = ? "
            "WHERE id = ? AND lease_owner = ?",
            (time.time(), job_id, owner),
        )

    def hand_back(self, job_id: str, owner: str) -> None:
        """A stopping worker returns its job: queued again, due for a fresh message at once.

        The delivery does not count against the job's limit, and no message is published
        here (the stopping worker might still fetch it); any live worker's recovery pass, or
        the next worker's at start-up, publishes it.
        """
        self._execute(
            "UPDATE jobs SET state = ?, lease_owner = NULL, lease_until = NULL, "
            "attempts = MAX(attempts - 1, 0), enqueued_at = 0, updated_at = ? "
            "WHERE id = ? AND lease_owner = ?",
            (JobState.QUEUED, time.time(), job_id, owner),
        )

    # --- recovery ----------------------------------------------------------------------------

    def requeue_orphans(self, now: float | None = None) -> list[JobRecord]:
        """Running jobs whose lease expired (their worker died) go back to queued."""
        now = now or time.time()
        with self._transaction() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE state = ? AND (lease_until IS NULL OR lease_until < ?)",
                (JobState.RUNNING, now),
            ).fetchall()
            db.execute(
                "UPDATE jobs SET state = ?, lease_owner = NULL, lease_until = NULL, "
                "updated_at = ?, enqueued_at = ? "
                "WHERE state = ? AND (lease_until IS NULL OR lease_until < ?)",
                (JobState.QUEUED, now, now, JobState.RUNNING, now),
            )
        return [JobRecord.from_row(row) for row in rows]

    def stale_queued(self, older_than: float) -> list[JobRecord]:
        """Queued jobs not (re)published for a while: their message may be lost."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE state = ? AND COALESCE(enqueued_at, created_at) < ?",
                (JobState.QUEUED, older_than),
            ).fetchall()
            db.execute(
                "UPDATE jobs SET enqueued_at = ? "
                "WHERE state = ? AND COALESCE(enqueued_at, created_at) < ?",
                (time.time(), JobState.QUEUED, older_than),
            )
        return [JobRecord.from_row(row) for row in rows]

    def set_worker_stopping(self, hostname: str, stopping: bool = True) -> None:
        if stopping:
            self._execute(
                "INSERT OR REPLACE INTO stopping_workers (hostname, since) VALUES (?, ?)",
                (hostname, time.time()),
            )
        else:
            self._execute("DELETE FROM stopping_workers WHERE hostname = ?", (hostname,))

    def worker_stopping(self, hostname: str) -> bool:
        with self._connect() as db:
            row = db.execute(
                "SELECT 1 FROM stopping_workers WHERE hostname = ?", (hostname,)
            ).fetchone()
        return row is not None

    # --- helpers -----------------------------------------------------------------------------

    def _execute(self, sql: str, parameters: tuple[Any, ...]) -> None:
        with self._connect() as db:
            db.execute(sql, parameters)

    def _require(self, job_id: str) -> JobRecord:
        record = self.get(job_id)
        if record is None:
            raise KeyError(job_id)
        return record
