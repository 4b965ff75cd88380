"""Training a run outside a job and publishing its checkpoints exactly as a worker does:
into the settings' artifact store and models table, where the API finds them."""

from __future__ import annotations

import torch

from jobs.bootstrap import prepare_shared_state
from jobs.settings import Settings
from shared_models.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from shared_models.data import ImageData
from shared_models.training import TrainHooks, TrainResult, train
from worker.context import WorkerContext
from worker.publisher import CheckpointPublisher


def train_published(
    settings: Settings,
    name: str,
    config: TrainConfig,
    data: ImageData,
    generator_config: GeneratorConfig | None = None,
    discriminator_config: DiscriminatorConfig | None = None,
) -> TrainResult:
    """Train ``config`` into ``<runs>/<name>`` on the CPU, publishing every checkpoint."""
    prepare_shared_state(settings)
    context = WorkerContext(settings)
    publisher = CheckpointPublisher(context.store, context.models, context.jobs,
                                    settings.runs_dir)
    hooks = TrainHooks(on_checkpoint=lambda saved: publisher.publish(
        name, saved, config.keep_checkpoints))
    try:
        return train(
            config, data, settings.runs_dir / name, generator_config=generator_config,
            discriminator_config=discriminator_config, device=torch.device("cpu"), hooks=hooks,
        )
    finally:
        context.engine.dispose()
