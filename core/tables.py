"""The jobs database's tables (SQLAlchemy Core), as the newest migration leaves them.

Migrations create and change the schema (core/migrations); this module describes it for the
queries. Times are float seconds since the epoch from the database's clock (``db_now()``):
REAL on SQLite, as the first schema had them, DOUBLE PRECISION on PostgreSQL (both 8 bytes).
"""

from __future__ import annotations

from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.types import TypeEngine

from core.database import JsonText

# 8-byte floats on both databases
DOUBLE: TypeEngine[float] = Double().with_variant(REAL(), "sqlite")
DEFAULT_QUEUE = "dcgan"  # what jobs published before queues were recorded went to
ADMISSION_ROW = 1

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", Text, primary_key=True),  # on SQLite NULL-able, as in the first schema
    Column("created_at", DOUBLE, nullable=False),
    Column("updated_at", DOUBLE, nullable=False),
    Column("state", Text, nullable=False),
    Column("params", JsonText, nullable=False),
    Column("progress", JsonText, nullable=False, server_default=text("'{}'")),
    Column("error", Text),
    Column("cancel_requested", Integer, nullable=False, server_default=text("0")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("lease_owner", Text),
    Column("lease_until", DOUBLE),
    Column("enqueued_at", DOUBLE),
    Column("started_at", DOUBLE),
    Column("finished_at", DOUBLE),
    Column("queue", Text, nullable=False, server_default=DEFAULT_QUEUE),
    # the number of the job's newest event (job_events.seq)
    Column("event_seq", Integer, nullable=False, server_default=text("0")),
    # the job's trace, W3C trace context as JSON ({"traceparent": ...}); NULL: not traced
    Column("trace_context", JsonText),
    # the job's experiment-tracking (MLflow) run; NULL: not tracked
    Column("tracking_run_id", Text),
    # the sweep the job is a member of (sweeps.id); NULL: none
    Column("sweep_id", Text),
    Index("jobs_by_state", "state"),
    Index("jobs_by_sweep", "sweep_id"),
    Index("jobs_by_updated", "updated_at"),
)
Index("jobs_by_created", jobs.c.created_at.desc())

# One row per stored checkpoint and its serving artifact.
models = Table(
    "models",
    metadata,
    Column("id", Text, primary_key=True),  # "JOB:STEP", or "imported-HASH"
    Column("job_id", Text, nullable=False),  # an imported model's own id
    Column("step", Integer, nullable=False),
    Column("iterations", Integer, nullable=False),
    Column("final", Boolean, nullable=False),
    Column("dataset", Text, nullable=False),
    Column("conditional", Boolean, nullable=False),
    Column("ema_decay", DOUBLE, nullable=False),
    # which weights the artifact holds and why, in words
    Column("served_weights", Text, nullable=False),
    # the training state it came from; NULL for an imported model, which has none
    Column("checkpoint_key", Text),
    Column("checkpoint_sha256", Text),
    Column("checkpoint_size", BigInteger),
    Column("artifact_key", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("metrics", JsonText),
    Column("created_at", DOUBLE, nullable=False),
    # the two scores the serving policy's gate reads, copied from metrics when they arrive
    Column("inception_score", DOUBLE),
    Column("frechet_distance", DOUBLE),
    # where an imported model came from and when (JSON); NULL: trained here by its job
    Column("provenance", JsonText),
    # serving order: finals first, newest first; read backwards by ModelRecords.preferred
    Index("models_preferred", "final", "created_at", "step", "id"),
    Index("models_by_job", "job_id", "step"),
    # promotion and the provisional choice: one data set's models, finals first, newest first
    Index("models_by_dataset", "dataset", "final", "created_at", "step", "id"),
    # an import finds a model with the same weights
    Index("models_by_sha256", "sha256"),
)

# The serving policy's pins, newest last: the newest row says which model is pinned (model_id)
# or that none is (NULL: promotion decides). Rows are never changed, so they are the history.
serving_pins = Table(
    "serving_pins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Text),  # "JOB:STEP"; NULL: not pinned
    Column("action", Text, nullable=False),  # pin, unpin, rollback
    Column("replaced", Text),  # the model served when the row was written
    Column("note", Text),
    Column("created_at", DOUBLE, nullable=False),
)

# What happened to each job, in order: seq counts from 1 per job (jobs.event_seq is the newest).
# kind: state, progress, checkpoint, scored, log; data: the event's JSON object.
job_events = Table(
    "job_events",
    metadata,
    Column("job_id", Text, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("data", JsonText, nullable=False),
    Column("created_at", DOUBLE, nullable=False),
    Index("job_events_by_created", "created_at"),
)

# Loss history of a job: float32 little-endian, shape (steps, 2) = (D, G) per iteration.
job_losses = Table(
    "job_losses",
    metadata,
    Column("job_id", Text, primary_key=True),
    Column("step", Integer, nullable=False),
    Column("history", LargeBinary, nullable=False),
)

# Workers on their way out: they hand their jobs back instead of starting new ones.
stopping_workers = Table(
    "stopping_workers",
    metadata,
    Column("worker", Text, primary_key=True),  # the unique worker name, e.g. dcgan-1234@host
    Column("since", DOUBLE, nullable=False),
)

# One row; every submission updates it first, which serialises the check of the job cap.
admission = Table(
    "admission",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("submissions", BigInteger, nullable=False, server_default=text("0")),
)

SWEEP_RUNNING = "running"  # sweeps.state of an open sweep

# Searches over job settings: each member is the job "SWEEP-INDEX" (jobs.sweep_id names it).
# state: running, succeeded, cancelled; spec: the sweep as asked (JSON); members: each member's
# job settings in order (JSON list); result: the ranking and what was done at the end (JSON).
sweeps = Table(
    "sweeps",
    metadata,
    Column("id", Text, primary_key=True),
    Column("created_at", DOUBLE, nullable=False),
    Column("updated_at", DOUBLE, nullable=False),
    Column("state", Text, nullable=False),
    Column("spec", JsonText, nullable=False),
    Column("members", JsonText, nullable=False),
    Column("result", JsonText),
    Index("sweeps_by_state", "state"),
)

# the jobs of open sweeps: their models neither take over serving nor are pruned until it ends
OPEN_SWEEP_JOBS = (
    select(jobs.c.id)
    .join(sweeps, sweeps.c.id == jobs.c.sweep_id)
    .where(sweeps.c.state == SWEEP_RUNNING)
)
