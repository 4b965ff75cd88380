"""The DCGAN of CNTK tutorial 206B in PyTorch: configs, networks, losses, data, training,
checkpoints and sampling. Imported by the worker and the service; imports neither.

The Python API (:mod:`shared_models.python_api`), e.g. in a notebook::

    from shared_models import load_generator, sample_images, save_grid, train_model

    run = train_model("runs/notebook", iterations=1000)
    images = sample_images(load_generator(run.checkpoint), n=64, seed=7)
    save_grid(images, "digits.png")

Its names are imported on first use, so that importing one part of the package (the service
imports the networks and sampling) does not import training.
"""

from typing import TYPE_CHECKING, Any

from shared_models.config import (
    FAST_ITERATIONS,
    SLOW_ITERATIONS,
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
)
from shared_models.networks import Discriminator, Generator

if TYPE_CHECKING:
    from shared_models.python_api import (
        export_model,
        load_dataset,
        load_generator,
        load_mnist,
        sample_images,
        save_grid,
        train_model,
    )

__all__ = [
    "FAST_ITERATIONS",
    "SLOW_ITERATIONS",
    "Discriminator",
    "DiscriminatorConfig",
    "Generator",
    "GeneratorConfig",
    "TrainConfig",
    # the Python API
    "export_model",
    "load_dataset",
    "load_generator",
    "load_mnist",
    "sample_images",
    "save_grid",
    "train_model",
]


def __getattr__(name: str) -> Any:
    """The Python API's names, on first use (the others are imported above)."""
    if name in __all__:
        from shared_models import python_api

        return getattr(python_api, name)
    raise AttributeError(f"module 'shared_models' has no attribute {name!r}")
