"""``dcgan worker``: a Celery worker that runs one training job at a time."""

from __future__ import annotations

import argparse
import logging
import socket
import subprocess
import sys

from dcgan_cli.errors import CommandError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="run a Celery training worker")
    parser.add_argument(
        "--name", default=f"dcgan@{socket.gethostname()}",
        help="Celery node name (default: dcgan@<hostname>); one per worker",
    )
    parser.add_argument("--loglevel", default="INFO", help="log level (INFO)")
    parser.set_defaults(run=run)


def ensure_classifier() -> None:
    """Cache the MNIST evaluation classifier (trained once, minutes on a CPU) so checkpoints
    can be scored. It runs in a child process: the worker's main process forks its pool and
    must not have run any torch arithmetic (thread pools do not survive a fork)."""
    done = subprocess.run(
        [sys.executable, "-m", "dcgan_cli.main", "classifier", "--dataset", "mnist"], check=False
    )
    if done.returncode != 0:
        log.warning("no evaluation classifier (exit %d): checkpoints will not be scored",
                    done.returncode)


def run(args: argparse.Namespace) -> int:
    from worker.settings import get_settings

    settings = get_settings()
    try:
        settings.check_worker_limits()
    except ValueError as error:
        raise CommandError(str(error)) from error
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.eval_samples:
        ensure_classifier()

    from worker.tasks import app

    app.worker_main(
        [
            "worker",
            f"--hostname={args.name}",
            f"--loglevel={args.loglevel}",
            f"--queues={settings.queue}",
            "--pool=prefork",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0
