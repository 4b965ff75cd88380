"""``dcgan worker``: a Celery worker that runs one training job at a time; ``dcgan
worker-ping``: whether a worker on this host answers (the compose healthcheck)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys

from dcgan_cli.errors import CommandError

log = logging.getLogger(__name__)


def default_name() -> str:
    """Unique per process, so several workers on one host never share a lease owner."""
    return f"dcgan-{os.getpid()}@{socket.gethostname()}"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="run a Celery training worker")
    parser.add_argument(
        "--name", default=None,
        help="Celery node name, unique per worker (default: dcgan-<pid>@<hostname>)",
    )
    parser.add_argument("--loglevel", default="INFO", help="log level (INFO)")
    parser.set_defaults(run=run)

    ping = subparsers.add_parser(
        "worker-ping", help="exit 0 when a worker on this host answers Celery's ping"
    )
    ping.add_argument("--timeout", type=float, default=10.0, help="seconds to wait (10)")
    ping.set_defaults(run=run_ping)


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


PROBE = (
    "import dataclasses, json, sys\n"
    "from shared_models.training.device import check_device\n"
    "print(json.dumps(dataclasses.asdict(check_device(sys.argv[1] or None))))\n"
)


def check_training_device(requested: str | None) -> str:
    """The device jobs will train on; a CommandError when DCGAN_DEVICE names one that cannot
    run. Checked in a child process: the worker's own process forks its pool and must not
    have initialised CUDA. DCGAN_DEVICE=cpu needs no check (nor the child's second or two)."""
    if requested == "cpu":
        from torch import device

        from shared_models.training.device import describe_device  # deferred: torch

        log.info("jobs train on %s", describe_device(device("cpu")))
        return "cpu"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, requested or ""], capture_output=True, text=True,
        check=False,
    )
    if done.returncode != 0:
        raise CommandError(f"could not check the training device: {done.stderr.strip()}")
    check = json.loads(done.stdout.strip().splitlines()[-1])
    if not check["usable"]:
        raise CommandError(f"DCGAN_DEVICE={requested}: {check['description']}")
    if check["note"]:
        log.warning("training on the CPU: %s", check["note"])
    log.info("jobs train on %s", check["description"])
    return str(check["device"])


def run(args: argparse.Namespace) -> int:
    # deferred: torch, Celery and the database layer load only when the command runs
    from core import tracing
    from jobs.bootstrap import prepare_shared_state
    from shared_models.training.setup import use_compile_cache
    from worker.app import create_worker_app

    settings = args.settings
    try:
        settings.check_worker_limits()
    except ValueError as error:
        raise CommandError(str(error)) from error
    check_training_device(settings.device)
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    prepare_shared_state(settings)
    use_compile_cache(settings.data_dir)
    if settings.eval_samples:
        ensure_classifier()
    tracing.configure("dcgan-worker")  # before the pool forks: each pool process renews it
    app = create_worker_app(settings)
    app.worker_main(
        [
            "worker",
            f"--hostname={args.name or default_name()}",
            f"--loglevel={args.loglevel}",
            f"--queues={settings.queue}",
            "--pool=prefork",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0


def run_ping(args: argparse.Namespace) -> int:
    """Ask this host's workers (named in the scratch folder) and stop at their answers; with
    none named, ask every worker for the whole timeout and look for this host's."""
    from kombu.exceptions import KombuError

    # deferred: torch, Celery and the database layer load only when the command runs
    from jobs.queue import make_celery
    from worker.local_names import LocalWorkerNames

    settings = args.settings
    app = make_celery(settings)
    try:  # one try: a healthcheck wants an answer now, not after the broker's retries
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1)
    except (OSError, KombuError) as error:
        raise CommandError(f"the broker is unreachable: {error}") from None
    suffix = f"@{socket.gethostname()}"
    local = [name for name in LocalWorkerNames(settings.runs_dir).names() if name.endswith(suffix)]
    if local:
        replies = app.control.ping(destination=local, timeout=args.timeout, limit=len(local))
    else:
        replies = app.control.ping(timeout=args.timeout)
    names = [name for reply in replies or [] for name in reply]
    if any(name.endswith(suffix) for name in names):
        return 0
    raise CommandError(f"no worker on this host ({suffix}) answered; heard from {names or 'none'}")
