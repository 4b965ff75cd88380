import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from shared_models.config import (
    MAX_NETWORK_PARAMETERS,
    DiscriminatorConfig,
    GeneratorConfig,
    network_configs,
)
from shared_models.networks import Discriminator, Generator, count_parameters, init_weights


def layer_shapes(model: nn.Module, *inputs: torch.Tensor) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        module.register_forward_hook(
            lambda mod, args, out, name=name: shapes.__setitem__(name, tuple(out.shape))
        )
        for name, module in model.named_children()
    ]
    model(*inputs)
    for hook in hooks:
        hook.remove()
    return shapes


def test_generator_layer_shapes_follow_the_tutorial():
    shapes = layer_shapes(Generator(), torch.rand(4, 100) * 2 - 1)
    assert shapes == {
        "fc1": (4, 1024),
        "bn1": (4, 1024),
        "fc2": (4, 6272),
        "bn2": (4, 128, 7, 7),
        "deconv1": (4, 128, 14, 14),
        "bn3": (4, 128, 14, 14),
        "deconv2": (4, 1, 28, 28),
    }


def test_discriminator_layer_shapes_follow_the_tutorial():
    shapes = layer_shapes(Discriminator(), torch.rand(4, 1, 28, 28))
    assert shapes == {
        "conv1": (4, 1, 12, 12),
        "bn1": (4, 1, 12, 12),
        "conv2": (4, 64, 4, 4),
        "bn2": (4, 64, 4, 4),
        "fc1": (4, 1024),
        "bn3": (4, 1024),
        "fc2": (4, 1),
    }


def test_parameter_counts_are_pinned():
    # G: 100*1024+1024 + 2*1024 + 1024*6272+6272 + 2*128 + 128*128*25+128 + 2*128 + 128*25+1
    assert count_parameters(Generator()) == 6_947_713
    # D: 25+1 + 2 + 25*64+64 + 2*64 + 1024*1024+1024 + 2*1024 + 1024+1
    assert count_parameters(Discriminator()) == 1_054_493


def test_generator_output_is_tanh_bounded_and_discriminator_gives_logits():
    generator, discriminator = Generator().eval(), Discriminator().eval()
    with torch.no_grad():
        images = generator(torch.rand(8, 100) * 200 - 100)  # far outside [-1, 1]
        logits = discriminator(images)
    assert images.shape == (8, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert logits.shape == (8,)
    probabilities = discriminator.probability(images)
    assert torch.all((probabilities > 0) & (probabilities < 1))


def test_init_statistics_are_normal_0_002_with_zero_bias_and_unit_bn():
    generator, discriminator = Generator(), Discriminator()
    rng = torch.Generator().manual_seed(0)
    init_weights(generator, rng)
    init_weights(discriminator, rng)
    for weight in (generator.fc2.weight, generator.deconv1.weight, discriminator.fc1.weight):
        assert abs(weight.mean().item()) < 1e-3
        assert weight.std().item() == pytest.approx(0.02, rel=0.01)
    for module in (*generator.modules(), *discriminator.modules()):
        if isinstance(module, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            assert torch.count_nonzero(module.bias) == 0
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)


def test_init_is_reproducible_from_a_seed():
    first, second = Generator(), Generator()
    init_weights(first, torch.Generator().manual_seed(7))
    init_weights(second, torch.Generator().manual_seed(7))
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)


def test_conditional_networks_take_labels_and_refuse_to_run_without():
    generator = Generator(GeneratorConfig(num_classes=10))
    discriminator = Discriminator(DiscriminatorConfig(num_classes=10))
    labels = torch.arange(4)
    images = generator(torch.rand(4, 100), labels)
    assert images.shape == (4, 1, 28, 28)
    assert discriminator(images, labels).shape == (4,)
    assert generator.fc1.in_features == 110 and discriminator.conv1.in_channels == 11
    with pytest.raises(ValueError, match="conditional"):
        generator(torch.rand(4, 100))


def test_the_projection_head_lets_the_label_move_the_logit_through_the_dense_features():
    """With the label's other inputs zeroed, only the projection can tell labels apart."""
    torch.manual_seed(0)
    images, labels = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8)
    logits = {}
    for projection in (False, True):
        discriminator = Discriminator(DiscriminatorConfig(num_classes=10, projection=projection))
        with torch.no_grad():
            discriminator.conv1.weight[:, 1:] = 0  # the label planes
            discriminator.fc1.weight[:, -10:] = 0  # the label beside the dense features
        discriminator.eval()
        logits[projection] = (discriminator(images, labels), discriminator(images, labels + 1))
    assert torch.equal(*logits[False])
    assert not torch.allclose(*logits[True])
    discriminator = Discriminator(DiscriminatorConfig(num_classes=10, projection=True))
    assert discriminator.project.weight.shape == (1024, 10)


def test_the_label_maps_let_the_label_shape_the_generators_seven_by_seven_maps():
    """With the label's weights at the input zeroed, only the label maps can tell labels
    apart, and they add the same learned map to every noise vector asked for that label."""
    torch.manual_seed(0)
    z, labels = torch.rand(8, 100) * 2 - 1, torch.full((8,), 3)
    images = {}
    for label_maps in (False, True):
        generator = Generator(GeneratorConfig(num_classes=10, label_maps=label_maps))
        with torch.no_grad():
            generator.fc1.weight[:, -10:] = 0
        generator.eval()
        images[label_maps] = (generator(z, labels), generator(z, labels + 1))
    assert torch.equal(*images[False])
    assert not torch.allclose(*images[True])
    generator = Generator(GeneratorConfig(num_classes=10, label_maps=True))
    assert generator.label_maps.weight.shape == (128 * 7 * 7, 10)


def test_unconditional_networks_have_no_label_maps_or_projection_head():
    generator = Generator(GeneratorConfig(label_maps=True))
    discriminator = Discriminator(DiscriminatorConfig(projection=True))
    assert not hasattr(generator, "label_maps") and not hasattr(discriminator, "project")
    assert count_parameters(generator) == count_parameters(Generator())
    assert count_parameters(discriminator) == count_parameters(Discriminator())


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: GeneratorConfig(nz=0), "nz must be >= 1"),
        (lambda: GeneratorConfig(kernel=4), "kernel must be odd"),
        (lambda: DiscriminatorConfig(image_size=8), "too small"),
    ],
)
def test_bad_network_configs_are_rejected(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(
    widths=st.tuples(*[st.integers(1, 40)] * 4),
    kernel=st.sampled_from([1, 3, 5, 7]),
    image_size=st.sampled_from([24, 28, 32]),
    num_classes=st.sampled_from([0, 1, 10]),
    flag=st.booleans(),
)
def test_the_configs_count_the_parameters_and_state_the_networks_have(
    widths, kernel, image_size, num_classes, flag
):
    """parameter_count and state_dict_bytes come from the configs' arithmetic (the loaders
    check them before building anything): they are the built networks'."""
    nz, hidden, channels, conv1 = widths
    generator_config = GeneratorConfig(nz=nz, hidden=hidden, channels=channels, kernel=kernel,
                                       image_size=image_size, num_classes=num_classes,
                                       label_maps=flag)
    discriminator_config = DiscriminatorConfig(conv1_channels=conv1, conv2_channels=channels,
                                               hidden=hidden, kernel=kernel,
                                               image_size=image_size, num_classes=num_classes,
                                               projection=flag)
    with torch.device("meta"):
        generator = Generator(generator_config)
        discriminator = Discriminator(discriminator_config)
    assert generator_config.parameter_count == count_parameters(generator)
    assert discriminator_config.parameter_count == count_parameters(discriminator)
    state = generator.state_dict().values()
    assert generator_config.state_dict_bytes == sum(t.numel() * t.element_size() for t in state)


def test_the_tutorials_networks_are_well_within_the_parameter_cap():
    assert GeneratorConfig().parameter_count == count_parameters(Generator()) == 6_947_713
    assert 8 * GeneratorConfig().parameter_count < MAX_NETWORK_PARAMETERS
    with pytest.raises(ValueError, match="parameters, over the 64,000,000 allowed"):
        GeneratorConfig(hidden=65536, channels=8192)  # refused before anything is built
    with pytest.raises(ValueError, match="must be an integer, got 5.0"):
        GeneratorConfig(kernel=5.0)  # type: ignore[arg-type]


def test_each_smaller_size_keeps_the_layers_and_narrows_every_width():
    """tutorial > half > small > tiny: the same layers (the state's names and ranks), every
    width narrower, about a quarter of the parameters per halving of the convolutions."""
    sizes = ["tutorial", "half", "small", "tiny"]
    built = {size: network_configs(True, size) for size in sizes}
    states = {}
    for size, (generator_config, discriminator_config) in built.items():
        with torch.device("meta"):
            states[size] = {**Generator(generator_config).state_dict(),
                            **{f"d.{k}": v for k, v in
                               Discriminator(discriminator_config).state_dict().items()}}
    for wider, narrower in itertools.pairwise(sizes):
        assert states[wider].keys() == states[narrower].keys()
        for name, tensor in states[wider].items():
            smaller = states[narrower][name]
            assert tensor.dim() == smaller.dim(), name
            assert all(a >= b for a, b in zip(tensor.shape, smaller.shape, strict=True)), name
    full, half = (built[size][0].parameter_count for size in ("tutorial", "half"))
    assert 0.2 < half / full < 0.3, (half, full)
