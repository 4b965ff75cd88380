"""/generate is bounded: a fixed number of renders at once, a bounded queue, then 429.

The places are taken by tasks on the app's own event loop that hold them until released, so
what fills it is decided by the test, not by timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import anyio
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.render_admission import Overloaded, RenderAdmission
from tests.service.conftest import make_settings, train_run
from tests.service.test_api import wait_served


async def hold_a_place(admission: RenderAdmission, release: anyio.Event) -> None:
    async with admission.slot():
        await release.wait()


@contextmanager
def places_taken(client: TestClient, count: int) -> Iterator[None]:
    """``count`` places in the app's render admission (rendering or queued), held until the block
    ends; then all are released together."""
    admission: RenderAdmission = client.app.state.admission  # type: ignore[attr-defined]
    release = client.portal.call(anyio.Event)
    holders = [client.portal.start_task_soon(hold_a_place, admission, release)
               for _ in range(count)]
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
        admission = client.app.state.admission  # type: ignore[attr-defined]

        with places_taken(client, 3):  # two render places busy, the one queue place too
            assert (admission.in_flight, admission.waiting) == (2, 1)
            # in a thread: a request queued instead of shed would wait for the holders
            asked = pool.submit(client.get, "/generate", params={"n": 4, "seed": 1})
            shed = asked.result(timeout=10)
            assert shed.status_code == 429
            assert int(shed.headers["Retry-After"]) >= 1
            assert "retry in" in shed.json()["detail"]
            metrics = client.get("/metrics").text
            assert "dcgan_renders_in_flight 2.0" in metrics
            assert "dcgan_renders_waiting 1.0" in metrics

        assert (admission.in_flight, admission.waiting) == (0, 0)  # every place given back
        served = client.get("/generate", params={"n": 4, "seed": 1})
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"


def test_admission_weighs_rows_and_lets_a_small_request_past_a_large_one():
    """Rows, not requests: a large request that does not fit waits, a small one that fits is
    admitted past it, and past the queued rows a request is shed."""

    async def scenario() -> None:
        admission = RenderAdmission(max_concurrent=10, max_queued=10, max_rows=1024,
                                    max_queued_rows=2048)
        admitted: list[str] = []
        releases = {name: asyncio.Event() for name in ("big1", "big2", "small", "huge")}

        async def hold(name: str, rows: int) -> None:
            async with admission.slot(rows):
                admitted.append(name)
                await releases[name].wait()

        async def settle() -> None:
            for _ in range(10):  # every task runs up to the await it blocks on
                await asyncio.sleep(0)

        tasks = [asyncio.ensure_future(hold("big1", 1000))]
        await settle()
        tasks.append(asyncio.ensure_future(hold("big2", 1000)))
        await settle()
        tasks.append(asyncio.ensure_future(hold("small", 16)))
        await settle()
        assert admitted == ["big1", "small"]
        assert (admission.waiting, admission.waiting_rows) == (1, 1000)
        assert admission.rows_in_flight == 1016
        tasks.append(asyncio.ensure_future(hold("huge", 5000)))  # counted as all the rows there are
        await settle()
        assert admission.waiting_rows == 2024
        with pytest.raises(Overloaded):
            async with admission.slot(100):
                pass
        releases["big1"].set()
        await settle()
        assert admitted == ["big1", "small", "big2"]
        for event in releases.values():
            event.set()
        await asyncio.gather(*tasks)
        assert (admission.in_flight, admission.rows_in_flight, admission.waiting) == (0, 0, 0)
        assert admitted == ["big1", "small", "big2", "huge"]

    asyncio.run(scenario())
