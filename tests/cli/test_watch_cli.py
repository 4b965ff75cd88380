"""``dcgan watch JOB`` against a real uvicorn: the job's events as lines, its end as the exit
status, a job or an API that is not there as one line."""

from __future__ import annotations

import threading

import pytest

from core.database import make_engine
from dcgan_cli.waiting import free_port, wait_for
from jobs.bootstrap import prepare_shared_state
from jobs.events import EventKind
from jobs.job_store import JobStore
from jobs.progress import JobProgress
from jobs.states import JobState
from service.app import create_app
from tests.cli.run import assert_one_line_error, dcgan
from tests.service.conftest import make_settings
from tests.support.app_server import AppServer
from tests.support.jobs import submit_record


@pytest.fixture
def api_and_store(tmp_path):
    settings = make_settings(tmp_path, DCGAN_EVENT_POLL_SECONDS=0.05)
    prepare_shared_state(settings)
    engine = make_engine(settings.database_url)
    with AppServer(create_app(settings)) as server:
        yield server, JobStore(engine)
    engine.dispose()


def test_watch_prints_a_jobs_events_and_exits_with_its_outcome(api_and_store):
    server, store = api_and_store
    url = server.url
    job = submit_record(store).id
    store.claim(job, "w1", lease_seconds=60, max_deliveries=3)
    store.update_progress(job, JobProgress(step=3, total=6, d_loss=0.7, g_loss=1.2))
    store.add_event(job, EventKind.LOG, {"level": "INFO", "message": "training on cpu"})
    store.add_event(job, EventKind.CHECKPOINT, {"model": f"{job}:6", "step": 6, "final": True})
    feed = server.server.config.app.state.event_feed

    def finish_while_watched() -> None:  # the rest happens once watch follows the job live
        wait_for(lambda: feed.subscribers, 60, "dcgan watch to open the job's stream")
        store.add_event(job, EventKind.SCORED, {"model": f"{job}:6",
                                               "scores": {"inception_score": 1.5}})
        store.finish(job, "w1", JobState.SUCCEEDED)

    writer = threading.Thread(target=finish_while_watched)
    writer.start()
    watched = dcgan("watch", job, "--url", url)
    writer.join()
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.splitlines() == [
        "state: queued", "state: running", "info: training on cpu",
        f"checkpoint: {job}:6 (final)", f"scored: {job}:6: inception_score 1.500",
        "state: succeeded",
    ]


def test_watch_exits_1_for_a_failed_job_and_says_why(api_and_store):
    server, store = api_and_store
    url = server.url
    job = submit_record(store).id
    store.fail(job, "could not reach the job queue")
    watched = dcgan("watch", job, "--url", url)
    assert watched.returncode == 1
    assert watched.stdout.splitlines()[-1] == "state: failed: could not reach the job queue"


def test_watch_names_a_missing_job_or_api_in_one_line(api_and_store):
    url = api_and_store[0].url
    assert_one_line_error(dcgan("watch", "nope", "--url", url), 2, "404", "no job with id")
    nobody = f"http://127.0.0.1:{free_port()}"
    assert_one_line_error(dcgan("watch", "x", "--url", nobody), 2, "cannot reach the API")
