"""Laying digits out in a grid and encoding it as PNG.

``grid_png`` takes the uint8 (n, H, W) images of ``shared_models.sampling.generate`` and
returns the PNG of torchvision.utils.make_grid's layout: ``nrow`` images a row, ``padding``
black pixels around and between them, and a single image on its own without padding. The
bytes depend only on the images and the two layout arguments. ``labelled_grids_png`` stacks
several such grids, each under a line naming it (several models' digits side by side).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

PNG_COMPRESS_LEVEL = 6
LABEL_HEIGHT = 14  # the line of text above each grid of labelled_grids_png


def grid_png(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> bytes:
    """uint8 (n, H, W) images -> PNG bytes (8-bit grayscale) of their make_grid layout."""
    return _encode_png(_layout(images, nrow, padding))


def labelled_grids_png(
    grids: Sequence[tuple[str, torch.Tensor]], nrow: int = 8, padding: int = 2
) -> bytes:
    """Grids of the same layout stacked top to bottom, each under a line of text naming it
    (white on black, PIL's default font): ``(label, uint8 (n, H, W) images)`` pairs."""
    layouts = [_layout(images, nrow, padding) for _, images in grids]
    width = max(layout.shape[1] for layout in layouts)
    height = sum(LABEL_HEIGHT + layout.shape[0] for layout in layouts)
    canvas = Image.new("L", (width, height))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    top = 0
    for (label, _), layout in zip(grids, layouts, strict=True):
        draw.text((2, top + 2), label, fill=255, font=font)
        canvas.paste(Image.fromarray(layout), (0, top + LABEL_HEIGHT))
        top += LABEL_HEIGHT + layout.shape[0]
    return _encode_png(np.asarray(canvas))


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
