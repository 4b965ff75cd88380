"""Laying digits out in a grid and encoding it as PNG.

``grid_png`` takes the uint8 (n, H, W) images of ``shared_models.sampling.generate`` and
returns the PNG of torchvision.utils.make_grid's layout: ``nrow`` images a row, ``padding``
black pixels around and between them, and a single image on its own without padding. The
bytes depend only on the images and the two layout arguments.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image

PNG_COMPRESS_LEVEL = 6


def grid_png(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> bytes:
    """uint8 (n, H, W) images -> PNG bytes (8-bit grayscale) of their make_grid layout."""
    return _encode_png(_layout(images, nrow, padding))


def _layout(images: torch.Tensor, nrow: int, padding: int) -> np.ndarray:
    """uint8 (n, H, W) -> one uint8 (height, width) image in make_grid's layout."""
    if images.dtype != torch.uint8 or images.ndim != 3 or images.shape[0] < 1:
        raise ValueError(f"expected uint8 (n, H, W) images, got {images.dtype} "
                         f"{tuple(images.shape)}")
    if nrow < 1 or padding < 0:
        raise ValueError(f"nrow must be >= 1 and padding >= 0, got {nrow}, {padding}")
    n, height, width = images.shape
    pixels = images.cpu().numpy()
    if n == 1:
        return pixels[0].copy()
    columns = min(nrow, n)
    rows = math.ceil(n / columns)
    grid = np.zeros(
        (rows * (height + padding) + padding, columns * (width + padding) + padding),
        dtype=np.uint8,
    )
    for index in range(n):
        row, column = divmod(index, columns)
        top = row * (height + padding) + padding
        left = column * (width + padding) + padding
        grid[top : top + height, left : left + width] = pixels[index]
    return grid


def _encode_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG",
                                           compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()
