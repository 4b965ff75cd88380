"""``dcgan up``: the whole product on one machine — API, one worker, a quick-start job.

Without ``REDIS_URL`` both processes use the embedded SQLite broker under the data directory,
so nothing else needs to be installed. Ctrl-C (or SIGTERM) stops the worker first, which
checkpoints a running job and puts it back in the queue, then the API.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import httpx

from dcgan_cli.options import positive_int
from dcgan_cli.waiting import stop_process, wait_for
from jobs.spec import QUICKSTART
from jobs.states import ACTIVE, JobState
from service.settings import ServiceSettings

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 90


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "up", help="run the API and a worker; train a quick-start model if there is none"
    )
    parser.add_argument("--host", default="127.0.0.1", help="API bind address (127.0.0.1)")
    parser.add_argument("--port", type=positive_int, default=8000, help="API port (8000)")
    parser.add_argument(
        "--no-quickstart", action="store_true", help="do not submit the quick-start job"
    )
    parser.set_defaults(run=run, settings_type=ServiceSettings)


def spawn(*args: str) -> subprocess.Popen:
    # own session: a terminal's Ctrl-C reaches only `dcgan up`, which stops them in order
    env = {"DCGAN_LOG_FORMAT": "text", **os.environ}  # readable in a terminal
    return subprocess.Popen(
        [sys.executable, "-m", "dcgan_cli.main", *args], start_new_session=True, env=env
    )


def wait_ready(url: str, api: subprocess.Popen, timeout_s: float = 120) -> None:
    def ready() -> bool:
        if api.poll() is not None:
            raise RuntimeError(f"the API exited with status {api.returncode}")
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, timeout_s, f"the API at {url} to be ready", interval=0.3)
    except TimeoutError as error:
        raise RuntimeError(str(error)) from None


def submit_quickstart(url: str, token: str | None) -> str | None:
    """Submit the quick-start job when there is no model and nothing is training."""
    if httpx.get(f"{url}/models", timeout=10).json()["models"]:
        return None
    jobs = httpx.get(f"{url}/jobs", timeout=10).json()["jobs"]
    if any(JobState(job["state"]) in ACTIVE for job in jobs):
        return None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = httpx.post(
        f"{url}/jobs", json=QUICKSTART.model_dump(exclude_none=True), headers=headers, timeout=30
    )
    reply.raise_for_status()
    return str(reply.json()["id"])


def stop(process: subprocess.Popen, name: str) -> None:
    if process.poll() is not None:
        return
    log.info("stopping the %s", name)
    if not stop_process(process, STOP_TIMEOUT_S):
        log.warning("the %s did not stop within %ss: killed", name, STOP_TIMEOUT_S)


def run(args: argparse.Namespace) -> int:
    url = f"http://{args.host}:{args.port}"
    settings: ServiceSettings = args.settings
    mode = f"Redis at {settings.redis_url}" if settings.redis_url else (
        "the embedded SQLite broker (no REDIS_URL)"
    )
    log.info("starting the API and a worker on %s", mode)
    api = spawn("serve", "--host", args.host, "--port", str(args.port))
    worker = spawn("worker")

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        wait_ready(url, api)
        token = settings.api_token.get_secret_value() if settings.api_token else None
        job = None if args.no_quickstart else submit_quickstart(url, token)
        lines = [
            f"dashboard:  {url}/",
            f"API docs:   {url}/docs",
            f"digits:     {url}/generate?n=64&seed=1",
        ]
        if job:
            lines.append(f"quick-start job {job}: {url}/jobs/{job} (digits in a few minutes)")
        sys.stdout.write("\n".join(lines) + "\nCtrl-C stops everything.\n")
        sys.stdout.flush()
        while api.poll() is None and worker.poll() is None:
            time.sleep(0.5)
        log.error("a process exited (API %s, worker %s)", api.returncode, worker.returncode)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(worker, "worker")
        stop(api, "API")
