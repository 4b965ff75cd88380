"""``dcgan data``: fetch (MNIST) or find (Fashion-MNIST) a data set, verify it, describe it."""

from __future__ import annotations

import argparse
import json
import sys

from dcgan_cli.options import add_data_options, data_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="fetch and verify a data set")
    add_data_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from shared_models.data import describe, load_dataset  # deferred: torch loads when it runs

    folder = data_dir(args)
    splits = [describe(load_dataset(args.dataset, folder, split)) for split in ("train", "test")]
    if args.json:
        sys.stdout.write(json.dumps({"dataset": args.dataset, "splits": splits}) + "\n")
        return 0
    for split in splits:
        sys.stdout.write(
            f"{split['dataset']} {split['split']}: {split['images']} images "
            f"{split['shape'][0]}x{split['shape'][1]}, SHA-256 verified, from {split['source']}\n"
            f"  per class: {split['per_class']}  mean pixel: {split['mean_pixel']}\n"
        )
    return 0
