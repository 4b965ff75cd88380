"""What a job's worker reports while it runs: the one field list of a job's ``progress``.

The worker writes a ``JobProgress`` with the fields it knows at that moment; the job store
merges them into the stored JSON (``JobStore.update_progress``), and the API reads the whole
object back as the same class, so writer, stored JSON and OpenAPI schema cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from registry.scores import Scores


class Precision(BaseModel):
    asked: str = Field(description="what the job asked for: auto, float32, tf32 or bfloat16")
    resolved: str = Field(description="what this device trains with")


class TrainedSegment(BaseModel):
    """A stretch of the run trained in one session with one setup (``shared_models``'
    ``Segment``)."""

    from_step: int
    device: str
    precision: str
    compile: bool
    asked_precision: str
    asked_compile: bool


class JobProgress(BaseModel):
    """What the worker running the job reports (every second while it trains)."""

    model_config = ConfigDict(extra="forbid")

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
    precision: Precision | None = Field(None, description="the current session's precision")
    compile: bool | None = Field(None, description="whether this session is compiled")
    segments: list[TrainedSegment] | None = Field(
        None, description="each session of the run, oldest first"
    )
    metrics: Scores | None = Field(None, description="the newest scored checkpoint's figures")

    def changes(self) -> dict[str, Any]:
        """The fields this report sets, as JSON values, for merging into the stored object."""
        return self.model_dump(exclude_unset=True)

    @classmethod
    def stored(cls, progress: dict[str, Any]) -> JobProgress:
        """The stored object, less what earlier versions wrote and this one does not show
        (such as their ``checkpoint`` path)."""
        return cls.model_validate(
            {key: value for key, value in progress.items() if key in cls.model_fields}
        )
