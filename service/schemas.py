"""Request and response bodies of the API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from worker.job_store import JobRecord

MAX_SEED = 2**31 - 1


class JobRequest(BaseModel):
    """A training job. Give ``iterations`` or ``mode`` (default: fast, 5,000 iterations)."""

    # strict: a value must have its documented JSON type ("5" is no integer, 0 no boolean)
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        # the schema says what _iterations_or_mode checks: not both of them (null is absent)
        json_schema_extra={"not": {
            "required": ["iterations", "mode"],
            "properties": {"iterations": {"type": "integer"}, "mode": {"type": "string"}},
        }},
    )

    iterations: int | None = Field(None, ge=1, le=100_000, description="number of iterations")
    mode: Literal["fast", "slow"] | None = Field(
        None, description="the tutorial's fast (5,000) or slow (10,000) mode"
    )
    batch_size: int = Field(128, ge=1, le=1024)
    dataset: Literal["mnist", "fashion-mnist"] = "mnist"
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="default: random")
    k: int = Field(2, ge=1, le=10, description="discriminator steps per iteration")
    lr: float = Field(2e-4, gt=0, le=0.1, allow_inf_nan=False)
    beta1: float = Field(0.5, ge=0, lt=1, allow_inf_nan=False)
    checkpoint_every: int | None = Field(
        None, ge=0, le=100_000, description="default: a tenth of the run"
    )
    conditional: bool = Field(False, description="train a class-conditional generator")
    ema_decay: float = Field(
        0.0,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="decay of a moving average of the generator's weights, served instead of "
        "the live weights (e.g. 0.999); 0 keeps the tutorial's plain weights",
    )

    @field_validator("iterations", "batch_size", "seed", "k", "checkpoint_every", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        """JSON Schema's integer: 5 and 5.0 (but not "5" or true: the model is strict)."""
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @model_validator(mode="after")
    def _iterations_or_mode(self) -> JobRequest:
        if self.iterations is not None and self.mode is not None:
            raise ValueError("give either iterations or mode, not both")
        return self


class JobView(BaseModel):
    id: str
    state: str
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
            state=record.state.value,
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
    sha256: str
    status: Literal["served", "available", "invalid"]
    error: str | None = None
    metrics: dict[str, Any] | None = None


class ModelList(BaseModel):
    served: str | None
    models: list[ModelView]


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
