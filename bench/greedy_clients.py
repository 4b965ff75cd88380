"""Greedy clients against one API process: many clients exporting a model, many asking for
the largest grids. Figures only, no thresholds.

For this tree (and ``--before``, an older checkout, on a model of its own trained the same
way), a short run of the full-size generator is trained and published into tmp folders,
``dcgan serve`` is started on it (embedded mode) and two loads are run in turn:

- **exports**: ``--exports`` clients download ``GET /models/{id}/export`` again and again
  while a probe (a process of its own, so that it times the server rather than its wait for
  the loading threads' GIL) asks ``/livez``, ``/readyz``, ``/jobs`` and ``/models`` every
  50 ms: their latencies, and the API's resident memory before, at its peak and 60 s after;
- **large grids**: ``--large`` clients ask for ``n=1024`` grids again and again while a probe
  asks for ``n=16``: the small request's latency.

    .venv/bin/python -m bench.greedy_clients [--before PATH] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.queues
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from dcgan_cli.waiting import free_port, wait_for

REPO = Path(__file__).resolve().parent.parent
PROBED = ("/livez", "/readyz", "/jobs", "/models")
PREPARE = (
    "import sys; from pathlib import Path; from bench.load_generate import train_full_size; "
    "train_full_size(Path(sys.argv[1]), Path(sys.argv[2]), 2)"
)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Server:
    def __init__(self, tree: Path, root: Path, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(tree), "DCGAN_RUNS_DIR": str(root / "runs"),
               "DCGAN_DATA_DIR": str(root / "data"), "DCGAN_LOG_FORMAT": "text",
               "DCGAN_KEEP_FINISHED_JOBS": ""}
        env.pop("REDIS_URL", None)
        (root / "data").mkdir(exist_ok=True)
        for shared in ("MNIST", "classifiers"):
            if not (root / "data" / shared).exists():
                (root / "data" / shared).symlink_to(data_dir.resolve() / shared)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dcgan_cli.main", "serve", "--port", str(self.port)],
            cwd=tree, env=env, stdout=(root / "serve.log").open("w"), stderr=subprocess.STDOUT,
        )
        self.model = wait_for(self._served, 180, "the server to serve its model", interval=0.5)

    def _served(self) -> str | None:
        if self.process.poll() is not None:
            raise RuntimeError(f"the server exited ({self.process.returncode})")
        try:
            return httpx.get(f"{self.url}/models", timeout=5).json().get("served")
        except (httpx.HTTPError, ValueError):
            return None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


def loop(url: str, params: dict, stop: threading.Event) -> None:
    with httpx.Client(timeout=300) as client:
        while not stop.is_set():
            reply = client.get(url, params=params)
            if reply.status_code == 429:
                time.sleep(float(reply.headers.get("Retry-After", "1")))


def timed_gets(base: str, paths: tuple[str, ...], params: dict, seconds: float,
               out: multiprocessing.queues.Queue) -> None:
    """The probe, in a process of its own: asks each of ``paths`` in turn every 50 ms for
    ``seconds`` and puts each one's latencies (s) on ``out``. In the load's process it would
    wait for the GIL behind the loading threads and time them, not the server."""
    latencies: dict[str, list[float]] = {path: [] for path in paths}
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=300) as client:
        while time.monotonic() < deadline:
            for path in paths:
                started = time.perf_counter()
                client.get(f"{base}{path}", params=params)
                latencies[path].append(time.perf_counter() - started)
            time.sleep(0.05)
    out.put(latencies)


def probed(base: str, paths: tuple[str, ...], params: dict, seconds: float,
           load: list[threading.Thread], stop: threading.Event) -> dict[str, list[float]]:
    """Run the ``load`` threads for ``seconds`` while a probe process times ``paths``."""
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    probe = spawn.Process(target=timed_gets, args=(base, paths, params, seconds, out))
    for thread in load:
        thread.start()
    probe.start()
    latencies = out.get()
    probe.join()
    stop.set()
    for thread in load:
        thread.join()
    return latencies


def exports(server: Server, clients: int, seconds: float) -> dict:
    before = rss_mb(server.process.pid)
    stop, peak = threading.Event(), [before]
    statuses: dict[int, int] = {}

    def export() -> None:
        with httpx.Client(timeout=300) as client:
            while not stop.is_set():
                reply = client.get(f"{server.url}/models/{server.model}/export")
                statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
                if reply.status_code == 429:
                    time.sleep(float(reply.headers.get("Retry-After", "1")))

    def sample_memory() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], rss_mb(server.process.pid))

    load = [threading.Thread(target=export) for _ in range(clients)]
    latencies = probed(server.url, PROBED, {}, seconds,
                       [*load, threading.Thread(target=sample_memory)], stop)
    time.sleep(60)
    return {
        "statuses": statuses,
        "latency_ms": {path: quantiles_ms(values) for path, values in latencies.items() if values},
        "rss_mb": {"before": round(before), "peak": round(peak[0]),
                   "60s_after": round(rss_mb(server.process.pid))},
    }


def large_grids(server: Server, clients: int, seconds: float) -> dict:
    stop = threading.Event()
    load = [threading.Thread(target=loop, args=(f"{server.url}/generate", {"n": 1024}, stop))
            for _ in range(clients)]
    small = probed(server.url, ("/generate",), {"n": 16}, seconds, load, stop)["/generate"]
    return {"n16_ms": {"count": len(small), **quantiles_ms(small)}}


def quantiles_ms(seconds: list[float]) -> dict[str, float]:
    return {"p50": round(1000 * statistics.median(seconds), 1),
            "p99": round(1000 * percentile(seconds, 0.99), 1)}


def measure(tree: Path, root: Path, data_dir: Path, args: argparse.Namespace) -> dict:
    root.mkdir(parents=True)
    subprocess.run([sys.executable, "-c", PREPARE, str(root), str(data_dir)], cwd=tree,
                   env={**os.environ, "PYTHONPATH": str(tree)}, check=True)
    server = Server(tree, root, data_dir)
    try:
        return {"tree": str(tree), "exports": exports(server, args.exports, args.seconds),
                "large_grids": large_grids(server, args.large, args.seconds)}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="an older checkout to measure too")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--exports", type=int, default=48, help="exporting clients (48)")
    parser.add_argument("--large", type=int, default=16, help="n=1024 clients (16)")
    parser.add_argument("--data-dir", type=Path, default=REPO / "data")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="greedy-clients-") as temp:
        for name, tree in (("before", args.before), ("this tree", REPO)):
            if tree is not None:
                results[name] = measure(tree.resolve(), Path(temp) / name.replace(" ", "-"),
                                        args.data_dir, args)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
