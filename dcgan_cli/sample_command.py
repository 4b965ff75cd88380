"""``dcgan sample``: a PNG grid or the raw uint8 digits from a checkpoint.

A grid is at most 1,024 digits (``MAX_SAMPLES``, what one picture holds). Raw samples have no
such cap: evaluation tools want 10,000-50,000 of them, so the ``.npz`` is written in blocks of
1,024 straight into its zip member, and memory stays bounded however many are asked for. The
digits are the same as one big batch would give: the noise is drawn block after block from the
one seeded stream.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from dcgan_cli.errors import CommandError
from dcgan_cli.options import non_negative_int, positive_int
from shared_models.checkpoint import atomic_write, read_checkpoint
from shared_models.generator_io import generator_from_state
from shared_models.grids import grid_png
from shared_models.networks import Generator
from shared_models.noise import sample_noise
from shared_models.sampling import MAX_SAMPLES, SampleInputs, generate, grid_inputs
from shared_models.verified_files import atomic_replace

FORMATS = (".png", ".npz")
CHUNK = 1024  # digits drawn and written at a time into an .npz


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sample", help="draw digits from a checkpoint")
    parser.add_argument("checkpoint", type=Path, help="a checkpoint file or a run folder")
    parser.add_argument("--out", type=Path, required=True, help="FILE.png (grid) or FILE.npz")
    parser.add_argument(
        "--n", type=positive_int, default=64,
        help=f"number of samples (64; a .png grid holds at most {MAX_SAMPLES})",
    )
    parser.add_argument("--nrow", type=positive_int, default=8, help="images per grid row (8)")
    parser.add_argument("--padding", type=non_negative_int, default=2, help="grid padding (2)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="noise seed (0)")
    parser.add_argument(
        "--digit", type=non_negative_int, help="conditional models: draw only this class"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.out.suffix not in FORMATS:
        raise CommandError(f"--out must end in .png or .npz, got {args.out.name!r}")
    if args.out.suffix == ".png" and args.n > MAX_SAMPLES:
        raise CommandError(
            f"--n must be at most {MAX_SAMPLES} for a .png grid, got {args.n} (an .npz holds "
            "any number)"
        )
    checkpoint = read_checkpoint(args.checkpoint)
    generator, manifest = generator_from_state(checkpoint.state), checkpoint.manifest
    if args.out.suffix == ".png":
        images = generate(generator, grid_inputs(generator, args.n, args.seed, args.digit))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out, grid_png(images, args.nrow, args.padding))
    else:
        atomic_replace(args.out, lambda temp: write_npz(
            temp, generator, args.n, args.seed, args.digit
        ))
    sys.stdout.write(
        f"wrote {args.n} samples (seed {args.seed}) from step {manifest.step} to {args.out}\n"
    )
    return 0


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
