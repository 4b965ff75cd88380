"""Fault injection on real processes: killed and stopped workers, a broker outage, bad
checkpoints, model swaps under load, a full disk, and the API stopping mid-request."""

import signal
import subprocess
import threading
import time
from collections import Counter

import pytest
import torch

from jobs.artifact_store import ArtifactStore
from jobs.publishing import StoredCheckpoint
from shared_models.checkpoint import (
    checkpoint_path,
    iter_manifests,
    load_checkpoint,
    save_checkpoint,
)
from shared_models.serving_artifact import WEIGHTS_FILE
from shared_models.training import train
from tests.conftest import TINY_D, TINY_G, tiny_train_config
from tests.e2e.conftest import REDIS_URL
from tests.e2e.stack import RedisServer, Stack, wait_for, wait_for_job

JOB = {"iterations": 40, "batch_size": 16, "checkpoint_every": 5, "seed": 11}


@pytest.fixture
def stack(tmp_path, data_dir):
    stack = Stack(tmp_path / "stack", REDIS_URL)
    yield stack
    stack.stop_all()


class Hammer:
    """Client threads requesting /generate until stopped; records every status and version."""

    def __init__(self, stack: Stack, clients: int, params: dict) -> None:
        self.stack, self.params = stack, params
        self.statuses: Counter[int] = Counter()
        self.versions: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        with self.stack.client() as client:
            while not self._stop.is_set():
                reply = client.get("/generate", params=self.params)
                self.statuses[reply.status_code] += 1
                self.versions[reply.headers.get("X-Model-Version", "")] += 1

    def __enter__(self) -> "Hammer":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def submit(client, body=JOB) -> str:
    reply = client.post("/jobs", json=body)
    assert reply.status_code == 202, reply.text
    return reply.json()["id"]


def checkpoint_step(client, job_id) -> int:
    return client.get(f"/jobs/{job_id}").json()["progress"].get("checkpoint_step") or 0


def finals(stack, job_id):
    return [m for m in iter_manifests(stack.runs_dir / job_id) if m.final]


def test_sigkill_mid_job_then_a_new_worker_resumes_it_and_it_finishes_once(stack):
    stack.start_worker()
    stack.start_api()
    with stack.client() as client:
        job = submit(client)
        wait_for(lambda: checkpoint_step(client, job) >= 10, 240, "two checkpoints")
        stack.stop("worker1", signal.SIGKILL)  # the whole process group, as a container kill
        killed_at = checkpoint_step(client, job)
        assert client.get(f"/jobs/{job}").json()["state"] == "running"  # nobody knows yet

        stack.start_worker()  # its recovery pass requeues the job once the lease expires
        done = wait_for_job(client, job, ("succeeded", "failed"), 240)
    assert done["state"] == "succeeded", done
    assert done["progress"]["step"] == 40 and done["attempts"] == 2
    assert done["progress"]["resumed_from"] >= killed_at >= 10
    assert [m.step for m in finals(stack, job)] == [40]
    assert "resuming" in (stack.root / "worker2.log").read_text()


def test_sigterm_checkpoints_hands_the_job_back_and_the_next_worker_resumes(stack):
    stack.start_worker()
    stack.start_api()
    with stack.client() as client:
        job = submit(client, {**JOB, "checkpoint_every": 0})
        wait_for(lambda: client.get(f"/jobs/{job}").json()["progress"].get("step", 0) >= 3,
                 240, "the job to make progress")
        assert stack.stop("worker1", signal.SIGTERM, timeout=60) == 0
        record = client.get(f"/jobs/{job}").json()
        assert record["state"] == "queued", record
        stopped = [m for m in iter_manifests(stack.runs_dir / job)]
        assert len(stopped) == 1 and stopped[0].extra["stopped"]
        stopped_at = stopped[0].step

        stack.start_worker()
        done = wait_for_job(client, job, ("succeeded", "failed"), 240)
    assert done["state"] == "succeeded" and done["progress"]["step"] == 40
    assert done["progress"]["resumed_from"] == stopped_at and done["attempts"] == 1
    assert [m.step for m in finals(stack, job)] == [40]


def test_a_broker_outage_mid_job_ends_in_a_definite_state_and_generate_keeps_serving(
    tmp_path, data_dir
):
    redis = RedisServer(tmp_path)
    redis.start()
    stack = Stack(tmp_path / "stack", redis.url)
    try:
        stack.start_worker()
        stack.start_api()
        with stack.client() as client:
            job = submit(client, {**JOB, "iterations": 60})
            wait_for(lambda: client.get("/models").json()["served"], 240, "a first model")
            with Hammer(stack, clients=2, params={"n": 4}) as hammer:
                redis.stop()
                time.sleep(4)
                outage = sum(hammer.statuses.values())
                redis.start()  # empty: it keeps nothing on disk
                done = wait_for_job(client, job, ("succeeded", "failed"), 300)
            assert set(hammer.statuses) == {200} and outage > 0
            assert done["state"] == "succeeded" or done["error"], done
            assert done["state"] == "succeeded"  # training never needed the broker
            # the worker reconnected: a job submitted after the outage runs too
            after = submit(client, {**JOB, "iterations": 5})
            assert wait_for_job(client, after, ("succeeded", "failed"), 240)["state"] == (
                "succeeded"
            )
    finally:
        stack.stop_all()
        redis.stop()


def tiny_checkpoint(tmp_path, mnist_small):
    """A small real checkpoint to copy around (full-size ones are ~100 MB)."""
    result = train(
        tiny_train_config(iterations=2), mnist_small, tmp_path / "tiny",
        generator_config=TINY_G, discriminator_config=TINY_D, device=torch.device("cpu"),
    )
    state, _ = load_checkpoint(result.checkpoint)
    return state


def publish(stack, name, state, damage=None):
    """Publish ``state`` as the final checkpoint of job ``name``, as a worker does: files in
    the stack's store (its runs folder), then the models row; ``damage`` first changes the
    bytes of the serving artifact's weights."""
    manifest = save_checkpoint(state, checkpoint_path(stack.runs_dir / name, 2), final=True)
    uploader = StoredCheckpoint(ArtifactStore.from_url(str(stack.runs_dir)), stack.runs_dir)
    fields = uploader.upload(name, manifest, state)
    if damage is not None:
        weights = stack.runs_dir / fields["artifact_key"] / WEIGHTS_FILE
        weights.write_bytes(damage(weights.read_bytes()))
    stack.models().add(**fields)


def test_a_truncated_or_corrupt_newest_checkpoint_never_replaces_the_served_one(
    stack, tmp_path, mnist_small
):
    state = tiny_checkpoint(tmp_path, mnist_small)
    stack.start_api()
    publish(stack, "good", state)
    with stack.client() as client:
        wait_for(lambda: client.get("/models").json()["served"] == "good:2", 20, "good served")
        with Hammer(stack, clients=4, params={"n": 4, "seed": 1}) as hammer:
            for name, damage in [
                ("truncated", lambda b: b[: len(b) // 2]),
                ("flipped", lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:]),
                ("garbage", lambda b: b"\x00" * len(b)),
            ]:
                publish(stack, name, state, damage)
            wait_for(
                lambda: [m["status"] for m in client.get("/models").json()["models"]].count(
                    "invalid") == 3, 20, "all three to be marked invalid",
            )
        models = {m["id"]: m for m in client.get("/models").json()["models"]}
    assert set(hammer.statuses) == {200}
    assert set(hammer.versions) == {"good:2"}
    assert models["good:2"]["status"] == "served"
    for name in ("truncated", "flipped", "garbage"):
        assert "do not match its manifest" in models[f"{name}:2"]["error"]


def test_twenty_model_swaps_while_eight_clients_request_images(stack, tmp_path, mnist_small):
    state = tiny_checkpoint(tmp_path, mnist_small)
    stack.start_api()
    publish(stack, "swap00", state)
    with stack.client() as client:
        wait_for(lambda: client.get("/models").json()["served"] == "swap00:2", 20, "first model")
        with Hammer(stack, clients=8, params={"n": 16}) as hammer:
            for index in range(1, 21):
                publish(stack, f"swap{index:02d}", state)
                wait_for(lambda i=index: client.get("/models").json()["served"] == f"swap{i:02d}:2",
                         20, f"swap {index}")
        metrics = client.get("/metrics").text
    assert set(hammer.statuses) == {200}, hammer.statuses
    assert sum(hammer.statuses.values()) > 100
    assert len([v for v in hammer.versions if v.startswith("swap")]) >= 15
    assert 'dcgan_model_reloads_total{result="success"} 21.0' in metrics


@pytest.fixture
def small_disk(tmp_path):
    """A 150 MB tmpfs: room for one full-size checkpoint (~96 MB) but not two."""
    mount_point = tmp_path / "stack" / "runs"
    mount_point.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=150m", "tmpfs", str(mount_point)],
        capture_output=True, text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(f"this test mounts a tmpfs and needs root: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_fails_the_job_clearly_and_keeps_the_previous_checkpoint(small_disk, data_dir):
    stack = Stack(small_disk.parent, REDIS_URL)
    try:
        stack.start_worker()
        stack.start_api()
        with stack.client() as client:
            job = submit(client, {**JOB, "iterations": 30})
            done = wait_for_job(client, job, ("succeeded", "failed"), 240)
    finally:
        stack.stop_all()
    assert done["state"] == "failed", done
    assert "No space left on device" in done["error"]
    assert "could not write checkpoint" in done["error"] and "intact" in done["error"]
    [previous] = iter_manifests(stack.runs_dir / job)
    assert previous.step == 5
    load_checkpoint(previous.path)  # verifies against its manifest and loads


def test_sigterm_to_the_api_lets_in_flight_requests_finish(stack, tmp_path, mnist_small):
    stack.start_worker()
    stack.start_api()
    with stack.client() as client:
        job = submit(client, {**JOB, "iterations": 5})
        wait_for_job(client, job, ("succeeded",), 240)
        wait_for(lambda: client.get("/models").json()["served"] == f"{job}:5", 20, "served")
    replies, finished = [], []

    def slow_request():
        with stack.client() as own:
            replies.append(own.get("/generate", params={"n": 1024, "nrow": 32}))
            finished.append(time.monotonic())

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.3)  # the full-size n=1024 render takes seconds on this CPU
    signalled = time.monotonic()
    # uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM is its clean exit
    assert stack.stop("api", signal.SIGTERM, timeout=60) in (0, -signal.SIGTERM)
    thread.join()
    assert replies[0].status_code == 200 and replies[0].content[:4] == b"\x89PNG"
    assert finished[0] > signalled  # it was in flight when the signal came
    log = (stack.root / "api.log").read_text()
    assert "Waiting for connections to close" in log or "Shutting down" in log
