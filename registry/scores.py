"""A checkpoint's evaluation figures, as the scorer stores them (the models row's ``metrics``,
a job's ``progress.metrics``) and the API shows them; the figures come from
``shared_models.evaluation``'s ``Evaluation.figures()``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Scores(BaseModel):
    """A checkpoint's evaluation figures, from the cached classifier of its data set."""

    model_config = ConfigDict(extra="allow")  # figures a newer scorer adds pass through

    step: int | None = Field(None, description="the checkpoint scored")
    n: int | None = Field(None, description="samples drawn")
    seed: int | None = Field(None, description="the seed of the noise drawn")
    frechet_distance: float | None = Field(None, description="lower is better")
    inception_score: float | None = Field(None, description="higher is better, at most 10")
    classes_covered: int | None = Field(None, description="classes holding at least 5 %")
    label_accuracy: float | None = Field(
        None, description="conditional models: how often the requested digit is drawn"
    )
    per_class_accuracy: list[float | None] | None = Field(
        None, description="conditional models: per digit (null: that digit was never asked for)"
    )
    error: str | None = Field(None, description="why the checkpoint could not be scored")
