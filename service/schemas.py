"""Request and response bodies of the API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from jobs.job_store import JobRecord
from jobs.model_records import ModelRecord
from jobs.states import JobState

ModelStatus = Literal["served", "available", "invalid"]


class JobView(BaseModel):
    id: str
    state: JobState
    created_at: float
    started_at: float | None
    finished_at: float | None
    params: dict[str, Any]
    progress: dict[str, Any]
    error: str | None
    cancel_requested: bool
    attempts: int
    model: str | None = Field(None, description="the job's newest checkpoint, for /generate")

    @classmethod
    def of(cls, record: JobRecord) -> JobView:
        progress = {k: v for k, v in record.progress.items() if k != "checkpoint"}
        step = record.progress.get("checkpoint_step")
        return cls(
            id=record.id,
            state=record.state,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            params=record.params,
            progress=progress,
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
    created_at: float
    sha256: str = Field(description="SHA-256 of the serving artifact's weights")
    size: int = Field(description="bytes of the serving artifact's weights")
    status: ModelStatus
    error: str | None = None
    metrics: dict[str, Any] | None = None

    @classmethod
    def of(cls, record: ModelRecord, status: ModelStatus, error: str | None) -> ModelView:
        return cls(
            id=record.id,
            job=record.job_id,
            step=record.step,
            iterations=record.iterations,
            final=record.final,
            dataset=record.dataset,
            conditional=record.conditional,
            ema_decay=record.ema_decay,
            created_at=record.created_at,
            sha256=record.sha256,
            size=record.size,
            status=status,
            error=error,
            metrics=record.metrics,
        )


class ModelList(BaseModel):
    served: str | None
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
