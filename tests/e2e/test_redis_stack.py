"""End to end on the real Redis: a worker process, uvicorn, real MNIST, real training (the
tutorial's networks in the first job, tiny ones after)."""

import io
import json
import threading

import pytest
from PIL import Image

from dcgan_cli.waiting import wait_for
from shared_models.checkpoint import iter_manifests
from tests.support.stack import submit_job, wait_for_job

pytestmark = pytest.mark.processes

SHORT_JOB = {"iterations": 24, "batch_size": 32, "checkpoint_every": 8, "seed": 5}


@pytest.mark.full_size
def test_submit_poll_and_generate_with_the_tutorials_networks(redis_stack):
    with redis_stack.client() as client:
        response = client.post("/jobs", json=SHORT_JOB)
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["Location"] == f"/jobs/{job['id']}"
        assert job["state"] in ("queued", "running") and job["params"]["iterations"] == 24
        assert job["params"]["network_size"] == "tutorial"
        done = wait_for_job(client, job["id"])
        assert done["state"] == "succeeded", done
        assert done["progress"]["step"] == 24 and done["progress"]["device"].startswith("cpu")
        assert done["attempts"] == 1 and done["model"] == f"{job['id']}:24"

        wait_for(lambda: client.get("/models").json()["served"] == done["model"], 20,
                 "the final model to be served")
        first = client.get("/generate", params={"n": 10, "nrow": 5, "seed": 7})
        assert first.status_code == 200 and first.headers["content-type"] == "image/png"
        assert first.headers["X-Model-Version"] == done["model"]
        assert first.headers["X-Seed"] == "7"
        image = Image.open(io.BytesIO(first.content))
        assert image.mode == "L" and image.size == (5 * 30 + 2, 2 * 30 + 2)
        again = client.get("/generate", params={"n": 10, "nrow": 5, "seed": 7})
        other = client.get("/generate", params={"n": 10, "nrow": 5, "seed": 8})
        assert again.content == first.content
        assert other.content != first.content

        models = client.get("/models").json()["models"]
        mine = [m for m in models if m["job"] == job["id"]]
        assert {m["step"] for m in mine} == {8, 16, 24}
        assert [m["status"] for m in mine if m["step"] == 24] == ["served"]


def test_cancel_a_running_job(redis_stack):
    gate = redis_stack.gates["worker1"]
    gate.arm(3)
    with redis_stack.client() as client:
        job = submit_job(client, {"iterations": 100, "batch_size": 16, "checkpoint_every": 0})
        gate.wait_reached()
        response = client.post(f"/jobs/{job['id']}/cancel")
        assert response.status_code == 202 and response.json()["cancel_requested"]
        gate.release()
        done = wait_for_job(client, job["id"])
        assert done["state"] == "cancelled", done
        step = done["progress"]["step"]
        assert step == 4  # the iteration under way when the cancel was seen
        manifests = list(iter_manifests(redis_stack.runs_dir / job["id"]))
        assert [(m.step, m.final, m.extra.get("stopped")) for m in manifests] == [
            (step, False, True)
        ]
        again = client.post(f"/jobs/{job['id']}/cancel")
        assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
        # the finished job can be deleted, with its stored checkpoints
        assert client.delete(f"/jobs/{job['id']}").status_code == 204
        assert client.get(f"/jobs/{job['id']}").status_code == 404
        assert list(iter_manifests(redis_stack.runs_dir / job["id"])) == []


def test_a_new_checkpoint_is_served_without_restart_and_no_request_fails(redis_stack):
    with redis_stack.client() as client:
        before = client.get("/models").json()["served"]
        statuses: list[int] = []
        versions: set[str] = set()
        stop = threading.Event()

        def keep_requesting():
            with redis_stack.client() as own:
                while not stop.is_set():
                    reply = own.get("/generate", params={"n": 4, "seed": 1})
                    statuses.append(reply.status_code)
                    versions.add(reply.headers.get("X-Model-Version", ""))

        thread = threading.Thread(target=keep_requesting)
        thread.start()
        try:
            job = submit_job(client, {**SHORT_JOB, "iterations": 12, "checkpoint_every": 4})
            done = wait_for_job(client, job["id"])
            assert done["state"] == "succeeded"
            wait_for(lambda: done["model"] in versions, 20, "the new model to be served")
        finally:
            stop.set()
            thread.join()
        assert statuses and set(statuses) == {200}, sorted(set(statuses))
        assert before in versions and done["model"] in versions


def test_unknown_job_and_bad_input_give_clear_errors(redis_stack):
    with redis_stack.client() as client:
        missing = client.get("/jobs/does-not-exist")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "no job with id 'does-not-exist'"}
        cases = [
            ({"iterations": 0}, "iterations: Input should be greater than or equal to 1"),
            ({"iterations": 100_001}, "iterations: Input should be less than or equal to 100000"),
            ({"batch_size": 4096}, "batch_size: Input should be less than or equal to 1024"),
            ({"mode": "medium"}, "mode: Input should be 'fast' or 'slow'"),
            ({"dataset": "cifar"}, "dataset: Input should be 'mnist' or 'fashion-mnist'"),
            ({"iterations": 5, "mode": "fast"}, "give either iterations or mode, not both"),
            ({"iterations": 5, "colour": "red"}, "colour: unknown field"),
            ({"ema_decay": 1.0}, "ema_decay: Input should be less than 1"),
        ]
        for body, message in cases:
            reply = client.post("/jobs", json=body)
            assert reply.status_code == 422, body
            assert message in reply.json()["detail"], (body, reply.json())
        not_json = client.post(
            "/jobs", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 422 and "JSON" in not_json.json()["detail"]
        for params, message in [
            ({"n": 0}, "n: Input should be greater than or equal to 1"),
            ({"n": 1025}, "n: Input should be less than or equal to 1024"),
            ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
            ({"n": "many"}, "n: Input should be a valid integer"),
        ]:
            reply = client.get("/generate", params=params)
            assert reply.status_code == 422 and message in reply.json()["detail"], reply.text
        unknown_model = client.get("/generate", params={"model": "nojob:5"})
        assert unknown_model.status_code == 404
        assert "no checkpoint at step 5" in unknown_model.json()["detail"]
        escape = client.get("/generate", params={"model": "../../etc"})
        assert escape.status_code == 404 and "not a model id" in escape.json()["detail"]


def test_job_list_is_newest_first_and_paginated(redis_stack):
    with redis_stack.client() as client:
        page = client.get("/jobs", params={"limit": 2}).json()
        assert page["total"] >= 2 and len(page["jobs"]) == 2
        created = [job["created_at"] for job in page["jobs"]]
        assert created == sorted(created, reverse=True)
        rest = client.get("/jobs", params={"offset": 2, "limit": 100}).json()
        ids = [job["id"] for job in page["jobs"] + rest["jobs"]]
        assert len(ids) == len(set(ids)) == page["total"]
        json.dumps(page)  # plain JSON all the way down


def test_fashion_mnist_trains_and_serves_like_mnist(redis_stack):
    with redis_stack.client() as client:
        job = submit_job(client, {**SHORT_JOB, "dataset": "fashion-mnist", "iterations": 6,
                                  "checkpoint_every": 0})
        done = wait_for_job(client, job["id"])
        assert done["state"] == "succeeded", done
        [model] = wait_for(
            lambda: [m for m in client.get("/models").json()["models"] if m["job"] == job["id"]],
            20, "the new model to be listed",
        )
        assert model["dataset"] == "fashion-mnist" and model["final"]
        picked = client.get("/generate", params={"model": job["id"], "n": 4, "seed": 2})
        assert picked.status_code == 200 and picked.headers["X-Model-Version"] == model["id"]
