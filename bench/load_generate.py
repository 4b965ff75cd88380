"""Load on GET /generate: many concurrent clients for a while, then throughput and latency.

By default it trains a short real run of the full-size generator (what users get), starts
``dcgan serve`` on it as a separate process (embedded mode, tmp folders) and measures that;
``--url`` measures a service that is already running instead. Each client is an asyncio task
on one shared ``httpx.AsyncClient`` that asks for a grid of ``--n`` digits (one size, or a
random size per request from a range such as ``1-64``) with a random seed, again and again.
A client that is shed (429/503) waits the ``Retry-After`` it was given, as a well-behaved
client does (``--ignore-retry-after`` asks again at once instead).

Prints a table, or with ``--json`` one JSON object: requests/s, latency percentiles (of the
200s and of every response), counts by status, shed responses without ``Retry-After``,
other 5xx and transport errors. Figures only: no thresholds.

    .venv/bin/python -m bench.load_generate [--clients 64] [--seconds 30] [--n 16 | --n 1-64]
                                            [--url http://127.0.0.1:8000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dcgan_cli.waiting import free_port, stop_process, wait_for
from shared_models.config import MAX_SEED

REPO = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHED = (429, 503)
# server settings worth varying between runs; every other DCGAN_* variable is left out
FORWARDED_ENV = ("DCGAN_MAX_CONCURRENT_RENDERS", "DCGAN_MAX_QUEUED_RENDERS", "DCGAN_SERVE_DEVICE")

log = logging.getLogger("load_generate")


@dataclass
class Sample:
    status: int | None  # None: transport error
    seconds: float
    retry_after: bool = False
    png: bool = False
    error: str | None = None


def sizes(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or LOW-HIGH, got {text!r}") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"expected 1 <= LOW <= HIGH, got {text!r}")
    return bounds


# --- the service under test --------------------------------------------------------------


def train_full_size(root: Path, data_dir: Path, iterations: int) -> None:
    """A short real run of the tutorial's full-size networks, published into the embedded
    database and store of ``root`` (runs/ and data/) as a worker would: its final model is
    what ``dcgan serve`` there serves."""
    from core.settings import Settings
    from shared_models.config import TrainConfig
    from shared_models.data import load_dataset
    from worker.published_run import train_published

    settings = Settings(DCGAN_RUNS_DIR=root / "runs", DCGAN_DATA_DIR=root / "data")
    config = TrainConfig(iterations=iterations, batch_size=32)
    result = train_published(settings, "bench", config, load_dataset("mnist", data_dir))
    log.info("trained %d iterations (%.1f s) of the full-size networks: %s",
             result.step, result.seconds, result.checkpoint)


def ready_with_a_model(url: str) -> str | None:
    try:
        reply = httpx.get(f"{url}/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    if reply.status_code != 200:
        return None
    model = reply.json().get("model")
    return model if isinstance(model, str) else None


@dataclass
class Service:
    url: str
    model: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def post_mortem(self) -> str:
        code = self.process.poll()
        state = "still running" if code is None else f"exited with status {code}"
        if code is not None and code < 0:
            state += f" ({signal.Signals(-code).name}; SIGKILL often means out of memory)"
        tail = self.log_path.read_text(errors="replace")[-4000:]
        return f"dcgan serve (pid {self.process.pid}) {state}; its log ends:\n{tail}"


@contextmanager
def running_service(root: Path, data_dir: Path, iterations: int) -> Iterator[Service]:
    """Train, start ``dcgan serve`` on a free port, yield it while it runs, then stop it."""
    runs_dir = root / "runs"
    train_full_size(root, data_dir, iterations)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DCGAN_") and k != "REDIS_URL"}
    env.update({k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})
    env.update(
        DCGAN_RUNS_DIR=str(runs_dir), DCGAN_DATA_DIR=str(root / "data"), PYTHONUNBUFFERED="1"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / "serve.log"
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dcgan_cli.main", "serve", "--port", str(port)],
            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        def serving() -> str | None:
            if process.poll() is not None:
                raise RuntimeError(f"dcgan serve exited ({process.returncode}):\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            return ready_with_a_model(url)

        model = wait_for(serving, 120, "dcgan serve to serve a model", interval=0.2)
        log.info("dcgan serve (pid %d) at %s serves %s", process.pid, url, model)
        yield Service(url, model, process, log_path)
    finally:
        stop_process(process, 30, group=True)


# --- the load ----------------------------------------------------------------------------


async def one_client(
    index: int, client: httpx.AsyncClient, deadline: float, n: tuple[int, int],
    honour_retry_after: bool, samples: list[Sample],
) -> None:
    rng = random.Random(index)
    while time.perf_counter() < deadline:
        size = rng.randint(*n)
        params = {"n": size, "nrow": min(size, 8), "seed": rng.randrange(MAX_SEED)}
        start = time.perf_counter()
        try:
            reply = await client.get("/generate", params=params)
        except httpx.TransportError as error:  # refused, reset, timed out ...
            kind = f"{type(error).__name__}: {error}"
            samples.append(Sample(None, time.perf_counter() - start, error=kind))
            await asyncio.sleep(0.1)
            continue
        retry_after = reply.headers.get("retry-after")
        samples.append(Sample(
            reply.status_code,
            time.perf_counter() - start,
            retry_after=retry_after is not None,
            png=reply.status_code == 200 and reply.content.startswith(PNG_MAGIC),
        ))
        if reply.status_code in SHED and honour_retry_after:
            wait = float(retry_after) if retry_after and retry_after.isdigit() else 1.0
            await asyncio.sleep(max(0.0, min(wait, deadline - time.perf_counter())))


async def run_load(
    url: str, clients: int, seconds: float, n: tuple[int, int], honour_retry_after: bool
) -> tuple[list[Sample], float]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(60.0)
    samples: list[Sample] = []
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        for _ in range(3):  # warm-up, not counted
            (await client.get("/generate", params={"n": n[0], "seed": 0})).raise_for_status()
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(
            one_client(i, client, deadline, n, honour_retry_after, samples)
            for i in range(clients)
        ))
        wall = time.perf_counter() - start  # includes requests in flight at the deadline
    return samples, wall


# --- the report --------------------------------------------------------------------------


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    """Nearest-rank p50/p95/p99 and the maximum, in milliseconds."""
    ordered = sorted(seconds)

    def rank(q: float) -> float | None:
        if not ordered:
            return None
        return round(1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": rank(1.0)}


def summarise(samples: list[Sample], wall: float, settings: dict[str, Any]) -> dict[str, Any]:
    answered = [s for s in samples if s.status is not None]
    statuses = Counter(s.status for s in answered)
    ok = [s for s in answered if s.status == 200]
    shed = [s for s in answered if s.status in SHED]
    return {
        **settings,
        "wall_s": round(wall, 2),
        "requests": len(samples),
        "requests_per_s": round(len(samples) / wall, 1),
        "ok_per_s": round(len(ok) / wall, 1),
        "status": {str(code): count for code, count in sorted(statuses.items())},
        "ok_not_png": sum(not s.png for s in ok),
        "shed": len(shed),
        "shed_without_retry_after": sum(not s.retry_after for s in shed),
        "other_5xx": sum(count for code, count in statuses.items()
                         if code is not None and code >= 500 and code not in SHED),
        "transport_errors": len(samples) - len(answered),
        "transport_error_kinds": dict(Counter(s.error for s in samples if s.error)),
        "latency_ms": {
            "ok": percentiles([s.seconds for s in ok]),
            "all": percentiles([s.seconds for s in samples]),
        },
    }


def table(report: dict[str, Any]) -> str:
    n = report["n"]
    lines = [
        f"GET /generate, n={n[0] if n[0] == n[1] else f'{n[0]}-{n[1]}'}: {report['clients']} "
        f"clients for {report['seconds']} s against {report['url']}",
        f"model {report['model']}; Retry-After "
        f"{'honoured' if report['honour_retry_after'] else 'ignored'}; wall {report['wall_s']} s",
        "",
        f"{'requests':<28}{report['requests']:>8}  ({report['requests_per_s']} req/s)",
    ]
    statuses = {"200": 0, **{str(code): 0 for code in SHED}, **report["status"]}
    for code, count in statuses.items():
        note = ""
        if code == "200":
            note = f"  ({report['ok_per_s']} req/s, {report['ok_not_png']} not PNG)"
        elif int(code) in SHED:
            note = "  (shed)"
        lines.append(f"  {code:<26}{count:>8}{note}")
    lines += [
        f"{'shed without Retry-After':<28}{report['shed_without_retry_after']:>8}",
        f"{'other 5xx':<28}{report['other_5xx']:>8}",
        f"{'transport errors':<28}{report['transport_errors']:>8}",
        *([f"server exited during the run: status {report['server_exit_status']}"]
          if report.get("server_exit_status") is not None else []),
        *(f"  {count} x {kind}" for kind, count in report["transport_error_kinds"].items()),
        "",
        f"{'latency (ms)':<28}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}",
    ]
    for name, key in (("200 only", "ok"), ("every request", "all")):
        row = report["latency_ms"][key]
        cells = "".join(f"{'-' if row[q] is None else row[q]:>8}" for q in row)
        lines.append(f"  {name:<26}{cells}")
    return "\n".join(lines)


def add_served_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--iterations and --data-dir: the short real training run whose generator is served."""
    parser.add_argument("--iterations", type=int, default=20,
                        help="training iterations of the served model (20)")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("DCGAN_DATA_DIR", REPO / "data")),
                        help="where MNIST is (or is fetched to) for that training")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long (30)")
    parser.add_argument("--n", type=sizes, default=(16, 16),
                        help="digits per grid: N, or LOW-HIGH for a random size each (16)")
    parser.add_argument("--url", default=None,
                        help="a running service to measure (default: start one here)")
    add_served_model_arguments(parser)
    parser.add_argument("--ignore-retry-after", action="store_true",
                        help="ask again at once when shed, instead of waiting Retry-After")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request

    def measure(url: str, model: str | None) -> dict[str, Any]:
        log.info("%d clients for %.0f s on %s/generate", args.clients, args.seconds, url)
        samples, wall = asyncio.run(run_load(
            url, args.clients, args.seconds, args.n, not args.ignore_retry_after
        ))
        return summarise(samples, wall, {
            "url": url, "model": model, "clients": args.clients, "seconds": args.seconds,
            "n": list(args.n), "honour_retry_after": not args.ignore_retry_after,
            "server_env": {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ},
        })

    if args.url:
        report = measure(args.url.rstrip("/"), ready_with_a_model(args.url.rstrip("/")))
    else:
        with tempfile.TemporaryDirectory(prefix="load-generate-") as tmp, \
                running_service(Path(tmp), args.data_dir, args.iterations) as service:
            try:
                report = measure(service.url, service.model)
            except Exception:
                log.error("the run failed: %s", service.post_mortem())
                raise
            report["server_exit_status"] = service.process.poll()  # None: it kept running
            if report["transport_errors"] or report["other_5xx"] or service.process.poll():
                log.warning("%s", service.post_mortem())
    print(json.dumps(report) if args.json else table(report))


if __name__ == "__main__":
    main()
