"""The same submit -> poll -> generate path with no Redis at all (SQLite broker and backend)."""

import pytest

from dcgan_cli.waiting import wait_for
from tests.support.stack import running_stack, submit_job, wait_for_job

pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory, data_dir):
    with running_stack(tmp_path_factory.mktemp("embedded-stack"), redis_url=None) as stack:
        yield stack


def test_embedded_mode_trains_and_serves(embedded_stack):
    with embedded_stack.client() as client:
        assert client.get("/readyz").json()["broker"] == "embedded (SQLite)"
        assert client.get("/generate").status_code == 503
        job = submit_job(client, {"iterations": 12, "batch_size": 32, "checkpoint_every": 6})
        done = wait_for_job(client, job["id"])
        assert done["state"] == "succeeded", done
        wait_for(lambda: client.get("/models").json()["served"] == done["model"], 20,
                 "the model to be served")
        first = client.get("/generate", params={"n": 8, "seed": 3})
        assert first.status_code == 200 and first.content[:4] == b"\x89PNG"
        assert client.get("/generate", params={"n": 8, "seed": 3}).content == first.content
    broker_files = sorted(p.name for p in embedded_stack.data_dir.glob("celery-*.sqlite3"))
    assert broker_files == ["celery-broker.sqlite3"]  # no result backend: nothing reads results


def test_embedded_mode_cancels_through_the_job_records(embedded_stack):
    gate = embedded_stack.gates["worker1"]
    gate.arm(2)
    with embedded_stack.client() as client:
        job = submit_job(client, {"iterations": 100, "batch_size": 16})
        gate.wait_reached()
        assert client.get(f"/jobs/{job['id']}").json()["state"] == "running"
        assert client.post(f"/jobs/{job['id']}/cancel").status_code == 202
        gate.release()
        done = wait_for_job(client, job["id"])
        assert done["state"] == "cancelled" and done["progress"]["step"] == 3
