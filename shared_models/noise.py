"""The tutorial's noise: z ~ U[-1, 1]^nz (``noise_sample``)."""

from __future__ import annotations

import torch


def sample_noise(
    n: int, nz: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    return torch.rand(n, nz, generator=generator, device=device).mul_(2.0).sub_(1.0)


def seeded_noise(n: int, nz: int, seed: int) -> torch.Tensor:
    """Noise that depends only on (seed, n, nz): drawn on the CPU whatever the model's device."""
    return sample_noise(n, nz, torch.Generator().manual_seed(seed))
