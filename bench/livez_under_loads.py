"""Does loading models stall the event loop? /livez latency while one client cycles through
more models than the API keeps loaded.

Trains ``--models`` full-size runs (one iteration each, with a weight average: 124 MB
checkpoints, 28 MB serving artifacts) into a scratch runs folder, starts ``dcgan serve`` on it
and measures ``GET /livez`` every 20 ms for ``--seconds``: first idle, then while one client
asks ``/generate?model=runK:1&n=1`` for run 0, 1, 2, ... in turn (the API keeps the served
model and the 4 most recently asked-for ones loaded, so every request loads a model). With
``--before DIR`` (a checkout of an older commit, e.g. ``git worktree add /tmp/before
e01b95b``) the same is measured against that tree's server on the same checkpoints: the
older service scans the runs folder for them.

    .venv/bin/python -m bench.livez_under_loads [--models 6] [--seconds 30] [--before DIR]

Figures only: the machine's load moves them; compare the two servers within one run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch

from core.settings import Settings
from dcgan_cli.waiting import free_port, wait_for
from jobs.bootstrap import prepare_shared_state
from shared_models.config import TrainConfig
from shared_models.data import load_dataset
from shared_models.training import TrainHooks, train
from worker.context import WorkerContext
from worker.publisher import CheckpointPublisher

REPO = Path(__file__).resolve().parent.parent


def train_models(root: Path, count: int) -> list[str]:
    """``count`` full-size one-iteration runs, published as a worker publishes them."""
    settings = Settings(DCGAN_RUNS_DIR=root / "runs", DCGAN_DATA_DIR=root / "data")
    prepare_shared_state(settings)
    context = WorkerContext(settings)
    publisher = CheckpointPublisher(context.store, context.models, context.jobs,
                                    settings.runs_dir)
    data = load_dataset("mnist", REPO / "data", "train")
    names = []
    for index in range(count):
        name = f"run{index}"
        config = TrainConfig(iterations=1, batch_size=8, seed=index, ema_decay=0.999)
        hooks = TrainHooks(on_checkpoint=lambda saved, name=name: publisher.publish(
            name, saved, 3))
        train(config, data, settings.runs_dir / name, device=torch.device("cpu"), hooks=hooks)
        names.append(name)
    context.engine.dispose()
    return names


def start_server(tree: Path, runs: Path, data: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(tree), "DCGAN_RUNS_DIR": str(runs),
           "DCGAN_DATA_DIR": str(data), "DCGAN_LOG_FORMAT": "text",
           "DCGAN_KEEP_FINISHED_JOBS": ""}
    env.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "dcgan_cli.main", "serve", "--port", str(port)],
        cwd=tree, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    def live() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(live, 180, "the server to start", interval=0.5)
    except TimeoutError:
        server.kill()
        raise
    return server


def probe_livez(url: str, seconds: float) -> list[float]:
    """/livez latencies (ms), one request every 20 ms."""
    latencies = []
    with httpx.Client(timeout=30) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            client.get(f"{url}/livez").raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    return latencies


def cycle_models(url: str, names: list[str], stop: threading.Event, done: list[float]) -> None:
    with httpx.Client(timeout=120) as client:
        for name in itertools.cycle(names):
            if stop.is_set():
                return
            started = time.perf_counter()
            reply = client.get(f"{url}/generate", params={"model": f"{name}:1", "n": 1,
                                                          "seed": 1})
            reply.raise_for_status()
            done.append(time.perf_counter() - started)


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered):7.1f} ms  p99 {p99:7.1f} ms  "
            f"max {ordered[-1]:7.1f} ms  ({len(ordered)} probes)")


def measure(label: str, tree: Path, runs: Path, data: Path, names: list[str],
            seconds: float, logs: Path) -> None:
    port = free_port()
    server = start_server(tree, runs, data, port, logs / f"{label}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        idle = probe_livez(url, seconds / 3)
        stop, loads = threading.Event(), []
        client = threading.Thread(target=cycle_models, args=(url, names, stop, loads))
        client.start()
        busy = probe_livez(url, seconds)
        stop.set()
        client.join()
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"{label:7s} idle          {summary(idle)}")
    print(f"{label:7s} cycling models {summary(busy)}")
    print(f"{label:7s} /generate with a model load: {len(loads)} requests, median "
          f"{statistics.median(loads) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--before", type=Path, help="an older checkout to measure too")
    parser.add_argument("--workdir", type=Path, help="keep the runs here (default: temporary)")
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="livez-"))
    root.mkdir(parents=True, exist_ok=True)
    names = train_models(root, args.models)
    print(f"{args.models} full-size models in {root / 'runs'}; /livez every 20 ms")
    measure("after", REPO, root / "runs", root / "data", names, args.seconds, root)
    if args.before is not None:
        # the older server scans its runs folder (and refuses paths that leave it): the same
        # checkpoints, hard-linked into a folder of its own
        before_runs = root / "before-runs"
        for name in names:
            if not (before_runs / name).exists():
                shutil.copytree(root / "runs" / name, before_runs / name, copy_function=os.link)
        measure("before", args.before.resolve(), before_runs, root / "before-data", names,
                args.seconds, root)


if __name__ == "__main__":
    main()
