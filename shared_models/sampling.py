"""Turning a generator and a seed into digits: uint8 images, a make_grid layout, PNG bytes.

Pure functions: the same generator, seed and arguments always give the same bytes. The noise
is drawn on the CPU from the seed, so it does not depend on the model's device; the images
are white digits on black like MNIST (tanh output -1 -> 0, +1 -> 255).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable

import numpy as np
import torch
from PIL import Image

from shared_models.networks import Generator
from shared_models.noise import seeded_noise

MAX_SAMPLES = 1024
# Every forward pass runs on blocks of exactly this many rows (the last one zero-padded). The
# CPU kernels pick their algorithm by batch size, and a row's pixels can differ in the last
# float bits between sizes; with one block size a sample's bytes depend only on its noise,
# whether it is drawn alone, in a bigger grid or batched with other requests. 16 rows: a
# small grid pads to 16 rows, not 32, while a block is still big enough for efficient kernels
# (per row about 1.15x the cost in a 32-row block, against 1.55x at 8 rows).
RENDER_BLOCK = 16


def generate_images(
    generator: Generator, n: int, seed: int, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """n samples as uint8 (n, 28, 28), from noise determined by ``seed``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return images_from_noise(generator, seeded_noise(n, generator.config.nz, seed), labels)


def class_labels(generator: Generator, n: int, digit: int | None = None) -> torch.Tensor | None:
    """Labels for a conditional generator: all ``digit``, or every class in turn."""
    classes = generator.config.num_classes
    if digit is None:
        return torch.arange(n) % classes if classes else None
    if not classes:
        raise ValueError("this model is not conditional: it cannot draw a chosen digit")
    if not 0 <= digit < classes:
        raise ValueError(f"digit must be between 0 and {classes - 1}, got {digit}")
    return torch.full((n,), digit, dtype=torch.long)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between the rows a and b (shape (nz,)) at fractions t (k,)."""
    a64, b64, t64 = a.double(), b.double(), t.double()[:, None]
    cos = (a64 @ b64 / (a64.norm() * b64.norm())).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    if omega.abs() < 1e-6:  # (nearly) parallel: the arc is a line
        return ((1 - t64) * a64 + t64 * b64).to(a.dtype)
    mixed = (torch.sin((1 - t64) * omega) * a64 + torch.sin(t64 * omega) * b64) / torch.sin(omega)
    return mixed.to(a.dtype)


def interpolation_inputs(
    generator: Generator, seed_a: int, seed_b: int, steps: int, digit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Noise rows (and labels) walking the latent space from seed_a's first sample to
    seed_b's. A conditional generator draws ``digit`` (default 0) all along."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    nz = generator.config.nz
    z = slerp(seeded_noise(1, nz, seed_a)[0], seeded_noise(1, nz, seed_b)[0],
              torch.linspace(0.0, 1.0, steps))
    if generator.config.num_classes and digit is None:
        digit = 0
    return z, class_labels(generator, steps, digit)


def grid_inputs(
    generator: Generator, n: int, seed: int, digit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Noise rows (and labels) of an n-sample grid for ``seed``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return seeded_noise(n, generator.config.nz, seed), class_labels(generator, n, digit)


def interpolation_images(
    generator: Generator, seed_a: int, seed_b: int, steps: int, digit: int | None = None
) -> torch.Tensor:
    """``steps`` samples walking the latent space from seed_a's first sample to seed_b's."""
    return images_from_noise(generator, *interpolation_inputs(generator, seed_a, seed_b, steps,
                                                             digit))


def render_interpolation(
    generator: Generator,
    seed_a: int,
    seed_b: int,
    steps: int = 10,
    padding: int = 2,
    digit: int | None = None,
) -> bytes:
    """PNG bytes of a one-row strip from seed_a's sample to seed_b's."""
    images = interpolation_images(generator, seed_a, seed_b, steps, digit)
    return grid_png(images, nrow=steps, padding=padding)


def images_from_noise(
    generator: Generator, z: torch.Tensor, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Eval-mode samples for noise rows z, as uint8 (n, 28, 28) on the CPU."""
    return to_uint8(forward_in_blocks(generator, z, labels)[:, 0]).cpu()


BlockMap = Callable[[Callable[[int], torch.Tensor], Iterable[int]], Iterable[torch.Tensor]]


def forward_in_blocks(
    generator: Generator,
    z: torch.Tensor,
    labels: torch.Tensor | None = None,
    map_blocks: BlockMap = map,
) -> torch.Tensor:
    """The generator in eval mode on blocks of RENDER_BLOCK rows: (n, 1, 28, 28) floats whose
    bits for a row depend only on that row's noise (and label).

    ``map_blocks(forward, starts)`` runs the forward of every block (``map`` by default, one
    after the other in this thread; ``service.batching`` spreads them over threads).
    """
    device = next(generator.parameters()).device
    count = z.shape[0]
    padding = (-count) % RENDER_BLOCK
    z = torch.cat([z, z.new_zeros(padding, z.shape[1])]).to(device)
    if labels is not None:
        labels = torch.cat([labels, labels.new_zeros(padding)]).to(device)

    def forward(start: int) -> torch.Tensor:
        with torch.no_grad():  # per thread: the block may run in another one
            return generator(
                z[start : start + RENDER_BLOCK],
                None if labels is None else labels[start : start + RENDER_BLOCK],
            )

    was_training = generator.training
    generator.eval()
    try:
        blocks = list(map_blocks(forward, range(0, z.shape[0], RENDER_BLOCK)))
    finally:
        generator.train(was_training)
    return torch.cat(blocks)[:count]


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


def grid_png(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> bytes:
    """uint8 (n, 28, 28) images -> PNG bytes of their make_grid layout."""
    return encode_png(make_grid(images, nrow, padding))


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
    digit: int | None = None,
) -> bytes:
    """PNG bytes of an n-sample grid for ``seed`` (every class in turn, or ``digit``, when the
    generator is conditional)."""
    return grid_png(images_from_noise(generator, *grid_inputs(generator, n, seed, digit)), nrow,
                    padding)
