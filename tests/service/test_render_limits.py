"""/generate is bounded: a fixed number of renders at once, a bounded queue, then 429.

The places are taken by tasks on the app's own event loop that hold them until released, so
what fills the gate is decided by the test, not by timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import anyio
from fastapi.testclient import TestClient

from service.app import create_app
from service.render_gate import RenderGate
from tests.service.conftest import make_settings, train_run
from tests.service.test_api import wait_served


async def hold_a_place(gate: RenderGate, release: anyio.Event) -> None:
    async with gate.slot():
        await release.wait()


@contextmanager
def places_taken(client: TestClient, count: int) -> Iterator[None]:
    """``count`` places in the app's render gate (rendering or queued), held until the block
    ends; then all are released together."""
    gate: RenderGate = client.app.state.gate  # type: ignore[attr-defined]
    release = client.portal.call(anyio.Event)
    holders = [client.portal.start_task_soon(hold_a_place, gate, release) for _ in range(count)]
    client.portal.call(anyio.sleep, 0.05)  # the holders run up to their first await
    try:
        yield
    finally:
        client.portal.call(release.set)
        for holder in holders:
            holder.result(timeout=10)


def test_generate_sheds_load_beyond_the_render_and_queue_limits(tmp_path, mnist_small):
    settings = make_settings(
        tmp_path, DCGAN_MAX_CONCURRENT_RENDERS=2, DCGAN_MAX_QUEUED_RENDERS=1
    )
    train_run(settings, "run", mnist_small)
    with TestClient(create_app(settings)) as client, ThreadPoolExecutor(1) as pool:
        wait_served(client, "run:2")
        gate = client.app.state.gate  # type: ignore[attr-defined]

        with places_taken(client, 3):  # two render places busy, the one queue place too
            assert (gate.in_flight, gate.waiting) == (2, 1)
            # in a thread: a request queued instead of shed would wait for the holders
            asked = pool.submit(client.get, "/generate", params={"n": 4, "seed": 1})
            shed = asked.result(timeout=10)
            assert shed.status_code == 429
            assert int(shed.headers["Retry-After"]) >= 1
            assert "retry in" in shed.json()["detail"]
            metrics = client.get("/metrics").text
            assert "dcgan_renders_in_flight 2.0" in metrics
            assert "dcgan_renders_waiting 1.0" in metrics

        assert (gate.in_flight, gate.waiting) == (0, 0)  # every place given back
        served = client.get("/generate", params={"n": 4, "seed": 1})
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
