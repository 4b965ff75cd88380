"""``dcgan sample``: a PNG grid or the raw uint8 digits from a checkpoint."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from dcgan_cli.errors import CommandError
from dcgan_cli.options import non_negative_int, positive_int
from shared_models.checkpoint import atomic_write, read_checkpoint
from shared_models.generator_io import generator_from_state
from shared_models.grids import grid_png
from shared_models.sampling import MAX_SAMPLES, generate, grid_inputs

FORMATS = (".png", ".npz")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sample", help="draw digits from a checkpoint")
    parser.add_argument("checkpoint", type=Path, help="a checkpoint file or a run folder")
    parser.add_argument("--out", type=Path, required=True, help="FILE.png (grid) or FILE.npz")
    parser.add_argument("--n", type=positive_int, default=64, help="number of samples (64)")
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
    if args.n > MAX_SAMPLES:
        raise CommandError(f"--n must be at most {MAX_SAMPLES}, got {args.n}")
    checkpoint = read_checkpoint(args.checkpoint)
    generator, manifest = generator_from_state(checkpoint.state), checkpoint.manifest
    images = generate(generator, grid_inputs(generator, args.n, args.seed, args.digit))
    if args.out.suffix == ".png":
        payload = grid_png(images, args.nrow, args.padding)
    else:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, images=images.numpy())
        payload = buffer.getvalue()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, payload)
    sys.stdout.write(
        f"wrote {args.n} samples (seed {args.seed}) from step {manifest.step} to {args.out}\n"
    )
    return 0
