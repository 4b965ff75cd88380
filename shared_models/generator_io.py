"""Rebuilding a generator from a checkpoint, ready for sampling.

The rebuilt generator computes with :func:`shared_models.layers.use_fast_layers` (channels-last
maps, the one-channel output layer as one matrix product on CPU): the same weights and math as
the plain layers, a block of 16 digits in about 30 % less time on one CPU thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from shared_models.checkpoint import Manifest, load_checkpoint
from shared_models.config import GeneratorConfig, from_dict
from shared_models.layers import use_fast_layers
from shared_models.networks import Generator


def generator_from_state(
    state: dict,
    device: torch.device | str = "cpu",
    averaged: bool = True,
    fast_layers: bool = True,
) -> Generator:
    """The checkpoint's generator in eval mode; its weight average when it kept one, unless
    ``averaged`` is False (then the live weights training left off with). ``fast_layers=False``
    keeps PyTorch's plain layers."""
    return generator_from_weights(
        state["generator_config"], sampling_weights(state, averaged), device, fast_layers
    )


def sampling_weights(state: dict, averaged: bool = True) -> dict[str, torch.Tensor]:
    """The generator weights a checkpoint samples with: its weight average when it kept one
    (unless ``averaged`` is False), else the live weights."""
    average = state.get("generator_average")
    if averaged and average is not None:
        return dict(average["weights"])
    return dict(state["generator"])


def generator_from_weights(
    config: Mapping[str, Any],
    weights: Mapping[str, torch.Tensor],
    device: torch.device | str = "cpu",
    fast_layers: bool = True,
) -> Generator:
    """A generator of architecture ``config`` (a GeneratorConfig dict) holding ``weights``,
    in eval mode, with the fast layers unless ``fast_layers`` is False."""
    generator = Generator(from_dict(GeneratorConfig, dict(config)))
    generator.load_state_dict(weights)
    generator.to(device).eval()
    if fast_layers:
        use_fast_layers(generator, torch.device(device))
    return generator


def load_generator(
    checkpoint: Path,
    device: torch.device | str = "cpu",
    averaged: bool = True,
    fast_layers: bool = True,
) -> tuple[Generator, Manifest]:
    """Verify a checkpoint against its manifest and rebuild its generator in eval mode."""
    state, manifest = load_checkpoint(checkpoint)
    return generator_from_state(state, device, averaged, fast_layers), manifest
