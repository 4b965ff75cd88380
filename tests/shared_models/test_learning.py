"""A real short training run on real MNIST moves both networks toward MNIST.

Measures a broken trainer would fail: if the generator were not updated its samples' pixel
distribution would stay at its random-init distance from MNIST's; if the discriminator were
not updated it could not tell real digits from generated ones.
"""

import pytest
import torch

from shared_models.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from shared_models.sampling import generate, grid_inputs
from shared_models.training import Trainer
from shared_models.training.batches import to_unit_range

ITERATIONS = 120


def pixel_distance(samples: torch.Tensor, real: torch.Tensor) -> float:
    """1-D Wasserstein distance between the two pixel-intensity distributions (0..1 scale)."""
    fake = samples.float().flatten().sort().values / 255
    return float((fake - real.float().flatten().sort().values / 255).abs().mean())


def dark_share(images: torch.Tensor) -> float:
    return float((images.float() < 0.1 * 255).float().mean())


@torch.no_grad()
def separation(trainer: Trainer, real: torch.Tensor) -> float:
    """Mean D(real) - mean D(G(z)), with D as it runs in training (batch statistics)."""
    d_real = trainer.discriminator.probability(to_unit_range(real)).mean()
    fake = trainer.generator(trainer.noise()[: real.shape[0]])
    return float(d_real - trainer.discriminator.probability(fake).mean())


@pytest.mark.full_size
def test_short_run_on_real_mnist_moves_both_networks_toward_mnist(mnist_train, mnist_test):
    """The tutorial's networks themselves: the small ones learn too slowly to show it here."""
    real = mnist_test.images[:512]
    config = TrainConfig(iterations=ITERATIONS, batch_size=64, seed=0)
    trainer = Trainer(
        config, GeneratorConfig(), DiscriminatorConfig(), mnist_train, torch.device("cpu")
    )
    before = generate(trainer.generator, grid_inputs(trainer.generator, 512, seed=99))
    distance_before = pixel_distance(before, real)
    separation_before = separation(trainer, real[:256])

    for _ in range(ITERATIONS):
        trainer.iteration()

    after = generate(trainer.generator, grid_inputs(trainer.generator, 512, seed=99))
    distance_after = pixel_distance(after, real)
    assert torch.isfinite(trainer.history).all()
    assert dark_share(before) < 0.01 < 0.05 < dark_share(after)  # black background appears
    # One 120-iteration trajectory is chaotic: float-level changes alone (fused Adam's
    # rounding, 1 thread instead of 2) moved this ratio between 0.79 and 0.89 on this seed;
    # a generator that does not train stays near 1.0.
    assert distance_after < 0.95 * distance_before, (distance_before, distance_after)
    assert abs(separation_before) < 0.05
    assert separation(trainer, real[:256]) > 0.1  # D has learned what MNIST looks like
    d_first, _ = trainer.mean_losses(0, 10)
    d_last, _ = trainer.mean_losses(ITERATIONS - 20, ITERATIONS)
    assert d_last < d_first  # the discriminator improves on its random start (2 ln 2)
