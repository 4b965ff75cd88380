"""Model archives are built off the request threads, once however many clients ask at the
same moment, kept (keyed on the model, its scores and the format), and past a bound on the
builds waiting a request is shed with 429, while cheap routes keep answering."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from dcgan_cli.waiting import wait_for
from service.app import create_app
from service.exports import CHUNK, Archive, ExportBuilds
from tests.service.conftest import make_settings, train_run


def held_builds(client: TestClient) -> threading.Event:
    """Make the app's archive builds wait for the returned event before they start."""
    exports = client.app.state.exports  # type: ignore[attr-defined]
    build, go = exports.build, threading.Event()

    def held(*args, **kwargs):
        assert go.wait(60), "the test never let the build go"
        return build(*args, **kwargs)

    exports.build = held
    return go


def test_clients_asking_at_once_share_one_build_and_later_ones_the_kept_archive(
    tmp_path, mnist_small
):
    settings = make_settings(tmp_path)
    train_run(settings, "run", mnist_small)
    with TestClient(create_app(settings)) as client:
        exports = client.app.state.exports
        go = held_builds(client)
        with ThreadPoolExecutor(8) as pool:
            asked = [pool.submit(client.get, "/models/run:2/export") for _ in range(8)]
            assert client.get("/readyz").status_code == 200  # while the build is held
            go.set()
            replies = [future.result(timeout=60) for future in asked]
        assert {reply.status_code for reply in replies} == {200}
        assert len({reply.content for reply in replies}) == 1
        assert replies[0].headers["content-length"] == str(len(replies[0].content))
        assert exports.built == 1
        assert client.get("/models/run:2/export").content == replies[0].content
        assert exports.built == 1  # kept
        tar = client.get("/models/run:2/export", params={"format": "tar.gz"})
        assert tar.status_code == 200 and exports.built == 2  # another format, another build
        # the card shows the scores, which arrive after publication: new scores, new archive
        client.app.state.models.set_metrics("run:2", {"frechet_distance": 12.5, "n": 10})  # partial
        scored = client.get("/models/run:2/export")
        assert scored.status_code == 200 and scored.content != replies[0].content
        assert exports.built == 3


def test_past_the_builds_waiting_a_request_is_shed_and_cheap_routes_still_answer(
    tmp_path, mnist_small
):
    settings = make_settings(tmp_path, DCGAN_MAX_WAITING_EXPORTS=1)
    train_run(settings, "first", mnist_small, seed=1)
    train_run(settings, "second", mnist_small, seed=2)
    with TestClient(create_app(settings)) as client:
        go = held_builds(client)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(client.get, "/models/first:2/export")
            exports = client.app.state.exports
            # the first build is queued (held) before the second asks
            wait_for(lambda: exports._in_flight, 30, "the first build to be queued")
            shed = client.get("/models/second:2/export")
            assert shed.status_code == 429 and int(shed.headers["Retry-After"]) >= 1
            assert "model exports" in shed.json()["detail"]
            for path in ("/livez", "/readyz", "/jobs", "/models"):
                assert client.get(path).status_code == 200, path
            go.set()
            assert waiting.result(timeout=60).status_code == 200
        assert client.get("/models/second:2/export").status_code == 200


def test_past_the_downloads_sent_at_once_the_next_waits_for_one_to_end() -> None:
    """Two places to send from: a third download starts only when one of the two ends, and
    each download hands the event loop back between chunks."""
    archive = Archive("model.zip", bytes(range(256)) * (CHUNK // 128))  # two chunks

    async def downloads() -> None:
        exports = ExportBuilds(lambda record, kind: None, 1, 1, 0, max_sending=2)  # type: ignore
        first, second, third = (exports.send(archive) for _ in range(3))
        other = asyncio.Event()

        async def another_request() -> None:
            other.set()

        other_request = asyncio.ensure_future(another_request())
        assert bytes(await anext(first)) == archive.content[:CHUNK]
        assert not other.is_set()  # nothing waited so far
        assert bytes(await anext(first)) == archive.content[CHUNK:]
        assert other.is_set()  # the loop ran another task between the chunks
        await other_request
        await anext(second)
        waiting = asyncio.ensure_future(anext(third))
        for _ in range(10):  # turns of the event loop: the third is still waiting
            await asyncio.sleep(0)
        assert not waiting.done()
        await first.aclose()  # the first download ends: its place goes to the third
        assert bytes(await waiting) == archive.content[:CHUNK]
        for download in (second, third):
            await download.aclose()
        exports.close()

    asyncio.run(downloads())
