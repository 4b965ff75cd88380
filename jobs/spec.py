"""The one job spec: a training job's parameters, as the API validates and stores them, the
worker turns them into configs and ``dcgan train`` offers them as options.

Defaults, bounds and descriptions come from ``shared_models.config.TrainConfig``; only what a
job adds to it is spelled out here (``mode``, ``conditional``, a random default seed, a
checkpoint every tenth of the run).
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared_models.config import (
    FAST_ITERATIONS,
    MAX_SEED,
    SLOW_ITERATIONS,
    TRAIN_FIELDS,
    DatasetName,
    DiscriminatorConfig,
    GeneratorConfig,
    NetworkSize,
    Precision,
    TrainConfig,
    bounds_of,
    network_configs,
)

MODES = {"fast": FAST_ITERATIONS, "slow": SLOW_ITERATIONS}
CHECKPOINTS_PER_RUN = 10  # the default checkpoint interval is a tenth of the run


def from_train_config(name: str, default: Any = ..., **extra: Any) -> Any:
    """A pydantic Field with the TrainConfig field's default, bounds and description."""
    bounds = bounds_of(name)
    description = extra.pop("description", bounds.doc)
    limits = {key: getattr(bounds, key) for key in ("ge", "gt", "le", "lt")}
    if default is ...:
        default = TRAIN_FIELDS[name].default
    numeric = {key: value for key, value in limits.items() if value is not None}
    return Field(default, description=description, **numeric, **extra)


class JobSpec(BaseModel):
    """A training job. Give ``iterations`` or ``mode`` (default: fast, 5,000 iterations)."""

    # strict: a value must have its documented JSON type ("5" is no integer, 0 no boolean)
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        json_schema_extra=lambda schema: _document(schema),
    )

    iterations: int | None = from_train_config(
        "iterations", None, description="number of iterations (default: the fast mode's 5,000)"
    )
    mode: Literal["fast", "slow"] | None = Field(
        None, description="the tutorial's fast (5,000 iterations) or slow (10,000) mode"
    )
    batch_size: int = from_train_config("batch_size")
    dataset: DatasetName = from_train_config("dataset")
    seed: int | None = from_train_config("seed", None, description="random seed (default: random)")
    k: int = from_train_config("k")
    lr: float = from_train_config("lr", allow_inf_nan=False)
    beta1: float = from_train_config("beta1", allow_inf_nan=False)
    checkpoint_every: int | None = from_train_config(
        "checkpoint_every", None,
        description="checkpoint every N iterations (default: a tenth of the run; 0: only at "
        "the end)",
    )
    conditional: bool = Field(
        False, description="train a class-conditional generator (labels fed to both networks)"
    )
    network_size: NetworkSize = Field(
        "tutorial",
        description="the networks' widths: tutorial (the tutorial's), half or small (half or a "
        "quarter of every width, for quick runs on a CPU) or tiny (for smoke tests)",
    )
    ema_decay: float = from_train_config("ema_decay", allow_inf_nan=False)
    precision: Precision = from_train_config(
        "precision",
        description="the networks' arithmetic: auto (the fastest setup for the device: float32 "
        "on the CPU; on CUDA float32 with TF32 matmuls, or bfloat16 when compiled), float32, "
        "bfloat16",
    )
    compile: bool = from_train_config("compile")

    @field_validator("iterations", "batch_size", "seed", "k", "checkpoint_every", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        """JSON Schema's integer: 5 and 5.0 (but not "5" or true: the model is strict)."""
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @model_validator(mode="after")
    def _iterations_or_mode(self) -> JobSpec:
        if self.iterations is not None and self.mode is not None:
            raise ValueError("give either iterations or mode, not both")
        return self

    @property
    def total_iterations(self) -> int:
        if self.iterations is not None:
            return self.iterations
        return MODES[self.mode or "fast"]

    @property
    def checkpoint_interval(self) -> int:
        if self.checkpoint_every is not None:
            return self.checkpoint_every
        return max(1, self.total_iterations // CHECKPOINTS_PER_RUN)

    def with_seed(self, seed: int) -> JobSpec:
        return self.model_copy(update={"seed": seed})

    def seeded(self) -> JobSpec:
        """This spec, with a random seed (recorded with it) when it names none: what jobs and
        ``dcgan train`` run; the Python API keeps TrainConfig's seed 0 instead."""
        return self if self.seed is not None else self.with_seed(secrets.randbelow(MAX_SEED))

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            iterations=self.total_iterations,
            batch_size=self.batch_size,
            lr=self.lr,
            beta1=self.beta1,
            k=self.k,
            seed=self.seed or 0,
            dataset=self.dataset,
            checkpoint_every=self.checkpoint_interval,
            ema_decay=self.ema_decay,
            precision=self.precision,
            compile=self.compile,
        )

    def network_configs(self) -> tuple[GeneratorConfig, DiscriminatorConfig]:
        return network_configs(self.conditional, self.network_size)


# The quick start: what `dcgan up` trains when there is no model yet, and the job the
# dashboard's form suggests first; the tutorial's settings stay the defaults above. In about
# the minutes 500 iterations at batch 128 take on 2 CPU cores it draws clean digits:
# minibatches of 32 give four times the generator updates for the same images, the labels
# make every class appear, and a shorter weight average (0.99) suits a short run
# (docs/model.md, "The quick start", has the scores per seed).
QUICKSTART = JobSpec(
    iterations=1200, batch_size=32, checkpoint_every=100, conditional=True, ema_decay=0.99
)


def _document(schema: dict[str, Any]) -> None:
    # what _iterations_or_mode checks: not both of them (null is absent)
    schema["not"] = {
        "required": ["iterations", "mode"],
        "properties": {"iterations": {"type": "integer"}, "mode": {"type": "string"}},
    }
    schema["examples"] = [QUICKSTART.model_dump(exclude_none=True)]
