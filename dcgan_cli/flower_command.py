"""``dcgan flower``: Celery's monitoring UI for the project's queue."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("flower", help="run Flower, Celery's monitoring UI")
    parser.add_argument("--port", type=int, default=5555, help="port (5555)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # deferred: torch, Celery and the database layer load only when the command runs
    from jobs.queue import make_celery

    app = make_celery(args.settings)
    app.start(["flower", f"--port={args.port}"])
    return 0
