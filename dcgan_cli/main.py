"""The ``dcgan`` command: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from core.logs import configure_logging
from core.settings import Settings
from dcgan_cli import (
    classifier_command,
    data_command,
    db_command,
    eval_command,
    export_command,
    flower_command,
    models_command,
    sample_command,
    serve_command,
    sweep_command,
    train_command,
    up_command,
    watch_command,
    worker_command,
)
from dcgan_cli.errors import CommandError, user_errors

COMMANDS = [
    data_command,
    train_command,
    sample_command,
    serve_command,
    worker_command,
    classifier_command,
    eval_command,
    export_command,
    models_command,
    sweep_command,
    up_command,
    watch_command,
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
    try:
        # the process's one settings object: the API's (serve, up) or the shared ones
        args.settings = getattr(args, "settings_type", Settings)()
    except ValidationError as error:
        parser.exit(2, f"dcgan {args.command}: error: invalid settings: {_first(error)}\n")
    default_format = "json" if args.command in JSON_LOG_COMMANDS else "text"
    configure_logging(args.settings.log_format or default_format)
    try:
        return int(args.run(args) or 0)
    except CommandError as error:
        parser.exit(2, f"dcgan {args.command}: error: {error}\n")
    except (ValueError, OSError, RuntimeError) as error:
        if not isinstance(error, user_errors()):
            raise
        parser.exit(1, f"dcgan {args.command}: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"dcgan {args.command}: interrupted\n")


def _first(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['msg']}"


if __name__ == "__main__":
    sys.exit(main())
