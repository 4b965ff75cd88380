"""Job events over HTTP, from a real uvicorn: one job's stream and every job's, their replay
and resumption (on another replica too), heartbeats, the stream limit and a prompt end on
shutdown. The job store writes the events, as the API, workers and scorer do."""

from __future__ import annotations

import httpx
import pytest

from core.database import make_engine
from jobs.bootstrap import prepare_shared_state
from jobs.events import EventKind
from jobs.job_store import JobStore
from jobs.progress import JobProgress
from jobs.states import JobState
from service.app import create_app
from tests.service.conftest import make_settings
from tests.support.app_server import AppServer
from tests.support.jobs import submit_record
from tests.support.sse import END, Listener

FAST = {"DCGAN_EVENT_POLL_SECONDS": 0.05, "DCGAN_EVENT_HEARTBEAT_SECONDS": 0.2}


@pytest.fixture
def replica_settings(tmp_path):
    """Two replicas' settings: the same database and store, as replicas share them."""
    return make_settings(tmp_path, **FAST)


@pytest.fixture
def store(replica_settings):
    prepare_shared_state(replica_settings)
    engine = make_engine(replica_settings.database_url)
    yield JobStore(engine)
    engine.dispose()


@pytest.fixture
def api(replica_settings, store):
    with AppServer(create_app(replica_settings)) as server:
        yield server


def log_line(store: JobStore, job: str, message: str) -> None:
    store.add_event(job, EventKind.LOG, {"level": "INFO", "message": message})


def test_a_jobs_stream_replays_its_events_then_follows_it_to_its_end(api, store):
    job = submit_record(store).id
    listener = Listener(api.url, f"/jobs/{job}/events")
    try:
        headers = listener.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["x-accel-buffering"] == "no" and headers["cache-control"] == "no-cache"
        assert listener.next().data["state"] == "queued"  # held before the stream opened
        store.claim(job, "w1", lease_seconds=60, max_deliveries=3)
        store.update_progress(job, JobProgress(step=1, total=2))
        store.add_event(job, EventKind.SCORED, {"model": f"{job}:2",
                                               "scores": {"frechet_distance": float("nan")}})
        log_line(store, job, "done")
        store.finish(job, "w1", JobState.SUCCEEDED)
        events = listener.take(5)
        assert listener.next() == END  # the event that ends the job ends the stream
    finally:
        listener.close()
    assert [(e.id, e.kind) for e in events] == [
        ("2", "state"), ("3", "progress"), ("4", "scored"), ("5", "log"), ("6", "state")]
    assert events[1].data == {"job": job, "seq": 3, "at": events[1].data["at"], "step": 1,
                              "total": 2}
    assert events[0].data["at"] <= events[1].data["at"] <= events[4].data["at"]
    assert events[2].data["scores"] == {"frechet_distance": None}  # JSON has no NaN
    assert events[4].data["state"] == "succeeded"


def test_a_reconnect_gets_the_events_after_the_last_one_received(api, store):
    job = submit_record(store).id
    store.request_cancel(job)
    log_line(store, job, "a line after the job ended")
    resumed = Listener(api.url, f"/jobs/{job}/events", last_event_id="1")
    try:
        events = [resumed.next() for _ in range(3)]
    finally:
        resumed.close()
    # the events after the one received, the job's last line included, then the end
    assert [event.id for event in events[:2]] == ["2", "3"] and events[2] == END
    with httpx.Client(base_url=api.url) as client:
        whole = client.get(f"/jobs/{job}/events")  # a finished job's stream: what it holds
        assert [line for line in whole.text.splitlines() if line.startswith("id:")] == [
            "id: 1", "id: 2", "id: 3"]
        done = client.get(f"/jobs/{job}/events", headers={"Last-Event-ID": "3"})
        assert done.status_code == 204  # EventSource stops reconnecting
        missing = client.get("/jobs/nope/events")
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]
        garbled = client.get(f"/jobs/{job}/events", headers={"Last-Event-ID": "x"})
        assert garbled.status_code == 422 and "Last-Event-ID" in garbled.text
        garbled = client.get("/events", headers={"Last-Event-ID": "yesterday"})
        assert garbled.status_code == 422


def test_every_jobs_stream_resumes_on_another_replica_without_loss_or_repeat(
    api, store, replica_settings
):
    first, second = submit_record(store).id, submit_record(store).id
    listener = Listener(api.url, "/events")
    try:
        assert listener.opened.is_set()
        for n in range(3):  # the two jobs' events interleaved
            log_line(store, first, f"first {n}")
            log_line(store, second, f"second {n}")
        seen = listener.take(4)
    finally:
        listener.close()
    resume_from = seen[-1].id
    for n in range(3, 5):
        log_line(store, first, f"first {n}")
        log_line(store, second, f"second {n}")
    with AppServer(create_app(replica_settings)) as other:
        resumed = Listener(other.url, "/events", last_event_id=resume_from)
        try:
            rest = resumed.take(6)
            log_line(store, first, "first 5")
            newest = resumed.next()
        finally:
            resumed.close()
    messages = [event.data["message"] for event in seen + rest + [newest]]
    for job, name in ((first, "first"), (second, "second")):
        assert [m for m in messages if m.startswith(name)] == [f"{name} {n}" for n in range(
            6 if name == "first" else 5)]
        mine = [e.data["seq"] for e in seen + rest + [newest] if e.data["job"] == job]
        assert mine == sorted(set(mine)) and mine == list(range(2, 2 + len(mine)))
    assert len(messages) == len(set(messages))  # nothing repeated


def test_a_cursor_too_old_to_replay_resets_the_client(api, store):
    submit_record(store)
    listener = Listener(api.url, "/events", last_event_id="1000.000")
    try:
        assert listener.next().kind == "reset"
    finally:
        listener.close()


def test_streams_send_heartbeats_are_timed_to_their_opening_and_end_on_shutdown(
    replica_settings, store
):
    server = AppServer(create_app(replica_settings), graceful_timeout=600).__enter__()
    try:
        listener = Listener(server.url, "/events")
        job = submit_record(store).id
        first = listener.next().data
        assert first == {"job": job, "seq": 1, "at": first["at"], "state": "queued",
                         "error": None, "attempts": 0, "cancel_requested": False}
        assert listener.heartbeat.wait(30)  # an idle stream's comment, for proxies
        metrics = httpx.get(f"{server.url}/metrics").text
        opened = [line for line in metrics.splitlines() if line.startswith(
            'dcgan_http_request_duration_seconds_count{method="GET",route="/events"')]
        assert opened == [  # counted while the stream is still open: its opening, timed
            'dcgan_http_request_duration_seconds_count{method="GET",route="/events",'
            'status="200"} 1.0']
        server.stop(timeout=60)  # graceful timeout 600 s: the stream must not hold it
        assert not server.thread.is_alive()
        assert listener.next() == END  # ended cleanly, not cut
    finally:
        listener.close()
        server.__exit__(None, None, None)


def test_streams_beyond_the_limit_are_refused_for_now(tmp_path):
    settings = make_settings(tmp_path, DCGAN_MAX_EVENT_STREAMS=1, **FAST)
    with AppServer(create_app(settings)) as server:
        first = Listener(server.url, "/events")
        try:
            refused = httpx.get(f"{server.url}/events")
        finally:
            first.close()
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert "1 event streams are open" in refused.json()["detail"]
