"""Raw samples beyond a grid's 1,024: an ``.npz`` written in blocks of 1,024 straight into its
zip member, so memory stays bounded however many are asked for. The digits are the same as one
big batch would give: the noise is drawn block after block from the one seeded stream."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from shared_models.networks import Generator
from shared_models.noise import sample_noise
from shared_models.sampling import SampleInputs, generate, grid_inputs

CHUNK = 1024  # digits drawn and written at a time


def sample_blocks(
    generator: Generator, n: int, seed: int, digit: int | None, chunk: int = CHUNK
) -> Iterator[torch.Tensor]:
    """``grid_inputs(generator, n, seed, digit)``'s digits, ``chunk`` at a time (uint8)."""
    if digit is not None:
        grid_inputs(generator, 1, seed, digit)  # the same checks as a grid's
    noise = torch.Generator().manual_seed(seed)
    classes = generator.config.num_classes
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        z = sample_noise(rows, generator.config.nz, noise)
        if digit is not None:
            labels: torch.Tensor | None = torch.full((rows,), digit, dtype=torch.long)
        else:
            labels = torch.arange(start, start + rows) % classes if classes else None
        yield generate(generator, SampleInputs(z, labels))


def write_npz(
    path: Path, generator: Generator, n: int, seed: int, digit: int | None, chunk: int = CHUNK
) -> None:
    """An .npz with one array, ``images`` (n, H, W) uint8, that np.load reads; written block by
    block, compressed like np.savez_compressed."""
    blocks = sample_blocks(generator, n, seed, digit, chunk)
    first = next(blocks).numpy()
    header = {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False,
              "shape": (n, *first.shape[1:])}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_2_0(member, header)
            member.write(first.tobytes())
            for block in blocks:
                member.write(block.numpy().tobytes())
