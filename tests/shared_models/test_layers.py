"""The fast layer forms compute what PyTorch's plain layers compute."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from shared_models.layers import SplitGradientConvTranspose2d, use_fast_layers


def transposed_pair(channels_last: bool) -> tuple[nn.ConvTranspose2d, nn.ConvTranspose2d]:
    torch.manual_seed(0)
    plain = nn.ConvTranspose2d(16, 12, 5, stride=2, padding=2, output_padding=1)
    if channels_last:
        plain = plain.to(memory_format=torch.channels_last)
    split = copy.deepcopy(plain)
    split.__class__ = SplitGradientConvTranspose2d
    return plain, split


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_split_gradients_match_the_plain_transposed_convolution(channels_last):
    plain, split = transposed_pair(channels_last)
    x = torch.randn(8, 16, 7, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    upstream = torch.randn(8, 12, 14, 14)
    gradients = []
    for layer in (plain, split):
        given = x.clone().requires_grad_()
        out = layer(given)
        out.backward(upstream)
        gradients.append((out.detach(), given.grad, layer.weight.grad, layer.bias.grad))
    assert split(x).grad_fn.name().startswith("_TransposedConvolution")
    for mine, theirs in zip(gradients[1], gradients[0], strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-5)


def test_split_gradients_compute_only_what_is_asked():
    _, split = transposed_pair(channels_last=True)
    split.weight.requires_grad_(False)
    x = torch.randn(4, 16, 7, 7, requires_grad=True)
    split(x).sum().backward()
    assert x.grad is not None and split.bias.grad is not None
    assert split.weight.grad is None
    with torch.no_grad():  # sampling: the plain layer's forward, no autograd function
        assert split(x).grad_fn is None


def test_fast_layers_on_cpu_pick_a_form_for_every_convolution():
    network = nn.Sequential(
        nn.ConvTranspose2d(8, 8, 5, stride=2, padding=2, output_padding=1),
        nn.ConvTranspose2d(8, 1, 5, stride=2, padding=2, output_padding=1),
        nn.ConvTranspose2d(8, 8, 3, groups=2),  # grouped: left as it is
    )
    use_fast_layers(network, torch.device("cpu"))
    kinds = [type(layer).__name__ for layer in network]
    assert kinds == ["SplitGradientConvTranspose2d", "GemmConvTranspose2d", "ConvTranspose2d"]
