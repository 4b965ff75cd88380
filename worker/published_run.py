"""Training a run outside a job and publishing its checkpoints exactly as a worker does: into
the settings' artifact store and models table, where the API finds them. The benchmarks and
tests use it to stand up a service with models without a broker."""

from __future__ import annotations

import torch

from core.settings import Settings
from jobs.bootstrap import prepare_shared_state
from shared_models.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
    network_configs,
)
from shared_models.data import ImageData
from shared_models.training import SavedCheckpoint, TrainHooks, TrainResult
from shared_models.training.run_folder import plan_run, run
from worker.context import WorkerContext
from worker.publisher import CheckpointPublisher


def train_published(
    settings: Settings,
    name: str,
    config: TrainConfig,
    data: ImageData,
    generator_config: GeneratorConfig | None = None,
    discriminator_config: DiscriminatorConfig | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train ``config`` into ``<runs>/<name>`` on the CPU, publishing every checkpoint
    (``resume``: continue the run's newest checkpoint there)."""
    prepare_shared_state(settings)
    context = WorkerContext(settings)
    publisher = CheckpointPublisher(context.store, context.models, context.jobs,
                                    settings.runs_dir)

    def publish(saved: SavedCheckpoint) -> None:
        publisher.publish(name, saved, config.keep_checkpoints)

    hooks = TrainHooks(on_checkpoint=publish)
    default_generator, default_discriminator = network_configs(False)
    plan = plan_run(settings.runs_dir / name, config, generator_config or default_generator,
                    discriminator_config or default_discriminator, resume=resume)
    try:
        return run(plan, data, torch.device("cpu"), hooks)
    finally:
        context.engine.dispose()
