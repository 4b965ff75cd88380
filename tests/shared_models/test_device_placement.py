"""Device placement without a GPU: the serving paths run on a generator on PyTorch's "meta"
device, where a tensor made anywhere else fails the first operation it meets the model's
tensors in ("Expected all tensors to be on the same device"). A tensor built on the CPU next
to a model on CUDA — the bug that refused every conditional model on a CUDA service — fails
the same way here, on the CPU test machines."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from shared_models.networks import Generator
from shared_models.sampling import grid_inputs, interpolation_inputs, outputs
from tests.conftest import TINY_G

META = torch.device("meta")


def on_meta(num_classes: int = 0) -> Generator:
    return Generator(replace(TINY_G, num_classes=num_classes)).to(META).eval()


def test_a_tensor_made_elsewhere_fails_against_a_meta_model():
    generator = on_meta(num_classes=10)
    z = torch.zeros(2, TINY_G.nz)  # on the CPU: exactly the mistake to catch
    with pytest.raises(RuntimeError, match="device"):
        generator(z.to(META), torch.arange(2))


@pytest.mark.parametrize("num_classes", [0, 10])
def test_grids_run_on_the_models_device(num_classes):
    generator = on_meta(num_classes)
    for digit in ([None, 3] if num_classes else [None]):
        images = outputs(generator, grid_inputs(generator, 20, seed=1, digit=digit))
        assert images.device == META and images.shape == (20, 1, 28, 28)


@pytest.mark.parametrize("num_classes", [0, 10])
def test_interpolations_run_on_the_models_device(num_classes):
    generator = on_meta(num_classes)
    strip = outputs(generator, interpolation_inputs(generator, 1, 2, steps=5))
    assert strip.device == META and strip.shape == (5, 1, 28, 28)


def test_the_served_models_check_runs_on_the_models_device():
    """The model loader's test forward (two samples, every class in turn)."""
    generator = on_meta(num_classes=10)
    assert outputs(generator, grid_inputs(generator, 2, seed=0)).device == META
