"""``dcgan eval``: score a checkpoint's samples (Fréchet distance, Inception Score, coverage),
or print what real images and noise score (``--reference``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dcgan_cli.errors import CommandError
from dcgan_cli.options import data_dir, non_negative_int, positive_int
from shared_models.config import DATASETS, DEFAULT_SAMPLES

if TYPE_CHECKING:
    from shared_models.evaluation import EvaluationResult

MAX_EVAL_SAMPLES = 60_000  # the reference floor draws from the 60,000 training images


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="score a checkpoint's samples: Frechet distance, Inception Score, coverage"
    )
    parser.add_argument(
        "checkpoint", type=Path, nargs="?", help="a checkpoint file or a run folder"
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="instead, score real training images (floor) and uniform noise (ceiling)",
    )
    parser.add_argument(
        "--dataset", choices=DATASETS, help="data set for --reference (default: mnist)"
    )
    parser.add_argument(
        "--n", type=positive_int, default=DEFAULT_SAMPLES, help=f"samples ({DEFAULT_SAMPLES})"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="noise seed (0)")
    parser.add_argument(
        "--live-weights",
        action="store_true",
        help="score the generator's live weights, not the average a checkpoint may keep "
        "(train --ema-decay)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where data sets and classifiers live (default: $DCGAN_DATA_DIR, else ./data)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not 2 <= args.n <= MAX_EVAL_SAMPLES:
        raise CommandError(f"--n must be between 2 and {MAX_EVAL_SAMPLES}, got {args.n}")
    folder = data_dir(args)
    if args.reference:
        if args.checkpoint is not None:
            raise CommandError("give a CHECKPOINT or --reference, not both")
        return print_reference(args, folder)
    if args.checkpoint is None:
        raise CommandError("give a CHECKPOINT (file or run folder), or --reference")
    if args.dataset is not None:
        raise CommandError("--dataset goes with --reference; a checkpoint names its own data set")
    # deferred: torch loads when the command runs, not when the CLI parses its arguments
    from shared_models.checkpoint import read_checkpoint
    from shared_models.evaluation import evaluate_checkpoint

    started = time.perf_counter()
    checkpoint = read_checkpoint(args.checkpoint)
    manifest = checkpoint.manifest
    result = evaluate_checkpoint(checkpoint, folder, args.n, args.seed,
                                 averaged=not args.live_weights)
    seconds = time.perf_counter() - started
    if args.json:
        summary = {
            "checkpoint": str(manifest.path),
            "step": manifest.step,
            **result.to_dict(),
            "seconds": round(seconds, 3),
        }
        sys.stdout.write(json.dumps(summary) + "\n")
        return 0
    sys.stdout.write(
        f"step {manifest.step} of {manifest.path} ({result.dataset}, {result.n} samples, "
        f"seed {result.seed}, {seconds:.1f}s)\n" + describe(result)
    )
    return 0


def print_reference(args: argparse.Namespace, folder: Path) -> int:
    from shared_models.evaluation import compute_reference  # deferred: torch

    values = compute_reference(args.dataset or "mnist", folder, args.n, args.seed)
    if args.json:
        sys.stdout.write(json.dumps(values.to_dict()) + "\n")
        return 0
    accuracy = values.classifier_test_accuracy
    known = "unknown" if accuracy is None else f"{100 * accuracy:.2f}%"
    sys.stdout.write(
        f"{values.dataset} reference ({values.n} images, seed {values.seed}; "
        f"classifier test accuracy {known})\n"
    )
    sys.stdout.write("floor: real training images vs the test set\n" + describe(values.floor))
    sys.stdout.write("ceiling: uniform noise in [-1, 1]\n" + describe(values.ceiling))
    return 0


def describe(result: EvaluationResult) -> str:
    # deferred: torch, Celery and the database layer load only when the command runs
    from shared_models.data.datasets import get_spec

    names = get_spec(result.dataset).classes
    shares = "  ".join(
        f"{name} {100 * share:.1f}%" for name, share in zip(names, result.class_shares, strict=True)
    )
    lines = [
        f"  Frechet distance  {result.frechet_distance:.4f}  (classifier features; lower is "
        "better)",
        f"  Inception score   {result.inception_score:.4f}  (1 to {len(names)}; higher is better)",
        f"  class coverage    {result.classes_covered}/{len(names)} classes with >= "
        f"{100 * result.coverage_threshold:.0f}% of samples; total variation to the test set "
        f"{result.class_tv:.4f}",
        f"  class shares      {shares}",
    ]
    if result.label_accuracy is not None and result.per_class_accuracy is not None:
        per_class = "  ".join(
            f"{name} {'-' if value is None else f'{100 * value:.1f}%'}"
            for name, value in zip(names, result.per_class_accuracy, strict=True)
        )
        lines.append(
            f"  label accuracy    {100 * result.label_accuracy:.2f}% classified as requested"
        )
        lines.append(f"  per class         {per_class}")
    return "\n".join(lines) + "\n"
