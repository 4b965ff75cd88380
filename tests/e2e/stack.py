"""Starting the real processes: a Celery worker and the API under uvicorn."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from jobs.database import make_engine
from jobs.model_records import ModelRecords
from tests.conftest import DATA_DIR, REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Stack:
    """A worker and an API process sharing one data and runs folder."""

    def __init__(self, root: Path, redis_url: str | None, **extra_env: str) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.runs_dir = root / "runs"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for shared in ("MNIST", "classifiers"):  # read-only inputs, fetched/trained once
            if not (self.data_dir / shared).exists() and (DATA_DIR / shared).exists():
                (self.data_dir / shared).symlink_to(DATA_DIR / shared)
        self.env = {
            key: value for key, value in os.environ.items()
            if not key.startswith("DCGAN_") and key != "REDIS_URL"
        }
        self.env.update(
            DCGAN_DATA_DIR=str(self.data_dir),
            DCGAN_RUNS_DIR=str(self.runs_dir),
            DCGAN_QUEUE=f"test-{uuid.uuid4().hex[:12]}",
            DCGAN_RELOAD_INTERVAL_SECONDS="0.3",
            DCGAN_REAPER_INTERVAL_SECONDS="1",
            DCGAN_LEASE_SECONDS="6",
            DCGAN_EVAL_SAMPLES="0",
            # the tests look at finished jobs' checkpoints: no retention unless one asks
            DCGAN_KEEP_FINISHED_JOBS="",
            PYTHONUNBUFFERED="1",
        )
        self.env.update(extra_env)
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.workers = 0

    def dcgan(self, name: str, *args: str) -> subprocess.Popen:
        with open(self.root / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "dcgan_cli.main", *args],
                env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def start_api(self) -> None:
        self.dcgan("api", "serve", "--port", str(self.port))
        wait_for(self._ready, 60, "the API's /readyz")

    def start_worker(self) -> str:
        self.workers += 1
        name = f"worker{self.workers}"
        self.dcgan(name, "worker", "--name", f"{name}@{self.root.name}")
        wait_for(lambda: b"ready." in (self.root / f"{name}.log").read_bytes(), 60,
                 f"{name} to be ready")
        return name

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def database_url(self) -> str:
        return self.env.get("DCGAN_DATABASE_URL") or f"sqlite:///{self.runs_dir / 'jobs.sqlite3'}"

    def models(self) -> ModelRecords:
        """The models table the stack's processes share."""
        return ModelRecords(make_engine(self.database_url))

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, sig) if sig == signal.SIGKILL else process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return process.returncode

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.root.glob("*.log"))
        )


def wait_for_job(client: httpx.Client, job_id: str, states: tuple[str, ...], timeout: float):
    def check() -> dict | None:
        job = client.get(f"/jobs/{job_id}").json()
        return job if job["state"] in states else None

    return wait_for(check, timeout, f"job {job_id} to reach {states}", interval=0.5)


class RedisServer:
    """A redis-server of the test's own, on a free port, that the test may stop and restart."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.root / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.root)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        wait_for(self._answers, 20, "redis-server to answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextmanager
def running_stack(root: Path, redis_url: str | None, **env: str) -> Iterator[Stack]:
    """A worker and the API, stopped at the end (and their Redis queue deleted)."""
    stack = Stack(root, redis_url, **env)
    try:
        stack.start_worker()
        stack.start_api()
        yield stack
    finally:
        stack.stop_all()
        if redis_url:
            queue = stack.env["DCGAN_QUEUE"]
            redis.Redis.from_url(redis_url).delete(queue, f"_kombu.binding.{queue}")
