"""`make deploy-test`: the compose deployment, run for real on this host.

  1. podman, runc and mmdebstrap (installed when missing) and podman's Docker API on a
     private socket, with storage and networks of its own under the state folder;
  2. stand-ins for the images compose names and this host cannot pull (standins.py);
  3. the project's image, from its real Dockerfile;
  4. the stack up with docker-compose.yml + docker-compose.cpu.yml (the data volume seeded
     with the MNIST files and classifier `make setup` prepared, unless --no-seed), every
     healthcheck passing, and the README's walk-through driven from the host;
  5. what users depend on: writable volumes, torch.compile's cache, a worker stopped and
     Redis restarted mid-job, `down` then `up` keeping the jobs and the served model;
  6. teardown, whatever failed: no container, network or volume left, the service stopped.

The images stay in the state folder's store as a cache for the next run (--fresh drops the
Debian base the stand-ins are built on, so everything is rebuilt). Logs, compose logs and
screenshots land in <state>/logs."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import checks
import image_build
import standins
import walkthrough
from build_mounts import HOST_CA_BUNDLE, BuildMounts
from compose_stack import Stack
from podman_host import Podman, install_missing_packages

log = logging.getLogger("deploy-test")
REPO = Path(__file__).resolve().parents[2]
DEFAULT_STATE = Path(os.environ.get("DCGAN_DEPLOY_TEST_DIR", "/var/tmp/dcgan-deploy-test"))
UP_TIMEOUT_S = 1500  # with --no-seed the worker trains the evaluation classifier first
# what `make setup` fetched and trained, seeded into the data volume
HOST_DATA = Path(os.environ.get("DCGAN_DATA_DIR", REPO / "data")).resolve()
JOB_TIMEOUT_S = 1800  # a job of a few hundred iterations takes minutes; more on a busy host


class Stages:
    """Named stages with their durations, reported at the end whatever happened."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float, str]] = []

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        log.info("=== %s", name)
        started = time.monotonic()
        outcome = "failed"
        try:
            yield
            outcome = "ok"
        finally:
            self.times.append((name, time.monotonic() - started, outcome))

    def report(self) -> None:
        log.info("=== stage times")
        for name, seconds, outcome in self.times:
            log.info("  %-48s %6.0f s  %s", name, seconds, outcome)
        log.info("  %-48s %6.0f s", "total", sum(t for _, t, _ in self.times))


def moto_version() -> str:
    """The moto release the project's tests use, from the dev lock."""
    for line in (REPO / "requirements-dev.lock").read_text().splitlines():
        if line.startswith("moto=="):
            return line.split("==", 1)[1].split()[0].rstrip(" \\;")
    raise RuntimeError("requirements-dev.lock pins no moto")


def compose_secrets() -> dict[str, str]:
    return {
        "DCGAN_API_TOKEN": secrets.token_urlsafe(32),
        "POSTGRES_PASSWORD": secrets.token_hex(24),
        "MINIO_ROOT_USER": "dcgan",
        "MINIO_ROOT_PASSWORD": secrets.token_hex(24),
    }


def drive(stack: Stack, stage: Callable[[str], object], screenshots: Path) -> None:
    api = walkthrough.Api(stack.env["DCGAN_API_TOKEN"])
    try:
        with stage("walk-through: a job to succeeded, /generate, /metrics"):
            job_id = walkthrough.train_to_success(api, JOB_TIMEOUT_S)
            walkthrough.check_generate(api, job_id, screenshots)
            walkthrough.check_metrics(api)
        with stage("walk-through: Flower and the dashboard in Chromium"):
            walkthrough.check_flower()
            walkthrough.check_dashboard(job_id, screenshots)
        with stage("volumes writable by the image's user, compile cache"):
            checks.check_volumes_writable(stack)
            checks.check_compile_cache(stack)
        with stage("worker stopped and Redis restarted mid-job"):
            checks.check_worker_stop_and_redis_restart(stack, api, JOB_TIMEOUT_S)
        with stage("down, then up: jobs and served model kept"):
            checks.check_down_up_keeps_state(stack, api, UP_TIMEOUT_S)
    finally:
        api.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE,
                        help=f"engine storage, cache and logs ({DEFAULT_STATE})")
    parser.add_argument("--fresh", action="store_true",
                        help="rebuild the stand-ins' Debian base (and so every image)")
    parser.add_argument("--no-seed", action="store_true",
                        help="start with an empty data volume: the worker fetches MNIST and "
                             "trains the evaluation classifier (minutes on a CPU)")
    args = parser.parse_args()
    state: Path = args.state.resolve()
    (state / "logs").mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stderr),
                  logging.FileHandler(state / "logs" / "run.log", mode="w")],
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    stage = Stages()
    podman = Podman(state)
    stack: Stack | None = None
    failure: BaseException | None = None
    try:
        with stage("engine: packages, podman API service"):
            install_missing_packages()
            podman.configure()
            podman.start_service()
            if not HOST_CA_BUNDLE.exists():
                raise RuntimeError(f"no CA bundle at {HOST_CA_BUNDLE}: install ca-certificates")
            stack = Stack(podman, compose_secrets(), HOST_CA_BUNDLE)
            stack.check_ports_free()
        with stage("stand-in images"):
            mounts = BuildMounts(state)
            standins.build_all(podman, mounts, stack.images(), moto_version(), args.fresh)
        with stage("project image from the Dockerfile"):
            image_build.build_image(podman, mounts, stack.project_image(), standins.PYTHON)
        with stage("compose up: every service healthy"):
            if not args.no_seed:
                stack.seed_data(HOST_DATA, stack.project_image())
            stack.up(UP_TIMEOUT_S)
        drive(stack, stage, state / "logs")
    except BaseException as error:  # noqa: BLE001 - reported, then teardown, then exit 1
        failure = error
        log.error("FAILED: %s", error)
        if stack is not None:
            log.error("compose logs: %s", stack.save_logs("failure"))
    finally:
        with stage("teardown"):
            try:
                if stack is not None:
                    stack.teardown()
            except Exception as error:  # noqa: BLE001
                log.error("teardown: %s", error)
                failure = failure or error
            finally:
                podman.stop_service()
        stage.report()
    if failure is not None:
        log.error("deploy-test FAILED (logs in %s)", state / "logs")
        return 1
    log.info("deploy-test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
