"""The DCGAN of CNTK tutorial 206B in PyTorch: configs, networks, losses, data, training,
checkpoints and sampling. Imported by the worker and the service; imports neither.

The Python API (:mod:`shared_models.python_api`), e.g. in a notebook::

    from shared_models import load_generator, sample_images, save_grid, train_model

    run = train_model("runs/notebook", iterations=1000)
    images = sample_images(load_generator(run.checkpoint), n=64, seed=7)
    save_grid(images, "digits.png")

Its names (the networks' too) are imported on first use, so that importing one part of the
package does not import the rest: the service does not import training, and the configs (which
the CLI reads to build its options) do not import torch.
"""

from typing import TYPE_CHECKING, Any

from shared_models.config import (
    FAST_ITERATIONS,
    SLOW_ITERATIONS,
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
)

if TYPE_CHECKING:
    from shared_models.networks import Discriminator, Generator
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
    """The networks and the Python API's names, on first use (the configs are imported
    above)."""
    if name in ("Discriminator", "Generator"):
        from shared_models import networks

        return getattr(networks, name)
    if name in __all__:
        from shared_models import python_api

        return getattr(python_api, name)
    raise AttributeError(f"module 'shared_models' has no attribute {name!r}")
