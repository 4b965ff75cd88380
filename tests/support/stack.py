"""Starting the real processes: Celery workers and the API under uvicorn, and a Redis of a
test's own; submitting a job over HTTP and waiting for it.

Every worker runs behind a gate (``tests.support.gate``): a test that acts on a running job
arms the gate, waits for the job to be held there, acts, and releases it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis

from core.database import make_engine
from dcgan_cli.waiting import free_port, wait_for
from jobs.job_store import JobStore
from registry.model_records import ModelRecords
from tests.conftest import DATA_DIR, REPO, require_marker
from tests.support.gate import ProcessGate
from tests.support.jobs import TINY


class Stack:
    """A worker and an API process sharing one data and runs folder."""

    def __init__(self, root: Path, redis_url: str | None, **extra_env: str) -> None:
        require_marker("processes", "starts worker or uvicorn processes")
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
            # one thread each: processes sharing two cores, each with a thread per core,
            # spin against each other (tiny networks train 16x slower)
            OMP_NUM_THREADS="1",
            DCGAN_DEVICE="cpu",  # no CUDA probe at each worker's start
        )
        self.env.update(extra_env)
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.gates: dict[str, ProcessGate] = {}
        self.workers = 0

    def dcgan(self, name: str, *args: str, command: list[str] | None = None) -> subprocess.Popen:
        with open(self.root / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                command or [sys.executable, "-m", "dcgan_cli.main", *args],
                env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def start(self, workers: int = 1) -> None:
        """Workers and the API, started at once; back when all are ready."""
        names = [self.start_worker(wait=False) for _ in range(workers)]
        self.start_api(wait=False)
        for name in names:
            self.wait_worker(name)
        self.wait_api()

    def start_api(self, wait: bool = True) -> None:
        self.dcgan("api", "serve", "--port", str(self.port))
        if wait:
            self.wait_api()

    def wait_api(self) -> None:
        wait_for(self._ready, 60, "the API's /readyz", failure=self.logs)

    def start_worker(self, wait: bool = True) -> str:
        """A worker behind a gate of its own (``self.gates[name]``); its name."""
        self.workers += 1
        name = f"worker{self.workers}"
        gate = self.gates[name] = ProcessGate(self.root / f"gate-{name}")
        self.dcgan(name, command=gate.command("worker", "--name", f"{name}@{self.root.name}"))
        if wait:
            self.wait_worker(name)
        return name

    def wait_worker(self, name: str) -> None:
        wait_for(lambda: b"ready." in (self.root / f"{name}.log").read_bytes(), 60,
                 f"{name} to be ready", failure=self.logs)

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

    def jobs(self) -> JobStore:
        """The job records the stack's processes share."""
        return JobStore(make_engine(self.database_url))

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def send(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Signal a process without waiting for it (SIGKILL: its whole process group, as a
        container runtime kills)."""
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, sig) if sig == signal.SIGKILL else process.send_signal(sig)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal a process and wait for it to exit (killed after ``timeout``); its status."""
        if name in self.gates and sig != signal.SIGKILL:
            self.gates[name].release()  # a job held at its gate would hold a warm shutdown
        self.send(name, sig)
        return self.wait_exit(name, timeout)

    def wait_exit(self, name: str, timeout: float = 60) -> int:
        process = self.processes.pop(name)
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


class Hammer:
    """Client threads requesting /generate until stopped; records every status and version."""

    def __init__(self, stack: Stack, clients: int, params: dict) -> None:
        self.stack, self.params = stack, params
        self.statuses: Counter[int] = Counter()
        self.versions: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        with self.stack.client() as client:
            while not self._stop.is_set():
                reply = client.get("/generate", params=self.params)
                self.statuses[reply.status_code] += 1
                self.versions[reply.headers.get("X-Model-Version", "")] += 1

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def submit_job(client: httpx.Client, body: dict) -> dict:
    """POST /jobs (tiny networks unless ``body`` says otherwise); the job as the API returns
    it."""
    reply = client.post("/jobs", json={**TINY, **body})
    assert reply.status_code == 202, reply.text
    return reply.json()


DONE = ("succeeded", "failed", "cancelled")


def wait_for_job(client: httpx.Client, job_id: str, states: tuple[str, ...] = DONE,
                 timeout: float = 240) -> dict:
    def check() -> dict | None:
        job = client.get(f"/jobs/{job_id}").json()
        return job if job["state"] in states else None

    return wait_for(check, timeout, f"job {job_id} to reach {states}", interval=0.1)


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
        stack.start()
        yield stack
    finally:
        stack.stop_all()
        if redis_url:
            queue = stack.env["DCGAN_QUEUE"]
            redis.Redis.from_url(redis_url).delete(queue, f"_kombu.binding.{queue}")
