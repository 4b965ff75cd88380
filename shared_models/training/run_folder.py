"""Starting or resuming a run in its folder: the one place that decides how, for the ``dcgan``
command, the worker, the Python API and the benchmarks alike.

A fresh run trains ``config`` on the networks it is given; a folder that already holds
checkpoints is refused, unless the caller resumes it. A resumed run continues the folder's
newest checkpoint either on its own settings and architecture with the caller's
``overrides`` (only what the caller was asked to change: ``dcgan train --resume
--iterations 8000``), or on ``config`` and the networks given, which must agree with the
checkpoint's (``train`` refuses a mismatch: a job resumed by another worker). What differs
between callers (a random seed for jobs and the command, a checkpoint every tenth of a job)
is in the configs they pass, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from shared_models.checkpoint import LoadedCheckpoint, iter_manifests, newest_checkpoint
from shared_models.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
    from_dict,
    with_overrides,
)
from shared_models.data.datasets import ImageData
from shared_models.training.loop import TrainHooks, TrainResult, train


class RunFolderInUse(ValueError):
    """A fresh run was asked for in a folder that holds checkpoints already."""


@dataclass(frozen=True)
class RunPlan:
    run_dir: Path
    config: TrainConfig
    generator_config: GeneratorConfig
    discriminator_config: DiscriminatorConfig
    start: LoadedCheckpoint | None  # the checkpoint a resumed run continues


def plan_run(
    run_dir: Path,
    config: TrainConfig,
    generator_config: GeneratorConfig,
    discriminator_config: DiscriminatorConfig,
    *,
    resume: bool,
    overrides: Mapping[str, Any] | None = None,
) -> RunPlan:
    """What a run in ``run_dir`` trains: fresh, or (``resume``) its newest checkpoint
    continued, when it has one."""
    if not resume:
        if any(iter_manifests(run_dir)):
            raise RunFolderInUse(
                f"{run_dir} already holds checkpoints: resume them (dcgan train --resume, "
                "train_model(resume=True)) or choose another folder"
            )
        return RunPlan(run_dir, config, generator_config, discriminator_config, None)
    start = newest_checkpoint(run_dir)
    if start is None:
        return RunPlan(run_dir, config, generator_config, discriminator_config, None)
    if overrides is None:
        return RunPlan(run_dir, config, generator_config, discriminator_config, start)
    state = start.state
    return RunPlan(
        run_dir,
        with_overrides(from_dict(TrainConfig, state["train_config"]), **overrides),
        from_dict(GeneratorConfig, state["generator_config"]),
        from_dict(DiscriminatorConfig, state["discriminator_config"]),
        start,
    )


def run(
    plan: RunPlan, data: ImageData, device: torch.device, hooks: TrainHooks | None = None
) -> TrainResult:
    """Train ``plan`` on ``data``."""
    return train(
        plan.config, data, plan.run_dir,
        generator_config=plan.generator_config,
        discriminator_config=plan.discriminator_config,
        device=device, start=plan.start, hooks=hooks,
    )
