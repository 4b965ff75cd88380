"""Serving speed: the real service against the naive per-request server, in one run.

It trains a short real run of the full-size generator (``bench.load_generate``'s helper),
starts ``dcgan serve`` (Redis mode, a queue of its own) and ``bench.naive_server`` on that
checkpoint as two processes, loads the same checkpoint in this process, and measures:

- latency: sequential GET /generate for n = 1, 16, 64, 256, 1024 (warm-up excluded), service,
  naive server and the bare in-process render (``shared_models.sampling.generate``, then
  ``shared_models.grids.grid_png``: forward + PNG) taking turns request by request, so a
  change in the machine's load hits all three; p50/p95/p99 and the ratios service/bare (the
  service's overhead) and naive/service;
- throughput: 1, 8 and 32 concurrent clients asking for small grids (n uniform in 1..8,
  random seeds), each server in two halves in the order service, naive, naive, service;
- same bytes: a set of (seed, n) fetched one at a time, then all at once (batched together),
  compared byte for byte; with the number of forward passes the batcher ran for them;
- memory: the service's VmRSS after warm-up, before and after 10,000 requests (8 clients,
  n 1..8); then a ``dcgan worker`` (same Redis, same queue) runs a short training job posted
  to the service, and its process tree's VmRSS is sampled every 0.2 s (peak, and the pool
  process's VmHWM).

The machine may be shared with other work: compare the ratios, which come from
measurements taken side by side; the absolute figures move with the load. No thresholds.

    .venv/bin/python -m bench.serve_speed [--quick] [--json] [--seconds 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.load_generate import (
    PNG_MAGIC,
    Sample,
    add_served_model_arguments,
    one_client,
    percentiles,
    summarise,
    train_full_size,
)
from dcgan_cli.waiting import free_port, stop_process, wait_for
from shared_models.config import MAX_SEED

REPO = Path(__file__).resolve().parent.parent
SIZES = (1, 16, 64, 256, 1024)
CLIENTS = (1, 8, 32)
SMALL = (1, 8)  # n of the throughput and memory requests
# server settings worth varying between runs; every other DCGAN_* variable is left out
FORWARDED_ENV = ("DCGAN_MAX_CONCURRENT_RENDERS", "DCGAN_MAX_QUEUED_RENDERS",
                 "DCGAN_BATCH_MAX_ROWS", "DCGAN_BATCH_MAX_WAIT_MS")

log = logging.getLogger("serve_speed")


# --- processes ---------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        stop_process(self.popen, 60, group=True)


def start(name: str, argv: list[str], env: dict[str, str], root: Path, url: str,
          ready: Callable[[Process], bool], timeout: float = 120) -> Process:
    """``python ARGV`` in its own session, logging to ROOT/NAME.log, once ``ready`` says so."""
    log_path = root / f"{name}.log"
    with open(log_path, "ab") as out:
        popen = subprocess.Popen([sys.executable, *argv], env=env, cwd=REPO, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    process = Process(name, popen, log_path, url)
    def up() -> bool:
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{process.log_tail()}")
        return ready(process)

    try:
        wait_for(up, timeout, f"{name} to start", interval=0.2)
    except (RuntimeError, TimeoutError) as error:
        process.stop()
        raise RuntimeError(f"{name} did not start:\n{process.log_tail()}") from error
    log.info("%s (pid %d) is up %s", name, process.pid, url)
    return process


def get_ok(process: Process, path: str) -> httpx.Response | None:
    try:
        reply = httpx.get(f"{process.url}{path}", timeout=2)
    except httpx.HTTPError:
        return None
    return reply if reply.status_code == 200 else None


def serves_a_model(process: Process) -> bool:
    reply = get_ok(process, "/readyz")
    return reply is not None and reply.json().get("model") is not None


def answers(process: Process) -> bool:
    return get_ok(process, "/livez") is not None


def celery_ready(process: Process) -> bool:
    return b"ready." in process.log_path.read_bytes()  # Celery's start-up line


def base_env(root: Path, redis_url: str, queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCGAN_") and k != "REDIS_URL"}
    env.update({k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})
    env.update(DCGAN_RUNS_DIR=str(root / "runs"), DCGAN_DATA_DIR=str(root / "data"),
               REDIS_URL=redis_url, DCGAN_QUEUE=queue, DCGAN_EVAL_SAMPLES="0",
               PYTHONUNBUFFERED="1")
    return env


# --- memory ------------------------------------------------------------------------------


def status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class TreeSampler(threading.Thread):
    """VmRSS of a process and its children every ``interval`` s; peaks and the children's
    last-read VmHWM."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_total = self.peak_main = self.peak_child = 0
        self.child_hwm: dict[int, int] = {}
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            kids = children(self.pid)
            main = status_kib(self.pid, "VmRSS") or 0
            rss = [status_kib(kid, "VmRSS") or 0 for kid in kids]
            for kid in kids:
                hwm = status_kib(kid, "VmHWM")
                if hwm is not None:
                    self.child_hwm[kid] = hwm
            self.samples += 1
            self.peak_main = max(self.peak_main, main)
            self.peak_child = max([self.peak_child, *rss])
            self.peak_total = max(self.peak_total, main + sum(rss))

    def stop(self) -> None:
        self._done.set()
        self.join()


# --- latency -----------------------------------------------------------------------------


def fetch(client: httpx.Client, url: str, n: int, seed: int) -> bytes:
    reply = client.get(f"{url}/generate", params={"n": n, "nrow": 8, "seed": seed})
    if reply.status_code != 200 or not reply.content.startswith(PNG_MAGIC):
        raise RuntimeError(f"{url}: status {reply.status_code}: {reply.text[:200]}")
    return reply.content


def measure_latency(service: str, naive: str, generator: Any, counts: dict[int, int]
                    ) -> dict[str, Any]:
    """Sequential requests; "bare" is ``generate`` + ``grid_png`` in this process, "batcher"
    the service's own compute path in this process (``RenderBatcher`` + PNG, no HTTP)."""
    from service.batching import RenderBatcher
    from shared_models.grids import grid_png
    from shared_models.sampling import generate, grid_inputs

    batcher = RenderBatcher()
    batcher.start()
    loop = asyncio.new_event_loop()

    def bare(n: int, seed: int) -> bytes:
        return grid_png(generate(generator, grid_inputs(generator, n, seed)), 8, 2)

    def batched(n: int, seed: int) -> bytes:
        inputs = grid_inputs(generator, n, seed)
        return grid_png(loop.run_until_complete(batcher.images(generator, inputs)), 8, 2)

    report: dict[str, Any] = {}
    try:
        with httpx.Client(timeout=300) as client:
            for n, count in counts.items():
                runs: dict[str, Callable[[int], object]] = {
                    "service": lambda seed, n=n: fetch(client, service, n, seed),
                    "naive": lambda seed, n=n: fetch(client, naive, n, seed),
                    "bare": lambda seed, n=n: bare(n, seed),
                    "batcher": lambda seed, n=n: batched(n, seed),
                }
                timings: dict[str, list[float]] = {name: [] for name in runs}
                for seed in range(-2, count):  # two warm-up rounds, not counted
                    for name, run in runs.items():
                        started = time.perf_counter()
                        run(MAX_SEED + seed if seed < 0 else seed)
                        if seed >= 0:
                            timings[name].append(time.perf_counter() - started)
                row = {name: percentiles(values) for name, values in timings.items()}
                row["requests"] = count
                row["overhead"] = ratio(row["service"]["p50"], row["bare"]["p50"])
                row["over_batcher"] = ratio(row["service"]["p50"], row["batcher"]["p50"])
                row["naive_over_service"] = ratio(row["naive"]["p50"], row["service"]["p50"])
                report[str(n)] = row
                log.info("n=%d: service p50 %s ms, naive %s ms, bare %s ms, batcher %s ms", n,
                         *(row[name]["p50"] for name in runs))
    finally:
        loop.close()
        batcher.stop()
    return report


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 2)


# --- throughput --------------------------------------------------------------------------


async def connected_clients(stack: AsyncExitStack, url: str, count: int
                            ) -> list[httpx.AsyncClient]:
    """One ``AsyncClient`` with one connection per simulated client, connected and warm.

    Not one client with ``count`` connections: on this 2-core machine httpx's shared pool
    spent about 3 ms of CPU per request with 32 connections against about 0.9 ms with one
    each, and the load generator shares the CPUs with the servers it measures.
    """
    clients = [
        await stack.enter_async_context(httpx.AsyncClient(
            base_url=url, limits=httpx.Limits(max_connections=1), timeout=120))
        for _ in range(count)
    ]
    for reply in await asyncio.gather(*(c.get("/generate", params={"n": 1, "seed": i})
                                        for i, c in enumerate(clients))):
        reply.raise_for_status()
    return clients


async def run_clients(url: str, count: int, seconds: float
                      ) -> tuple[list[Sample], float, float]:
    """``count`` clients asking for small grids with random seeds for ``seconds``: the
    samples, the wall time and this process's CPU time while they ran."""
    samples: list[Sample] = []
    async with AsyncExitStack() as stack:
        clients = await connected_clients(stack, url, count)
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one_client(i, c, start + seconds, SMALL, True, samples)
                               for i, c in enumerate(clients)))
        wall = time.perf_counter() - start  # includes requests in flight at the deadline
        cpu = time.process_time() - cpu
    return samples, wall, cpu


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_throughput(service: Process, naive: Process, seconds: float) -> dict[str, Any]:
    """Per client count, each server in two halves: service, naive, naive, service. Besides
    requests/s, the CPU time each server process used per request (what it costs, whatever
    share of a busy machine it gets) and this load generator's."""
    report: dict[str, Any] = {}
    for clients in CLIENTS:
        halves: dict[str, list[tuple[list[Any], float]]] = {"service": [], "naive": []}
        cpu = {"service": 0.0, "naive": 0.0}
        client_cpu = 0.0
        for name in ("service", "naive", "naive", "service"):
            server = service if name == "service" else naive
            before = cpu_seconds(server.pid)
            samples, wall, mine = asyncio.run(run_clients(server.url, clients, seconds / 2))
            cpu[name] += cpu_seconds(server.pid) - before
            halves[name].append((samples, wall))
            client_cpu += mine
        row: dict[str, Any] = {}
        for name, parts in halves.items():
            samples = [s for part, _ in parts for s in part]
            wall = sum(w for _, w in parts)
            summary = summarise(samples, wall, {})
            row[name] = {key: summary[key] for key in (
                "requests", "ok_per_s", "status", "ok_not_png", "transport_errors", "wall_s"
            )} | {"latency_ms": summary["latency_ms"]["ok"],
                  "cpu_ms_per_request": round(1000 * cpu[name] / max(1, len(samples)), 2)}
        requests = row["service"]["requests"] + row["naive"]["requests"]
        row["client_cpu_ms_per_request"] = round(1000 * client_cpu / max(1, requests), 2)
        row["ratio"] = ratio(row["service"]["ok_per_s"], row["naive"]["ok_per_s"])
        row["cpu_ratio"] = ratio(row["naive"]["cpu_ms_per_request"],
                                 row["service"]["cpu_ms_per_request"])
        report[str(clients)] = row
        log.info("%d clients: service %s req/s (%s ms CPU each), naive %s req/s (%s ms)",
                 clients, row["service"]["ok_per_s"], row["service"]["cpu_ms_per_request"],
                 row["naive"]["ok_per_s"], row["naive"]["cpu_ms_per_request"])
    return report


# --- same bytes --------------------------------------------------------------------------


def render_counters(url: str) -> tuple[float, float]:
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("dcgan_render_batches_total", "dcgan_render_rows_total"):
            values[name] = float(value)
    return values.get("dcgan_render_batches_total", 0.0), values.get("dcgan_render_rows_total", 0.0)


def same_bytes(service: str, requests: int) -> dict[str, Any]:
    rng = random.Random(2024)
    asks = [(rng.randrange(MAX_SEED), rng.randint(1, 40)) for _ in range(requests)]
    with httpx.Client(timeout=120) as client:
        alone = [fetch(client, service, n, seed) for seed, n in asks]

    async def together() -> tuple[list[bytes], float, float]:
        limits = httpx.Limits(max_connections=requests)
        async with httpx.AsyncClient(base_url=service, limits=limits, timeout=120) as client:
            before = render_counters(service)
            replies = await asyncio.gather(*(
                client.get("/generate", params={"n": n, "nrow": 8, "seed": seed})
                for seed, n in asks
            ))
            after = render_counters(service)
        for reply in replies:
            reply.raise_for_status()
        return [r.content for r in replies], after[0] - before[0], after[1] - before[1]

    batched, forwards, rows = asyncio.run(together())
    equal = sum(a == b for a, b in zip(alone, batched, strict=True))
    return {"requests": requests, "rows": sum(n for _, n in asks), "equal": equal,
            "all_equal": equal == requests, "forward_passes": int(forwards),
            "rows_batched": int(rows)}


# --- memory ------------------------------------------------------------------------------


async def many_requests(url: str, total: int, clients: int) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    left = total

    async def one(index: int, client: httpx.AsyncClient) -> None:
        nonlocal left
        rng = random.Random(total + index)
        while left > 0:
            left -= 1
            size = rng.randint(*SMALL)
            reply = await client.get("/generate", params={
                "n": size, "nrow": 8, "seed": rng.randrange(MAX_SEED)})
            statuses[reply.status_code] += 1
            if reply.status_code == 429:
                await asyncio.sleep(float(reply.headers.get("retry-after", "1")))

    async with AsyncExitStack() as stack:
        pool = await connected_clients(stack, url, clients)
        started = time.perf_counter()
        await asyncio.gather(*(one(i, client) for i, client in enumerate(pool)))
        wall = time.perf_counter() - started
    return {"requests": total, "clients": clients, "wall_s": round(wall, 1),
            "requests_per_s": round(total / wall, 1),
            "status": {str(k): v for k, v in sorted(statuses.items())}}


def training_memory(root: Path, env: dict[str, str], service: str, iterations: int,
                    batch_size: int) -> dict[str, Any]:
    worker = start("worker", ["-m", "dcgan_cli.main", "worker", "--name",
                              f"bench-{uuid.uuid4().hex[:6]}@serve-speed"], env, root, "",
                   celery_ready)
    try:
        time.sleep(1.0)
        idle = sum(status_kib(pid, "VmRSS") or 0 for pid in [worker.pid, *children(worker.pid)])
        sampler = TreeSampler(worker.pid)
        sampler.start()
        reply = httpx.post(f"{service}/jobs", timeout=30,
                           json={"iterations": iterations, "batch_size": batch_size})
        reply.raise_for_status()
        job_id = reply.json()["id"]
        def finished() -> dict[str, Any] | None:
            job = httpx.get(f"{service}/jobs/{job_id}", timeout=30).json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                return job
            if worker.popen.poll() is not None:
                raise RuntimeError(f"job {job_id} is {job['state']}:\n{worker.log_tail()}")
            return None

        job = wait_for(finished, 1800, f"job {job_id} to end", interval=0.5)
        sampler.stop()
    finally:
        worker.stop()
    if job["state"] != "succeeded":
        raise RuntimeError(f"job {job_id} {job['state']}: {job['error']}\n{worker.log_tail()}")
    seconds = (job["finished_at"] or 0) - (job["started_at"] or 0)
    return {
        "iterations": iterations, "batch_size": batch_size, "job_seconds": round(seconds, 1),
        "samples": sampler.samples, "idle_tree_mib": mib(idle),
        "peak_tree_mib": mib(sampler.peak_total), "peak_main_mib": mib(sampler.peak_main),
        "peak_pool_child_mib": mib(sampler.peak_child),
        "pool_child_vmhwm_mib": mib(max(sampler.child_hwm.values(), default=None)),
    }


# --- the run -----------------------------------------------------------------------------


@contextmanager
def servers(root: Path, env: dict[str, str], checkpoint: Path) -> Iterator[tuple[Process, Process]]:
    """``dcgan serve`` on the runs folder and the naive server on its checkpoint."""
    port = free_port()
    service = start("service", ["-m", "dcgan_cli.main", "serve", "--port", str(port)], env, root,
                    f"http://127.0.0.1:{port}", serves_a_model)
    try:
        port = free_port()
        naive_env = {k: v for k, v in env.items() if not k.startswith("DCGAN_")}
        naive = start("naive", ["-m", "bench.naive_server", "--checkpoint", str(checkpoint),
                                "--port", str(port)], naive_env, root,
                      f"http://127.0.0.1:{port}", answers)
        try:
            yield service, naive
        finally:
            naive.stop()
    finally:
        service.stop()


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import torch

    from shared_models.checkpoint import newest_checkpoint
    from shared_models.generator_io import generator_from_state
    from shared_models.sampling import RENDER_BLOCK

    (root / "data").mkdir()
    for shared in ("MNIST", "FashionMNIST"):  # read-only inputs for the training job
        if (args.data_dir / shared).exists():
            (root / "data" / shared).symlink_to((args.data_dir / shared).resolve())
    train_full_size(root, args.data_dir, args.iterations)
    checkpoint = newest_checkpoint(root / "runs" / "bench")
    assert checkpoint is not None, "the training run wrote no checkpoint"
    manifest = checkpoint.manifest
    generator = generator_from_state(checkpoint.state)
    queue = f"bench-{uuid.uuid4().hex[:12]}"
    env = base_env(root, args.redis_url, queue)
    quick = args.quick
    report: dict[str, Any] = {
        "model": f"bench:{manifest.step}", "quick": quick, "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "render_block": RENDER_BLOCK,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "server_env": {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ},
    }
    try:
        with servers(root, env, manifest.path) as (service, naive):
            for n in SIZES:  # every size once, then a short concurrent burst: warm-up
                with httpx.Client(timeout=300) as client:
                    fetch(client, service.url, n, 0)
            asyncio.run(many_requests(service.url, 200 if quick else 1000, 8))
            memory: dict[str, Any] = {"service_warm_mib": mib(status_kib(service.pid, "VmRSS"))}
            counts = {n: (4 if n == 1024 else 8) if quick else (20 if n == 1024 else 30)
                      for n in SIZES}
            report["latency"] = measure_latency(service.url, naive.url, generator, counts)
            report["same_bytes"] = same_bytes(service.url, 12 if quick else 32)
            report["throughput"] = measure_throughput(service, naive, args.seconds)
            memory["service_before_mib"] = mib(status_kib(service.pid, "VmRSS"))
            memory["load"] = asyncio.run(many_requests(service.url, args.requests, 8))
            memory["service_after_mib"] = mib(status_kib(service.pid, "VmRSS"))
            memory["service_growth_mib"] = round(
                memory["service_after_mib"] - memory["service_before_mib"], 1)
            memory["service_vmhwm_mib"] = mib(status_kib(service.pid, "VmHWM"))
            memory["naive_mib"] = mib(status_kib(naive.pid, "VmRSS"))
            report["memory"] = memory
            report["load_average_before_training"] = [round(x, 2) for x in os.getloadavg()]
            report["training"] = training_memory(root, env, service.url, args.job_iterations,
                                                 128)
    finally:
        import redis

        redis.Redis.from_url(args.redis_url).delete(queue, f"_kombu.binding.{queue}")
    return report


def table(report: dict[str, Any]) -> str:
    def cell(value: object, width: int = 8) -> str:
        return f"{'-' if value is None else value:>{width}}"

    quantiles = ("p50", "p95", "p99")
    lines = [
        f"GET /generate on {report['model']} (full-size generator), {report['cpus']} CPUs, "
        f"torch {report['torch_threads']} threads here, RENDER_BLOCK {report['render_block']}"
        + (" [quick]" if report["quick"] else ""),
        "load average (1, 5, 15 min) at the start "
        f"{report['load_average_at_start']}, before the training job "
        f"{report['load_average_before_training']}: other work on the machine shares its CPUs",
        "",
        "latency, sequential requests, ms (nrow 8, padding 2); bare: generate + grid_png here;",
        "batcher: the service's compute path in-process (RenderBatcher + PNG, no HTTP)",
        f"{'':13}{'service':^21}{'naive server':^21}{'bare':^21}{'batcher':>8}"
        f"{'service/':>9}{'service/':>9}{'naive/':>9}",
        f"{'n':>6}{'count':>7}" + "".join(f"{q:>7}" for _ in range(3) for q in quantiles)
        + f"{'p50':>8}{'bare':>9}{'batcher':>9}{'service':>9}",
    ]
    for n, row in report["latency"].items():
        lines.append(f"{n:>6}{row['requests']:>7}" + "".join(
            cell(row[name][q], 7) for name in ("service", "naive", "bare") for q in quantiles)
            + cell(row["batcher"]["p50"]) + cell(row["overhead"], 9)
            + cell(row["over_batcher"], 9) + cell(row["naive_over_service"], 9))

    lines += ["", "throughput: n uniform in 1..8, random seeds; 200s per second, and the CPU time "
              "each server process used per request",
              f"{'clients':>8}{'service':>9}{'naive':>9}{'service/':>9}{'service':>10}"
              f"{'naive':>8}{'naive/':>9}{'service ms':>16}{'naive ms':>16}   not 200",
              f"{'':>8}{'req/s':>9}{'req/s':>9}{'naive':>9}{'CPU ms':>10}{'CPU ms':>8}"
              f"{'service':>9}{'p50 / p99':>16}{'p50 / p99':>16}"]
    for clients, row in report["throughput"].items():
        service, naive = row["service"], row["naive"]
        other = [f"{name} {code}: {count}" for name in ("service", "naive")
                 for code, count in row[name]["status"].items() if code != "200"]
        other += [f"{name}: {row[name]['transport_errors']} transport errors"
                  for name in ("service", "naive") if row[name]["transport_errors"]]
        latency = [f"{r['latency_ms']['p50']} / {r['latency_ms']['p99']}" for r in (service, naive)]
        lines.append(f"{clients:>8}{service['ok_per_s']:>9}{naive['ok_per_s']:>9}"
                     f"{cell(row['ratio'], 9)}{service['cpu_ms_per_request']:>10}"
                     f"{naive['cpu_ms_per_request']:>8}{cell(row['cpu_ratio'], 9)}"
                     f"{latency[0]:>16}{latency[1]:>16}   " + (", ".join(other) or "none"))
    client_cpu = [row["client_cpu_ms_per_request"] for row in report["throughput"].values()]
    lines.append(f"  (this load generator used {' / '.join(map(str, client_cpu))} ms of CPU per "
                 "request at 1 / 8 / 32 clients, on the same CPUs)")

    same = report["same_bytes"]
    lines += ["", f"same bytes for a seed batched or not: {'PASS' if same['all_equal'] else 'FAIL'}"
              f" ({same['equal']}/{same['requests']} grids, {same['rows']} samples, equal fetched "
              f"one at a time and all at once; at once they took {same['forward_passes']} "
              f"forward passes)"]

    memory, load, training = report["memory"], report["memory"]["load"], report["training"]

    def line(label: str, value: object, note: str = "") -> str:
        return f"  {label:<58}{value!s:>8}{note}"

    lines += [
        "", "memory: VmRSS, MiB",
        line("service, model loaded, after warm-up", memory["service_warm_mib"]),
        line(f"service before {load['requests']:,} more requests", memory["service_before_mib"]),
        line(f"service after them ({load['clients']} clients, n 1..8, {load['requests_per_s']} "
             "req/s)", memory["service_after_mib"],
             f"   growth {memory['service_growth_mib']:+} MiB; statuses {load['status']}"),
        line("service VmHWM: its peak over the whole run", memory["service_vmhwm_mib"]),
        line("naive server at the end", memory["naive_mib"]),
        line("worker idle: main + pool process", training["idle_tree_mib"]),
        f"  worker during a {training['iterations']}-iteration job, batch "
        f"{training['batch_size']} ({training['job_seconds']} s; {training['samples']} samples "
        "0.2 s apart), peaks:",
        line("  main + pool process", training["peak_tree_mib"]),
        line("  main process", training["peak_main_mib"]),
        line("  pool process", training["peak_pool_child_mib"]),
        line("  pool process VmHWM", training["pool_child_vmhwm_mib"]),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer requests and shorter runs: a smoke run of a few minutes")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds of load per server and client count (16; quick 4)")
    parser.add_argument("--requests", type=int, default=None,
                        help="requests of the memory-growth run (10,000; quick 1,000)")
    parser.add_argument("--job-iterations", type=int, default=None,
                        help="iterations of the training job whose memory is sampled (100; "
                             "quick 20)")
    add_served_model_arguments(parser)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                        help="the Redis the service and the worker share (a queue of their own)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 4.0 if args.quick else 16.0
    if args.requests is None:
        args.requests = 1_000 if args.quick else 10_000
    if args.job_iterations is None:
        args.job_iterations = 20 if args.quick else 100
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="serve-speed-") as tmp:
        report = run(args, Path(tmp))
    print(json.dumps(report) if args.json else table(report))


if __name__ == "__main__":
    main()
