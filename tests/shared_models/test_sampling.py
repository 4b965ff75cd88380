"""The sampling pipeline: its inputs, the generator on fixed blocks, uint8 images."""

import pytest
import torch

from shared_models.config import GeneratorConfig
from shared_models.layers import use_fast_layers
from shared_models.networks import Generator, init_weights
from shared_models.noise import seeded_noise
from shared_models.sampling import (
    RENDER_BLOCK,
    SampleInputs,
    generate,
    grid_inputs,
    interpolation_inputs,
)
from tests.conftest import TINY_G
from tests.support.sampling import block_floats

CONDITIONAL = GeneratorConfig(nz=8, hidden=32, channels=8, num_classes=10)


@pytest.fixture(scope="module")
def generator() -> Generator:
    model = Generator(TINY_G)
    init_weights(model, torch.Generator().manual_seed(0))
    # give BN non-trivial running stats, as after training
    model.train()
    with torch.no_grad():
        model(torch.rand(64, TINY_G.nz) * 2 - 1)
    return model.eval()


def test_same_seed_same_images_different_seed_different_images(generator):
    first = generate(generator, grid_inputs(generator, 16, seed=5))
    assert first.shape == (16, 28, 28) and first.dtype == torch.uint8
    assert first.device.type == "cpu"
    assert torch.equal(generate(generator, grid_inputs(generator, 16, seed=5)), first)
    assert not torch.equal(generate(generator, grid_inputs(generator, 16, seed=6)), first)


def test_tanh_range_maps_to_white_digits_on_black():
    class Constant(Generator):
        def forward(self, z, labels=None):
            values = torch.tensor([-1.0, 0.0, 1.0]).repeat_interleave(28 * 28 // 3 + 1)
            return values[: 28 * 28].view(1, 1, 28, 28).expand(z.shape[0], -1, -1, -1)

    model = Constant(TINY_G)
    images = generate(model, grid_inputs(model, 2, seed=0))
    assert images.dtype == torch.uint8
    assert {int(images.min()), int(images.max())} == {0, 255}
    assert int(images[0, 0, 0]) == 0  # -1 is black background


def test_sampling_leaves_the_generator_mode_and_stats_alone(generator):
    generator.train()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    generate(generator, grid_inputs(generator, 8, seed=0))
    assert generator.training
    assert all(torch.equal(v, generator.state_dict()[k]) for k, v in before.items())
    generator.eval()


def test_grid_inputs_are_the_seeds_noise_with_every_class_in_turn_or_the_chosen_digit(generator):
    plain = grid_inputs(generator, 5, seed=3)
    assert torch.equal(plain.z, seeded_noise(5, TINY_G.nz, 3)) and plain.labels is None
    conditional = Generator(CONDITIONAL)
    balanced = grid_inputs(conditional, 200, seed=0).labels
    assert balanced is not None and torch.equal(balanced, torch.arange(200) % 10)
    assert torch.bincount(balanced).tolist() == [20] * 10  # each class n / C times
    chosen = grid_inputs(conditional, 3, seed=0, digit=7).labels
    assert chosen is not None and torch.equal(chosen, torch.tensor([7, 7, 7]))
    with pytest.raises(ValueError, match="between 0 and 9"):
        grid_inputs(conditional, 3, seed=0, digit=10)
    with pytest.raises(ValueError, match="not conditional"):
        grid_inputs(generator, 3, seed=0, digit=1)
    with pytest.raises(ValueError, match="n must be >= 1"):
        grid_inputs(generator, 0, seed=0)


def test_inputs_check_their_shapes_and_join_in_order():
    z = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        SampleInputs(z, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="n >= 1"):
        SampleInputs(torch.zeros(0, 4))
    with pytest.raises(ValueError, match="with labels"):
        SampleInputs.cat([SampleInputs(z), SampleInputs(z, torch.zeros(3, dtype=torch.long))])
    first = SampleInputs(torch.ones(2, 4), torch.tensor([1, 2]))
    joined = SampleInputs.cat([first, SampleInputs(z, torch.tensor([3, 4, 5]))])
    assert joined.rows == 5 and torch.equal(joined.z[:2], first.z)
    assert joined.labels is not None and joined.labels.tolist() == [1, 2, 3, 4, 5]


def test_interpolation_walks_the_arc_between_the_seeds_first_noise_rows(generator):
    a, b = seeded_noise(1, TINY_G.nz, 3)[0], seeded_noise(1, TINY_G.nz, 9)[0]
    path = interpolation_inputs(generator, seed_a=3, seed_b=9, steps=3)
    assert path.rows == 3 and path.labels is None
    assert torch.allclose(path.z[0], a) and torch.allclose(path.z[-1], b)
    # halfway along the arc: sin(w/2) (a + b) / sin(w), that is (a + b) / (2 cos(w/2))
    omega = torch.acos(a @ b / (a.norm() * b.norm()))
    assert torch.allclose(path.z[1], (a + b) / (2 * torch.cos(omega / 2)), atol=1e-6)
    same = interpolation_inputs(generator, seed_a=4, seed_b=4, steps=4).z  # parallel: a line
    assert torch.allclose(same, seeded_noise(1, TINY_G.nz, 4).expand(4, -1))
    with pytest.raises(ValueError, match="steps must be >= 2"):
        interpolation_inputs(generator, 1, 2, steps=1)


def test_a_conditional_interpolation_draws_one_digit_all_along():
    conditional = Generator(CONDITIONAL)
    default = interpolation_inputs(conditional, 1, 2, steps=4).labels
    assert default is not None and default.tolist() == [0, 0, 0, 0]
    chosen = interpolation_inputs(conditional, 1, 2, steps=4, digit=6).labels
    assert chosen is not None and chosen.tolist() == [6, 6, 6, 6]


def test_interpolation_images_start_and_end_at_the_seeds_first_samples(generator):
    strip = generate(generator, interpolation_inputs(generator, seed_a=3, seed_b=9, steps=6))
    assert strip.shape == (6, 28, 28)
    assert torch.equal(strip[0], generate(generator, grid_inputs(generator, 4, seed=3))[0])
    assert torch.equal(strip[-1], generate(generator, grid_inputs(generator, 1, seed=9))[0])


@pytest.mark.parametrize("fast_layers", [False, True], ids=["plain-layers", "fast-layers"])
def test_a_samples_pixels_do_not_depend_on_what_it_is_drawn_with(fast_layers):
    """Blocks of RENDER_BLOCK rows: same noise row, same bytes, alone or in any batch."""
    model = Generator()  # full size: its kernels are the ones that vary with batch size
    init_weights(model, torch.Generator().manual_seed(1))
    if fast_layers:
        use_fast_layers(model, torch.device("cpu"))
    model.eval()
    z = seeded_noise(130, model.config.nz, 7)
    many = block_floats(model, SampleInputs(z))  # compared as floats, bit for bit
    assert many.shape == (130, 1, 28, 28) and 130 > 8 * RENDER_BLOCK
    order = torch.randperm(130, generator=torch.Generator().manual_seed(0))
    for rows in (order, order[:1], order[:3], order[:40]):
        assert torch.equal(block_floats(model, SampleInputs(z[rows])), many[rows])
    five = generate(model, grid_inputs(model, 5, seed=7))
    assert torch.equal(five, generate(model, grid_inputs(model, 130, seed=7))[:5])
