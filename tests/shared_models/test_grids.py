"""Grids and PNG: torchvision's make_grid layout, grayscale PNG, and the bytes of a seed's grid
against a plain computation written out here (so a change to the sampled bytes shows)."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from shared_models.config import GeneratorConfig
from shared_models.grids import grid_png
from shared_models.layers import use_fast_layers
from shared_models.networks import Generator, init_weights
from shared_models.sampling import generate, grid_inputs, interpolation_inputs
from tests.conftest import TINY_G
from tests.support.sampling import block_floats


def tiny(config: GeneratorConfig = TINY_G) -> Generator:
    model = Generator(config)
    init_weights(model, torch.Generator().manual_seed(0))
    model.train()  # non-trivial BN running stats, as after training
    with torch.no_grad():
        labels = torch.arange(64) % 10 if config.num_classes else None
        model(torch.rand(64, config.nz, generator=torch.Generator().manual_seed(2)) * 2 - 1,
              labels)
    return model.eval()


def decode(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.mode == "L"
    return np.asarray(image)


def make_grid(*args, **kwargs) -> torch.Tensor:
    """torchvision's make_grid, imported when first used: torchvision takes a second to import,
    and every test process collects this module."""
    import torchvision.utils

    return torchvision.utils.make_grid(*args, **kwargs)


def torchvision_png(images: torch.Tensor, nrow: int, padding: int) -> bytes:
    """torchvision's layout of uint8 (n, 28, 28) images, saved by PIL as 8-bit grayscale."""
    grid = make_grid(images[:, None].float(), nrow=nrow, padding=padding)[0]
    buffer = io.BytesIO()
    Image.fromarray(grid.to(torch.uint8).numpy(), mode="L").save(
        buffer, format="PNG", compress_level=6
    )
    return buffer.getvalue()


@pytest.mark.parametrize(("n", "nrow", "padding"), [(64, 8, 2), (10, 4, 0), (1, 8, 3), (7, 7, 1)])
def test_grid_layout_matches_torchvision_make_grid(n, nrow, padding):
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(n))
    ours = decode(grid_png(images, nrow, padding))
    theirs = make_grid(images[:, None].float(), nrow=nrow, padding=padding)[0]
    assert np.array_equal(ours, theirs.to(torch.uint8).numpy())


def test_png_is_grayscale_with_black_padding():
    images = torch.full((4, 28, 28), 200, dtype=torch.uint8)
    png = grid_png(images, nrow=2, padding=2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = decode(png)
    assert pixels.shape == (62, 62)
    assert pixels[:2].max() == 0 and pixels[:, :2].max() == 0 and pixels[2:30, 2:30].min() == 200


def test_bad_layouts_and_images_are_refused():
    images = torch.zeros(2, 28, 28, dtype=torch.uint8)
    with pytest.raises(ValueError, match="nrow"):
        grid_png(images, nrow=0)
    with pytest.raises(ValueError, match="padding"):
        grid_png(images, padding=-1)
    with pytest.raises(ValueError, match="uint8"):
        grid_png(images.float())


def reference_floats(
    generator: Generator, z: torch.Tensor, labels: torch.Tensor | None
) -> torch.Tensor:
    """The generator's output computed plainly: eval mode, no gradients, blocks of 16 rows
    (the last zero-padded)."""
    count = z.shape[0]
    padding = (-count) % 16
    z = torch.cat([z, torch.zeros(padding, z.shape[1])])
    if labels is not None:
        labels = torch.cat([labels, torch.zeros(padding, dtype=torch.long)])
    with torch.no_grad():
        return torch.cat([
            generator(z[start : start + 16], None if labels is None else labels[start : start + 16])
            for start in range(0, z.shape[0], 16)
        ])[:count]


def reference_images(
    generator: Generator, z: torch.Tensor, labels: torch.Tensor | None
) -> torch.Tensor:
    """tanh output [-1, 1] -> 0..255, rounded half away from zero."""
    floats = reference_floats(generator, z, labels)[:, 0]
    return ((floats + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
@pytest.mark.parametrize(("n", "nrow", "padding", "seed"),
                         [(1, 8, 2, 0), (16, 4, 0, 9), (37, 8, 2, 3), (64, 8, 1, 12)])
def test_a_seeds_grid_is_the_png_of_the_plain_computation(conditional, n, nrow, padding, seed):
    config = GeneratorConfig(nz=8, hidden=32, channels=8, num_classes=10 if conditional else 0)
    generator = tiny(config)
    noise = torch.rand(n, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    labels = torch.arange(n) % 10 if conditional else None
    expected = torchvision_png(reference_images(generator, noise, labels), nrow, padding)
    ours = grid_png(generate(generator, grid_inputs(generator, n, seed)), nrow, padding)
    assert ours == expected
    if conditional:
        digit = torch.full((n,), 4, dtype=torch.long)
        expected = torchvision_png(reference_images(generator, noise, digit), nrow, padding)
        ours = grid_png(generate(generator, grid_inputs(generator, n, seed, 4)), nrow, padding)
        assert ours == expected


def test_an_interpolation_strip_is_one_row_of_its_images():
    generator = tiny()
    inputs = interpolation_inputs(generator, 3, 9, steps=6)
    png = grid_png(generate(generator, inputs), nrow=6, padding=2)
    assert decode(png).shape == (30 + 2, 6 * 30 + 2)
    assert png == torchvision_png(reference_images(generator, inputs.z, None), 6, 2)


def test_a_full_size_generator_computes_the_plain_computations_floats_bit_for_bit():
    """Where the kernels' bits vary with the batch size, only the same blocks give the same
    bits: the pipeline must keep computing 16-row blocks."""
    generator = Generator()
    init_weights(generator, torch.Generator().manual_seed(1))
    use_fast_layers(generator, torch.device("cpu"))
    generator.eval()
    inputs = grid_inputs(generator, 37, seed=5)
    expected = reference_floats(generator, inputs.z, None)
    assert torch.equal(block_floats(generator, inputs), expected)
