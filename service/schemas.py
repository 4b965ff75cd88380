"""Request and response bodies of the API.

Times are ISO 8601 strings in UTC (``2026-01-31T12:00:00.123456Z``); a job's parameters are
the job spec itself (``jobs.spec.JobSpec``) and its progress a typed object, so the OpenAPI
document describes every field a client reads.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from jobs.job_store import JobRecord
from jobs.progress import JobProgress
from jobs.spec import JobSpec
from jobs.states import JobState
from registry.model_records import MODEL_ID_PATTERN, ModelRecord
from registry.promotion import Gate, Reason
from registry.scores import Scores
from registry.serving_pins import PinAction, PinRecord

ModelStatus = Literal["served", "available", "invalid"]


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def maybe_utc(seconds: float | None) -> datetime | None:
    return None if seconds is None else utc(seconds)


def job_params(params: dict[str, Any]) -> JobSpec:
    """A stored job's parameters as the job spec; a record written under an older spec keeps
    the fields the spec still knows."""
    try:
        return JobSpec.model_validate(params)
    except ValidationError:
        known = {key: value for key, value in params.items() if key in JobSpec.model_fields}
        return JobSpec.model_construct(**known)


# the job record's fields a client does not see: the queue's, the lease's and the events'
# bookkeeping, and the job's trace context
JOB_FIELDS_NOT_SHOWN = frozenset({"updated_at", "lease_owner", "lease_until", "enqueued_at",
                                  "queue", "event_seq", "trace_context", "sweep_id"})


class JobView(BaseModel):
    id: str
    state: JobState
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    params: JobSpec
    progress: JobProgress
    error: str | None
    cancel_requested: bool
    attempts: int = Field(description="deliveries to a worker so far")
    model: str | None = Field(None, description="the job's newest checkpoint, for /generate")
    tracking_run_id: str | None = Field(
        None, description="the job's MLflow run, when runs are tracked (MLFLOW_TRACKING_URI)"
    )

    @classmethod
    def of(cls, record: JobRecord) -> JobView:
        progress = JobProgress.stored(record.progress)
        step = progress.checkpoint_step
        return cls(
            id=record.id,
            state=record.state,
            created_at=utc(record.created_at),
            started_at=maybe_utc(record.started_at),
            finished_at=maybe_utc(record.finished_at),
            params=job_params(record.params),
            progress=progress,
            error=record.error,
            cancel_requested=record.cancel_requested,
            attempts=record.attempts,
            model=None if step is None else f"{record.id}:{step}",
            tracking_run_id=record.tracking_run_id,
        )


class JobPage(BaseModel):
    jobs: list[JobView]
    total: int
    offset: int
    limit: int


# the models row's fields a client sees under another name, and those it does not see (where
# the objects lie in the store)
MODEL_FIELDS_RENAMED = {"job_id": "job"}
MODEL_FIELDS_NOT_SHOWN = frozenset({"checkpoint_key", "checkpoint_sha256", "checkpoint_size",
                                    "artifact_key"})


class Provenance(BaseModel):
    """Where an imported model came from (``created_at``: when it was imported)."""

    source: str = Field(description="what the importer named as its origin (a file, a URL)")
    checkpoint_sha256: str = Field(
        description="SHA-256 of the training checkpoint its weights came from, where it was "
        "trained"
    )
    card: dict[str, float | int] | None = Field(
        None, description="the figures its model card showed, measured where it was exported "
        "(the gate uses only the scores measured here)"
    )


class ModelView(BaseModel):
    id: str
    job: str | None = Field(description="the job that trained it; null for an imported model")
    step: int
    iterations: int
    final: bool
    dataset: str
    conditional: bool
    ema_decay: float = Field(
        0.0, description="decay of the weight average this model samples with; 0: live weights"
    )
    served_weights: str = Field(
        "", description="which weights this model samples with (the weight average or the live "
        "weights) and why"
    )
    created_at: datetime
    sha256: str = Field(description="SHA-256 of the serving artifact's weights")
    size: int = Field(description="bytes of the serving artifact's weights")
    status: ModelStatus
    error: str | None = None
    metrics: Scores | None = None
    promotable: bool | None = Field(
        None, description="whether the serving policy's gate lets promotion serve it"
    )
    gate: str | None = Field(None, description="why it passes the gate, or why not")
    provenance: Provenance | None = Field(
        None, description="an imported model's origin; null for a model trained here"
    )

    @classmethod
    def of(
        cls, record: ModelRecord, status: ModelStatus, error: str | None,
        verdict: tuple[bool, str] | None = None,
    ) -> ModelView:
        shown = {
            MODEL_FIELDS_RENAMED.get(field.name, field.name): getattr(record, field.name)
            for field in fields(record)
            if field.name not in MODEL_FIELDS_NOT_SHOWN
        }
        shown["created_at"] = utc(record.created_at)
        if record.metrics is not None:
            shown["metrics"] = Scores.model_validate(record.metrics)
        if record.provenance is not None:
            shown["job"] = None
            shown["provenance"] = Provenance.model_validate(record.provenance)
        return cls(
            **shown,
            status=status,
            error=error,
            promotable=None if verdict is None else verdict[0],
            gate=None if verdict is None else verdict[1],
        )


class GateView(BaseModel):
    """What promotion asks of a model (settings of the API)."""

    dataset: str = Field(description="DCGAN_SERVE_DATASET")
    min_inception_score: float | None = Field(description="DCGAN_PROMOTE_MIN_INCEPTION_SCORE")
    max_frechet_distance: float | None = Field(description="DCGAN_PROMOTE_MAX_FRECHET_DISTANCE")

    @classmethod
    def of(cls, gate: Gate) -> GateView:
        return cls(dataset=gate.dataset, min_inception_score=gate.min_inception_score,
                   max_frechet_distance=gate.max_frechet_distance)


# the pin row's fields a client sees under another name; its id orders the history
PIN_FIELDS_RENAMED = {"model_id": "model", "created_at": "at"}
PIN_FIELDS_NOT_SHOWN = frozenset({"id"})


class PinView(BaseModel):
    model: str | None = Field(description="the pinned model; null: unpinned")
    action: PinAction
    replaced: str | None = Field(description="the model served when this was done")
    note: str | None
    at: datetime

    @classmethod
    def of(cls, pin: PinRecord) -> PinView:
        return cls(model=pin.model_id, action=pin.action, replaced=pin.replaced, note=pin.note,
                   at=utc(pin.created_at))


class ServingStatus(BaseModel):
    """Which model this replica serves and why."""

    model: str | None = Field(description="the served model (null: none yet)")
    reason: Reason | None = Field(
        description="pinned (by an operator), promoted (passed the gate) or provisional (no "
        "model has passed the gate yet); null while nothing is served"
    )
    detail: str = Field(description="the policy's reasoning, in words")
    gate: GateView
    pin: PinView | None = Field(description="the pin in force")


class ServingState(ServingStatus):
    history: list[PinView] = Field(description="pins, unpins and rollbacks, newest first")


def storable(text: object) -> object:
    """Text either database keeps as given: PostgreSQL refuses NUL characters, and neither
    can store half of a UTF-16 surrogate pair (JSON's lone ``\\ud800``). Checked before the
    field's own constraints, so the 422 says which of these it was."""
    if not isinstance(text, str):
        return text
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no unpaired surrogates)") from None
    return text


# text a request stores: its bounds in the schema, ``storable`` checked first (so the same 422
# comes on SQLite and PostgreSQL, saying which it was)
NO_NUL = r"^[^\x00]*$"
ModelIdText = Annotated[
    str, Field(max_length=140, pattern=MODEL_ID_PATTERN), BeforeValidator(storable)
]
NoteText = Annotated[str, Field(max_length=500, pattern=NO_NUL), BeforeValidator(storable)]


class PinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelIdText = Field(description="JOB:STEP, or JOB for its newest checkpoint")
    note: NoteText | None = Field(None, description="why, for the history")


class ModelList(BaseModel):
    served: str | None
    serving: ServingStatus
    models: list[ModelView]
    total: int
    offset: int
    limit: int


class Problem(BaseModel):
    """Every error: what was wrong, in words."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where: body, query or path, then the field")
    msg: str
    type: str = Field(description="pydantic's error type, e.g. missing, greater_than_equal")


class ValidationProblem(Problem):
    """A 422 from request validation: the summary in ``detail``, each error in ``errors``."""

    errors: list[FieldError]
