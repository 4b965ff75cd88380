"""``dcgan classifier``: train (or check) the CNN that ``dcgan eval`` scores samples with."""

from __future__ import annotations

import argparse
import json
import sys
import time

from dcgan_cli.options import add_data_options, data_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "classifier", help="train the evaluation classifier (cached in the data folder)"
    )
    add_data_options(parser)
    parser.add_argument(
        "--force", action="store_true", help="train again even when a cached classifier exists"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # deferred: torch loads when the command runs, not when the CLI parses its arguments
    from shared_models.evaluation import load_or_train_classifier

    started = time.time()
    _, info = load_or_train_classifier(args.dataset, data_dir(args), force=args.force)
    trained = info.created_at >= started
    summary = {
        "dataset": info.dataset,
        "path": str(info.path),
        "sha256": info.sha256,
        "test_accuracy": info.test_accuracy,
        "train_seconds": round(info.train_seconds, 3),
        "trained": trained,
    }
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return 0
    how = f"trained in {info.train_seconds:.0f}s" if trained else "cached"
    sys.stdout.write(
        f"{info.dataset} classifier ({how}): {100 * info.test_accuracy:.2f}% test accuracy, "
        f"{info.path}\n"
    )
    return 0
