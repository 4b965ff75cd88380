"""Event streams against one API process: what idle streams cost ``/generate``, and how long
an event takes from the database to the clients. Figures only, no thresholds.

A short run of the full-size generator is trained and published into tmp folders and
``dcgan serve`` started on it (embedded mode, as ``bench.load_generate`` does). Then:

- **/generate beside idle streams**: ``--clients`` clients ask for ``n=16`` grids for
  ``--seconds``, with no event stream open, then with ``--streams`` ``GET /events`` streams
  open, then with none again: the p50/p99 of each and the ratio;
- **event latency**: with the streams open, this process writes a checkpoint event every
  ``--every`` seconds into the service's database, as a worker does after publishing a
  checkpoint (``JobStore.add_event``), and every stream times each event from the moment it
  was written (its ``at``, the database's clock, this machine's) to its arrival.

    .venv/bin/python -m bench.event_streams [--streams 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.load_generate import REPO, percentiles, run_load, running_service
from core.database import make_engine
from core.settings import Settings
from jobs.events import EventKind
from jobs.job_store import JobStore

log = logging.getLogger(__name__)


async def listen(client: httpx.AsyncClient, opened: asyncio.Event, counter: list[int],
                 latencies: list[float], stop: asyncio.Event) -> None:
    """One ``GET /events`` stream: each checkpoint event's latency, until ``stop``."""
    async with client.stream("GET", "/events") as response:
        response.raise_for_status()
        counter[0] += 1
        if counter[0] == counter[1]:
            opened.set()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data = json.loads(line[5:])
                if data.get("model") == "bench:latency":
                    latencies.append(time.time() - data["at"])
            if stop.is_set():
                return


async def generate_p99(url: str, clients: int, seconds: float) -> dict:
    samples, wall = await run_load(url, clients, seconds, (16, 16), honour_retry_after=True)
    ok = [s.seconds for s in samples if s.status == 200]
    return {"requests": len(samples), "ok": len(ok), **percentiles(ok)}


async def measure(url: str, store: JobStore, args: argparse.Namespace) -> dict:
    job = store.submit({"iterations": 1}, 1, "bench", 100).id
    report: dict = {"generate": [], "streams": args.streams, "clients": args.clients}
    limits = httpx.Limits(max_connections=args.streams + 10)
    async with httpx.AsyncClient(base_url=url, limits=limits,
                                 timeout=httpx.Timeout(30, read=None)) as client:
        report["generate"].append({"streams": 0, **await generate_p99(url, args.clients,
                                                                      args.seconds)})
        opened, stop = asyncio.Event(), asyncio.Event()
        counter, latencies = [0, args.streams], []
        listeners = [asyncio.create_task(listen(client, opened, counter, latencies, stop))
                     for _ in range(args.streams)]
        await asyncio.wait_for(opened.wait(), 120)
        report["generate"].append({"streams": args.streams, **await generate_p99(
            url, args.clients, args.seconds)})
        sent = 0
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            await asyncio.to_thread(store.add_event, job, EventKind.CHECKPOINT,
                                    {"model": "bench:latency", "step": sent, "final": False})
            sent += 1
            await asyncio.sleep(args.every)
        await asyncio.sleep(2)  # the last event's way to every stream
        report["events_written"] = sent
        report["deliveries"] = len(latencies)
        report["latency_ms"] = percentiles(latencies)
        stop.set()
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    report["generate"].append({"streams": 0, **await generate_p99(url, args.clients,
                                                                  args.seconds)})
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--every", type=float, default=0.2, help="seconds between events")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("DCGAN_DATA_DIR", REPO / "data")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with running_service(root, args.data_dir, 2) as service:
            settings = Settings(DCGAN_RUNS_DIR=root / "runs", DCGAN_DATA_DIR=root / "data")
            engine = make_engine(settings.database_url)
            try:
                report = asyncio.run(measure(service.url, JobStore(engine), args))
            finally:
                engine.dispose()
    print(json.dumps(report, indent=2))
    none = [run["p99"] for run in report["generate"] if run["streams"] == 0]
    with_streams = [run["p99"] for run in report["generate"] if run["streams"]]
    print(f"/generate n=16 p99: {statistics.mean(none):.1f} ms with no stream open, "
          f"{statistics.mean(with_streams):.1f} ms with {args.streams} streams open "
          f"(ratio {statistics.mean(with_streams) / statistics.mean(none):.2f})")
    latency = report["latency_ms"]
    print(f"event latency over {report['deliveries']} deliveries to {args.streams} streams: "
          f"p50 {latency['p50']} ms, p99 {latency['p99']} ms")


if __name__ == "__main__":
    main()
