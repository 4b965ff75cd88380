"""The DCGAN of CNTK tutorial 206B in PyTorch: configs, networks, losses, data, training,
checkpoints and sampling. Imported by the worker and the service; imports neither."""

from shared_models.config import (
    FAST_ITERATIONS,
    SLOW_ITERATIONS,
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
)
from shared_models.networks import Discriminator, Generator

__all__ = [
    "FAST_ITERATIONS",
    "SLOW_ITERATIONS",
    "Discriminator",
    "DiscriminatorConfig",
    "Generator",
    "GeneratorConfig",
    "TrainConfig",
]
