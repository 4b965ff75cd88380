"""Rebuilding a generator from a checkpoint, ready for sampling."""

from __future__ import annotations

from pathlib import Path

import torch

from shared_models.checkpoint import Manifest, load_checkpoint
from shared_models.config import GeneratorConfig, from_dict
from shared_models.networks import Generator


def generator_from_state(
    state: dict, device: torch.device | str = "cpu", averaged: bool = True
) -> Generator:
    """The checkpoint's generator; its weight average when it kept one, unless ``averaged``
    is False (then the live weights training left off with)."""
    generator = Generator(from_dict(GeneratorConfig, state["generator_config"]))
    average = state.get("generator_average")
    if averaged and average is not None:
        generator.load_state_dict(average["weights"])
    else:
        generator.load_state_dict(state["generator"])
    return generator.to(device).eval()


def load_generator(
    checkpoint: Path, device: torch.device | str = "cpu", averaged: bool = True
) -> tuple[Generator, Manifest]:
    """Verify a checkpoint against its manifest and rebuild its generator in eval mode."""
    state, manifest = load_checkpoint(checkpoint)
    return generator_from_state(state, device, averaged), manifest
