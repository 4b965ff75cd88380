import io

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from shared_models.config import GeneratorConfig
from shared_models.layers import use_fast_layers
from shared_models.networks import Generator, init_weights
from shared_models.noise import seeded_noise
from shared_models.sampling import (
    class_labels,
    forward_in_blocks,
    generate_images,
    grid_shape,
    interpolation_images,
    make_grid,
    render_grid,
    render_interpolation,
    slerp,
)
from tests.conftest import TINY_G


@pytest.fixture(scope="module")
def generator() -> Generator:
    model = Generator(TINY_G)
    init_weights(model, torch.Generator().manual_seed(0))
    # give BN non-trivial running stats, as after training
    model.train()
    with torch.no_grad():
        model(torch.rand(64, TINY_G.nz) * 2 - 1)
    return model.eval()


def decode(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png))


def test_same_seed_same_bytes_different_seed_different_bytes(generator):
    first = render_grid(generator, n=16, nrow=4, seed=5)
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert render_grid(generator, n=16, nrow=4, seed=5) == first
    assert render_grid(generator, n=16, nrow=4, seed=6) != first


@pytest.mark.parametrize(("n", "nrow", "padding"), [(64, 8, 2), (10, 4, 0), (1, 8, 3), (7, 7, 1)])
def test_grid_layout_matches_torchvision_make_grid(generator, n, nrow, padding):
    images = generate_images(generator, n, seed=1)
    ours = make_grid(images, nrow, padding)
    theirs = torchvision.utils.make_grid(images[:, None].float(), nrow=nrow, padding=padding)[0]
    assert ours.shape == tuple(theirs.shape) == grid_shape(n, nrow, padding)
    assert np.array_equal(ours, theirs.to(torch.uint8).numpy())


def test_png_is_grayscale_with_black_padding(generator):
    image = decode(render_grid(generator, n=4, nrow=2, padding=2, seed=0))
    assert image.mode == "L" and image.size == (62, 62)
    pixels = np.asarray(image)
    assert pixels[:2].max() == 0 and pixels[:, :2].max() == 0


def test_tanh_range_maps_to_white_digits_on_black():
    class Constant(Generator):
        def forward(self, z, labels=None):
            values = torch.tensor([-1.0, 0.0, 1.0]).repeat_interleave(28 * 28 // 3 + 1)
            return values[: 28 * 28].view(1, 1, 28, 28).expand(z.shape[0], -1, -1, -1)

    images = generate_images(Constant(TINY_G), 2, seed=0)
    assert images.dtype == torch.uint8
    assert {int(images.min()), int(images.max())} == {0, 255}
    assert int(images[0, 0, 0]) == 0  # -1 is black background


def test_sampling_leaves_the_generator_mode_and_stats_alone(generator):
    generator.train()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    generate_images(generator, 8, seed=0)
    assert generator.training
    assert all(torch.equal(v, generator.state_dict()[k]) for k, v in before.items())
    generator.eval()


def test_slerp_keeps_the_endpoints_and_walks_the_arc():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b)
    middle = path[2]
    assert torch.allclose(middle[0], middle[1] / 2, atol=1e-6)  # 45 degrees between them
    same = slerp(a, a, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(same, a.expand(3, -1))


def test_interpolation_strip_starts_and_ends_at_the_seeds_first_samples(generator):
    strip = interpolation_images(generator, seed_a=3, seed_b=9, steps=6)
    assert strip.shape == (6, 28, 28)
    assert torch.equal(strip[0], generate_images(generator, 4, seed=3)[0])
    assert torch.equal(strip[-1], generate_images(generator, 1, seed=9)[0])
    png = render_interpolation(generator, 3, 9, steps=6, padding=2)
    assert decode(png).size == (6 * 30 + 2, 30 + 2)
    assert render_interpolation(generator, 3, 9, steps=6) == png


def test_class_labels_choose_a_digit_only_on_conditional_generators(generator):
    conditional = Generator(GeneratorConfig(nz=8, hidden=32, channels=8, num_classes=10))
    assert torch.equal(class_labels(conditional, 12), torch.arange(12) % 10)
    assert torch.equal(class_labels(conditional, 3, digit=7), torch.tensor([7, 7, 7]))
    with pytest.raises(ValueError, match="between 0 and 9"):
        class_labels(conditional, 3, digit=10)
    assert class_labels(generator, 3) is None
    with pytest.raises(ValueError, match="not conditional"):
        class_labels(generator, 3, digit=1)


@pytest.mark.parametrize("fast_layers", [False, True], ids=["plain-layers", "fast-layers"])
def test_a_samples_pixels_do_not_depend_on_what_it_is_drawn_with(fast_layers):
    """Blocks of RENDER_BLOCK rows: same noise row, same bytes, alone or in any batch."""
    model = Generator()  # full size: its kernels are the ones that vary with batch size
    init_weights(model, torch.Generator().manual_seed(1))
    if fast_layers:
        use_fast_layers(model, torch.device("cpu"))
    model.eval()
    z = seeded_noise(130, model.config.nz, 7)
    many = forward_in_blocks(model, z)  # compared as floats, bit for bit
    order = torch.randperm(130, generator=torch.Generator().manual_seed(0))
    for rows in (order, order[:1], order[:3], order[:40]):
        assert torch.equal(forward_in_blocks(model, z[rows]), many[rows])
    assert torch.equal(generate_images(model, 5, seed=7), generate_images(model, 130, seed=7)[:5])
