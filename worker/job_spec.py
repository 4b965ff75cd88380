"""A job's parameters as stored in its record, turned into the trainer's configs."""

from __future__ import annotations

from typing import Any

from shared_models.config import (
    FAST_ITERATIONS,
    NUM_CLASSES,
    SLOW_ITERATIONS,
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
)

MODES = {"fast": FAST_ITERATIONS, "slow": SLOW_ITERATIONS}


def iterations_of(params: dict[str, Any]) -> int:
    if params.get("iterations") is not None:
        return int(params["iterations"])
    return MODES[params.get("mode") or "fast"]


def train_config(params: dict[str, Any]) -> TrainConfig:
    iterations = iterations_of(params)
    defaults = TrainConfig()
    checkpoint_every = params.get("checkpoint_every")
    if checkpoint_every is None:
        checkpoint_every = max(1, iterations // 10)
    return TrainConfig(
        iterations=iterations,
        batch_size=int(params.get("batch_size") or defaults.batch_size),
        lr=float(params.get("lr") or defaults.lr),
        beta1=float(defaults.beta1 if params.get("beta1") is None else params["beta1"]),
        k=int(params.get("k") or defaults.k),
        seed=int(params.get("seed") or 0),
        dataset=str(params.get("dataset") or defaults.dataset),
        checkpoint_every=int(checkpoint_every),
        ema_decay=float(params.get("ema_decay") or 0.0),
    )


def network_configs(params: dict[str, Any]) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    classes = NUM_CLASSES if params.get("conditional") else 0
    return GeneratorConfig(num_classes=classes), DiscriminatorConfig(num_classes=classes)
