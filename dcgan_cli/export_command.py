"""``dcgan export``: a model to take away, the serving artifact plus its model card."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dcgan_cli.options import add_data_dir_option, data_dir, non_negative_int
from shared_models.config import EXPORT_EVAL_SAMPLES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a model folder: model.safetensors + config.json (what the service "
        "serves), README.md (model card) and samples.png",
    )
    parser.add_argument(
        "source", type=Path, metavar="RUN_OR_CHECKPOINT",
        help="a run folder (its newest checkpoint), a checkpoint file, or an exported model",
    )
    parser.add_argument("--out", type=Path, required=True, help="the folder to write")
    parser.add_argument(
        "--eval-samples", type=non_negative_int, default=EXPORT_EVAL_SAMPLES,
        help=f"samples to score for the card with the cached classifier ({EXPORT_EVAL_SAMPLES}, "
        "as workers score each checkpoint; 0: skip)",
    )
    add_data_dir_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from shared_models.export import write_export  # deferred: torch loads when it runs

    result = write_export(
        args.source, args.out, data_dir=data_dir(args), eval_samples=args.eval_samples
    )
    info, metrics = result.info, result.metrics
    figures = (
        f"Frechet distance {metrics['frechet_distance']:.4g}, Inception Score "
        f"{metrics['inception_score']:.4g} on {metrics['n']} samples"
        if metrics else f"no evaluation figures: {result.metrics_note}"
    )
    sys.stdout.write(
        f"exported step {info.step} of {args.source} to {result.folder} "
        f"(model.safetensors sha256 {info.sha256}); {figures}\n"
    )
    return 0
