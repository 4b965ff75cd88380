"""Request and response bodies of the API.

Times are ISO 8601 strings in UTC (``2026-01-31T12:00:00.123456Z``); a job's parameters are
the job spec itself (``jobs.spec.JobSpec``) and its progress a typed object, so the OpenAPI
document describes every field a client reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobs.job_store import JobRecord
from jobs.model_records import ModelRecord
from jobs.serving_pins import PinAction, PinRecord
from jobs.spec import JobSpec
from jobs.states import JobState
from service.serving_policy import Gate, Reason

ModelStatus = Literal["served", "available", "invalid"]


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def maybe_utc(seconds: float | None) -> datetime | None:
    return None if seconds is None else utc(seconds)


class Scores(BaseModel):
    """A checkpoint's evaluation figures, from the cached classifier of its data set."""

    model_config = ConfigDict(extra="allow")

    step: int | None = Field(None, description="the checkpoint scored")
    n: int | None = Field(None, description="samples drawn")
    frechet_distance: float | None = Field(None, description="lower is better")
    inception_score: float | None = Field(None, description="higher is better, at most 10")
    classes_covered: int | None = Field(None, description="classes holding at least 5 %")
    label_accuracy: float | None = Field(
        None, description="conditional models: how often the requested digit is drawn"
    )
    per_class_accuracy: list[float] | None = None
    error: str | None = Field(None, description="why the checkpoint could not be scored")


class JobProgress(BaseModel):
    """What the worker running the job reports (every second while it trains)."""

    model_config = ConfigDict(extra="allow")

    step: int = Field(0, description="iterations done")
    total: int | None = Field(None, description="iterations the job runs")
    d_loss: float | None = Field(None, description="discriminator loss (null: not finite)")
    g_loss: float | None = Field(None, description="generator loss (null: not finite)")
    iterations_per_s: float | None = None
    eta_s: float | None = Field(None, description="seconds left, estimated")
    device: str | None = Field(None, description="where it trains, e.g. cpu or cuda:0")
    worker: str | None = Field(None, description="the worker running it")
    checkpoint_step: int | None = Field(None, description="the newest checkpoint's step")
    resumed_from: int | None = Field(None, description="the step the last delivery resumed at")
    metrics: Scores | None = Field(None, description="the newest scored checkpoint's figures")


def job_params(params: dict[str, Any]) -> JobSpec:
    """A stored job's parameters as the job spec; a record written under an older spec keeps
    the fields the spec still knows."""
    try:
        return JobSpec.model_validate(params)
    except ValidationError:
        known = {key: value for key, value in params.items() if key in JobSpec.model_fields}
        return JobSpec.model_construct(**known)


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

    @classmethod
    def of(cls, record: JobRecord) -> JobView:
        progress = {k: v for k, v in record.progress.items() if k != "checkpoint"}
        step = record.progress.get("checkpoint_step")
        return cls(
            id=record.id,
            state=record.state,
            created_at=utc(record.created_at),
            started_at=maybe_utc(record.started_at),
            finished_at=maybe_utc(record.finished_at),
            params=job_params(record.params),
            progress=JobProgress.model_validate(progress),
            error=record.error,
            cancel_requested=record.cancel_requested,
            attempts=record.attempts,
            model=None if step is None else f"{record.id}:{step}",
        )


class JobPage(BaseModel):
    jobs: list[JobView]
    total: int
    offset: int
    limit: int


class ModelView(BaseModel):
    id: str
    job: str
    step: int
    iterations: int
    final: bool
    dataset: str
    conditional: bool
    ema_decay: float = Field(
        0.0, description="decay of the weight average this model samples with; 0: live weights"
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

    @classmethod
    def of(
        cls, record: ModelRecord, status: ModelStatus, error: str | None,
        verdict: tuple[bool, str] | None = None,
    ) -> ModelView:
        return cls(
            id=record.id,
            job=record.job_id,
            step=record.step,
            iterations=record.iterations,
            final=record.final,
            dataset=record.dataset,
            conditional=record.conditional,
            ema_decay=record.ema_decay,
            created_at=utc(record.created_at),
            sha256=record.sha256,
            size=record.size,
            status=status,
            error=error,
            metrics=None if record.metrics is None else Scores.model_validate(record.metrics),
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


class PinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(max_length=140, description="JOB:STEP, or JOB for its newest checkpoint")
    note: str | None = Field(None, max_length=500, description="why, for the history")


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
