"""The ``dcgan`` command: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dcgan_cli import (
    classifier_command,
    data_command,
    db_command,
    eval_command,
    flower_command,
    sample_command,
    serve_command,
    train_command,
    up_command,
    worker_command,
)
from dcgan_cli.errors import USER_ERRORS, CommandError
from dcgan_cli.log_format import configure_logging

COMMANDS = [
    data_command,
    train_command,
    sample_command,
    serve_command,
    worker_command,
    classifier_command,
    eval_command,
    up_command,
    db_command,
    flower_command,
]

JSON_LOG_COMMANDS = ("serve", "worker")  # long-running services log JSON lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcgan",
        description="The CNTK 206B DCGAN on MNIST: data, training, sampling, serving.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging("json" if args.command in JSON_LOG_COMMANDS else "text")
    try:
        return int(args.run(args) or 0)
    except CommandError as error:
        parser.exit(2, f"dcgan {args.command}: error: {error}\n")
    except USER_ERRORS as error:
        parser.exit(1, f"dcgan {args.command}: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"dcgan {args.command}: interrupted\n")


if __name__ == "__main__":
    sys.exit(main())
