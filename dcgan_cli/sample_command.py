"""``dcgan sample``: a PNG grid or the raw uint8 digits from a checkpoint.

A grid is at most 1,024 digits (``MAX_SAMPLES``, what one picture holds). Raw samples have no
such cap: evaluation tools want 10,000-50,000 of them (``shared_models.npz_samples`` writes them
block by block).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcgan_cli.errors import CommandError
from dcgan_cli.options import non_negative_int, positive_int
from shared_models.config import MAX_SAMPLES

FORMATS = (".png", ".npz")


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
    # deferred: torch loads when a command runs, not when the CLI parses its arguments
    from shared_models.checkpoint import atomic_write, read_checkpoint
    from shared_models.generator_io import generator_from_state
    from shared_models.grids import grid_png
    from shared_models.npz_samples import write_npz
    from shared_models.sampling import generate, grid_inputs
    from shared_models.verified_files import atomic_replace

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
