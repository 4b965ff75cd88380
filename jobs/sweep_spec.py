"""A sweep as asked: a base job spec, the values to try, and how to run and judge them.

Members are the grid's every combination (parameters in the order given), each tried with
every one of ``variants`` in turn (partial specs: parameters that go together, such as a
network size and the run length that suits it) and combined with ``random.count`` draws
from ``random.ranges`` (uniform; whole numbers for integer parameters) and
``random.choices``, made with ``random.seed`` so the same spec always gives the same
members; at most ``budget`` of them, in that order. Every member is a job spec, validated
when the sweep is created: a member that is not names itself in the error.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from jobs.spec import JobSpec

MAX_MEMBERS = 100
MAX_PARALLEL = 16
RankBy = Literal["frechet_distance", "inception_score", "worst_class_accuracy"]
# better is lower for these figures, higher for the others
LOWER_IS_BETTER = frozenset({"frechet_distance"})
# a conditional model's final scores are stable enough per class on this many samples
SCORE_SAMPLES = 10_000
SWEPT = frozenset(JobSpec.model_fields) - {"mode"}


def whole_number(value: object) -> object:
    """JSON Schema's integer: 5 and 5.0 (but not "5" or true: the models are strict)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class RandomDraws(BaseModel):
    # strict: a value must have its documented JSON type, as in a job spec
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    count: int = Field(ge=1, le=MAX_MEMBERS, description="draws per grid combination")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="the draws' seed, recorded")
    ranges: dict[str, Annotated[list[float], Field(min_length=2, max_length=2)]] = Field(
        default_factory=dict, description="parameter: [low, high], drawn uniformly"
    )
    choices: dict[str, list[Any]] = Field(
        default_factory=dict, description="parameter: the values drawn from"
    )

    _whole_numbers = field_validator("count", "seed", mode="before")(whole_number)


class SweepSpec(BaseModel):
    """What to try (``grid``, ``random``) on top of ``base``, how many jobs at once, how many
    in all, the score that ranks them and what to do at the end."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    base: dict[str, Any] = Field(default_factory=dict, description="a job spec (POST /jobs)")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict, description="parameter: the values to try, every combination"
    )
    variants: list[dict[str, Any]] = Field(
        default_factory=list, max_length=MAX_MEMBERS,
        description="partial job specs tried in turn with each grid combination (parameters "
        "that go together, e.g. {network_size: small, iterations: 3600})",
    )
    random: RandomDraws | None = None
    parallel: int = Field(1, ge=1, le=MAX_PARALLEL, description="member jobs at once, at most")
    budget: int = Field(MAX_MEMBERS, ge=1, le=MAX_MEMBERS, description="member jobs in all")
    rank_by: RankBy = Field(
        "frechet_distance",
        description="the score members are ranked by (worst_class_accuracy: the requested "
        "class drawn least often as asked; conditional members only)",
    )
    score_samples: int = Field(
        SCORE_SAMPLES, ge=100, le=60_000,
        description="samples each member's final model is scored on (its other checkpoints: "
        "the workers' DCGAN_EVAL_SAMPLES)",
    )
    at_end: Literal["nothing", "pin_best"] = Field(
        "nothing", description="pin_best: pin the best member that passes the serving gate"
    )

    _whole_numbers = field_validator(
        "parallel", "budget", "score_samples", mode="before")(whole_number)

    def swept(self) -> list[str]:
        """The parameters it varies (grid, variants, random draws), each once, in that order."""
        drawn = [*self.random.ranges, *self.random.choices] if self.random else []
        named = [*self.grid, *(name for variant in self.variants for name in variant), *drawn]
        return list(dict.fromkeys(named))


class SweepError(ValueError):
    """The sweep cannot run as asked; the message says which part and why."""


def members(spec: SweepSpec) -> list[dict[str, Any]]:
    """Each member's job spec as JSON (validated; defaults left out), in order."""
    for name in spec.swept():
        if name not in SWEPT:
            raise SweepError(f"{name!r} is not a job parameter (one of {', '.join(sorted(SWEPT))})")
    if any(not values for values in spec.grid.values()):
        raise SweepError("every grid parameter needs at least one value")
    draws = _draws(spec.random) if spec.random else [{}]
    variants = spec.variants or [{}]
    count = math.prod(len(values) for values in spec.grid.values()) * len(variants) * len(draws)
    if count > MAX_MEMBERS and spec.budget == MAX_MEMBERS:
        raise SweepError(f"{count} members: at most {MAX_MEMBERS} (set a smaller budget)")
    # only the members kept are made: a grid's product may be far larger than the budget
    every = ({**spec.base, **dict(zip(spec.grid, values, strict=True)), **variant, **draw}
             for values in itertools.product(*spec.grid.values())
             for variant in variants for draw in draws)
    chosen = list(itertools.islice(every, spec.budget))
    for index, params in enumerate(chosen):
        try:
            JobSpec.model_validate(params)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "spec"
            raise SweepError(f"member {index} {params}: {where}: {problem['msg']}") from None
    return chosen


def _draws(draws: RandomDraws) -> list[dict[str, Any]]:
    generator = random.Random(draws.seed)
    integers = {name for name, field in JobSpec.model_fields.items()
                if field.annotation is int or int in get_args(field.annotation)}
    made = []
    for _ in range(draws.count):
        drawn: dict[str, Any] = {}
        for name, (low, high) in draws.ranges.items():
            if low > high:
                raise SweepError(f"random range of {name}: low {low} is above high {high}")
            drawn[name] = (generator.randint(int(low), int(high)) if name in integers
                           else generator.uniform(low, high))
        for name, values in draws.choices.items():
            if not values:
                raise SweepError(f"random choices of {name}: none given")
            drawn[name] = generator.choice(values)
        made.append(drawn)
    return made


def score_of(metrics: dict[str, Any], rank_by: str) -> float | None:
    """The figure ``rank_by`` names in a model's metrics; None when it has none."""
    if rank_by == "worst_class_accuracy":
        per_class = metrics.get("per_class_accuracy")
        asked = [value for value in per_class or () if isinstance(value, int | float)]
        return min(asked) if asked else None
    value = metrics.get(rank_by)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def better_first(rank_by: RankBy) -> int:
    """The sort sign of ``rank_by``: 1 when lower is better, -1 when higher is."""
    return 1 if rank_by in LOWER_IS_BETTER else -1
