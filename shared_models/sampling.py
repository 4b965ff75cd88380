"""Turning a generator and a seed into digits: uint8 images, a make_grid layout, PNG bytes.

Pure functions: the same generator, seed and arguments always give the same bytes. The noise
is drawn on the CPU from the seed, so it does not depend on the model's device; the images
are white digits on black like MNIST (tanh output -1 -> 0, +1 -> 255).
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image

from shared_models.networks import Generator
from shared_models.noise import seeded_noise

MAX_SAMPLES = 1024


@torch.no_grad()
def generate_images(
    generator: Generator, n: int, seed: int, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """n samples as uint8 (n, 28, 28), from noise determined by ``seed``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    device = next(generator.parameters()).device
    z = seeded_noise(n, generator.config.nz, seed).to(device)
    if labels is not None:
        labels = labels.to(device)
    was_training = generator.training
    generator.eval()
    try:
        images = generator(z, labels)
    finally:
        generator.train(was_training)
    return to_uint8(images[:, 0]).cpu()


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> 0..255 uint8, rounding half away from zero like PIL."""
    return images.float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def grid_shape(n: int, nrow: int, padding: int, size: int = 28) -> tuple[int, int]:
    """(height, width) of torchvision.utils.make_grid's layout for n images.

    Like make_grid, a single image comes back as it is, without padding.
    """
    if n == 1:
        return size, size
    columns = min(nrow, n)
    rows = math.ceil(n / columns)
    return rows * (size + padding) + padding, columns * (size + padding) + padding


def make_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """uint8 (n, H, W) -> one uint8 (height, width) image in make_grid's layout, black padding."""
    n, height, width = images.shape
    if nrow < 1 or padding < 0:
        raise ValueError(f"nrow must be >= 1 and padding >= 0, got {nrow}, {padding}")
    pixels = images.numpy()
    if n == 1:
        return pixels[0].copy()
    columns = min(nrow, n)
    grid = np.zeros(grid_shape(n, nrow, padding, height), dtype=np.uint8)
    for index in range(n):
        row, column = divmod(index, columns)
        top = row * (height + padding) + padding
        left = column * (width + padding) + padding
        grid[top : top + height, left : left + width] = pixels[index]
    return grid


def encode_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def render_grid(
    generator: Generator,
    n: int = 64,
    nrow: int = 8,
    padding: int = 2,
    seed: int = 0,
    labels: torch.Tensor | None = None,
) -> bytes:
    """PNG bytes of an n-sample grid for ``seed``."""
    return encode_png(make_grid(generate_images(generator, n, seed, labels), nrow, padding))
