"""Nothing blocks the event loop: every database and artifact-store call, and every model load,
runs in a worker thread, whatever route asks for it; and while a slow load runs, the loop
keeps answering."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from artifacts.store import ArtifactStore
from jobs.job_store import JobStore
from registry.model_records import ModelRecords
from registry.serving_pins import ServingPins
from service.model_loader import ModelLoader
from tests.service.conftest import train_run
from tests.service.test_api import wait_served

WATCHED = (JobStore, ModelRecords, ServingPins, ArtifactStore)


def on_the_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def blocking_calls(monkeypatch) -> Iterator[list[str]]:
    """Every call of a database, store or loading method made on an event loop's thread."""
    found: list[str] = []
    calls: list[str] = []

    def watch(owner: type, name: str, function: Any) -> None:
        def watched(*args: Any, **kwargs: Any) -> Any:
            calls.append(f"{owner.__name__}.{name}")
            if on_the_loop():
                found.append(f"{owner.__name__}.{name} in {threading.current_thread().name}")
            return function(*args, **kwargs)

        monkeypatch.setattr(owner, name, watched)

    for owner in WATCHED:
        for name, member in list(vars(owner).items()):
            if callable(member) and not name.startswith("__") and name != "from_url":
                watch(owner, name, member)
    watch(ModelLoader, "_load", ModelLoader._load)
    yield found
    assert "ModelLoader._load" in calls and "ArtifactStore.list" in calls, calls


def test_no_route_touches_the_database_the_store_or_a_model_on_the_loop(
    client, settings, mnist_small, blocking_calls
):
    for name in ("a", "b", "c", "d", "e", "f"):  # more models than the loader keeps
        train_run(settings, name, mnist_small, seed=len(name) + ord(name))
    wait_served(client, "f:2")
    job = client.post("/jobs", json={"iterations": 5}).json()["id"]
    for method, path, body in [
        ("GET", "/jobs", None), ("GET", f"/jobs/{job}", None),
        ("GET", f"/jobs/{job}/losses", None), ("POST", f"/jobs/{job}/cancel", None),
        ("DELETE", f"/jobs/{job}", None), ("GET", "/models", None), ("GET", "/serving", None),
        ("PUT", "/serving/pin", {"model": "a:2"}), ("POST", "/serving/rollback", None),
        ("DELETE", "/serving/pin", None), ("GET", "/readyz", None), ("GET", "/metrics", None),
        ("GET", "/interpolate?seed_a=1&seed_b=2&steps=3&model=b", None),
        ("GET", "/generate?n=2&seed=1", None),
    ] + [("GET", f"/generate?n=2&seed=1&model={name}:2", None) for name in "abcdefab"]:
        reply = client.request(method, path, json=body)
        assert reply.status_code < 400, (method, path, reply.text)
    assert client.app.state.model_server.loader.loads >= 8  # evicted and loaded again
    assert blocking_calls == []


def test_the_loop_answers_while_a_model_loads(client, settings, mnist_small, monkeypatch):
    train_run(settings, "served", mnist_small)
    wait_served(client, "served:2")
    models = client.app.state.models
    models.add(replace(models.get("served:2"), job_id="cold", final=False))  # never loaded yet
    rebuild = ModelLoader._rebuild
    loading_started, released = threading.Event(), threading.Event()
    held_to_the_end: list[bool] = []

    def held_rebuild(self: ModelLoader, record: Any) -> Any:
        """A big artifact on a slow disk: the load lasts until the test lets it end (or, should
        the loop be blocked and /livez never answer, until a failsafe a minute later)."""
        loading_started.set()
        held_to_the_end.append(not released.wait(60))
        return rebuild(self, record)

    monkeypatch.setattr(ModelLoader, "_rebuild", held_rebuild)
    with ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(client.get, "/generate", params={"model": "cold:2", "n": 1})
        assert loading_started.wait(60), "the model's load never started"
        assert client.get("/livez").status_code == 200  # while the load is held
        released.set()
        assert loading.result().status_code == 200
    assert held_to_the_end == [False]  # /livez answered before the load was let go
