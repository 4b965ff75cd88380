"""Options shared by several sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared_models.config import DATASETS


def add_data_options(
    parser: argparse.ArgumentParser, dataset_default: str | None = "mnist"
) -> None:
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default=dataset_default,
        help=f"data set (default: {dataset_default or 'from the checkpoint when resuming'})",
    )
    add_data_dir_option(parser)


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where data sets live (default: $DCGAN_DATA_DIR, else ./data)",
    )


def data_dir(args: argparse.Namespace) -> Path:
    return args.data_dir or args.settings.data_dir


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value
