"""Fault injection on real processes: killed and stopped workers, a broker outage, bad
checkpoints, model swaps under load, a full disk, and the API stopping mid-request.

Jobs train the tiny networks (the small ones where a checkpoint's size matters); a test that
acts on a running job holds it at its worker's gate first (``tests.support.gate``)."""

import signal
import socket
import subprocess

import pytest
import torch

from artifacts.publishing import StoredCheckpoint
from artifacts.store import ArtifactStore
from dcgan_cli.waiting import wait_for
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
from tests.support.stack import Hammer, RedisServer, Stack, submit_job, wait_for_job

pytestmark = pytest.mark.processes

JOB = {"iterations": 40, "batch_size": 16, "checkpoint_every": 5, "seed": 11}


@pytest.fixture
def stack(tmp_path, data_dir):
    stack = Stack(tmp_path / "stack", REDIS_URL)
    yield stack
    stack.stop_all()


def submit(client, body=JOB) -> str:
    return submit_job(client, body)["id"]


def checkpoint_step(client, job_id) -> int:
    return client.get(f"/jobs/{job_id}").json()["progress"].get("checkpoint_step") or 0


def finals(stack, job_id):
    return [m for m in iter_manifests(stack.runs_dir / job_id) if m.final]


def test_sigkill_mid_job_then_a_new_worker_resumes_it_and_it_finishes_once(stack):
    stack.start()
    stack.gates["worker1"].arm(10)  # held after its second checkpoint
    with stack.client() as client:
        job = submit(client)
        stack.gates["worker1"].wait_reached()
        wait_for(lambda: checkpoint_step(client, job) == 10, 60, "the second checkpoint")
        stack.stop("worker1", signal.SIGKILL)  # the whole process group, as a container kill
        assert client.get(f"/jobs/{job}").json()["state"] == "running"  # nobody knows yet

        stack.start_worker()  # its recovery pass requeues the job once the lease expires
        done = wait_for_job(client, job)
    assert done["state"] == "succeeded", done
    assert done["progress"]["step"] == 40 and done["attempts"] == 2
    assert done["progress"]["resumed_from"] == 10
    assert [m.step for m in finals(stack, job)] == [40]
    assert "resuming" in (stack.root / "worker2.log").read_text()


def test_sigterm_checkpoints_hands_the_job_back_and_the_next_worker_resumes(stack):
    stack.start()
    gate = stack.gates["worker1"]
    gate.arm(3)
    with stack.client() as client:
        job = submit(client, {**JOB, "checkpoint_every": 0})
        gate.wait_reached()
        stack.send("worker1", signal.SIGTERM)
        records = stack.jobs()
        wait_for(lambda: records.worker_stopping(f"worker1@{stack.root.name}"), 60,
                 "the worker to flag itself stopping")
        gate.release()
        assert stack.wait_exit("worker1") == 0
        record = client.get(f"/jobs/{job}").json()
        assert record["state"] == "queued", record
        stopped = list(iter_manifests(stack.runs_dir / job))
        assert [(m.step, m.extra["stopped"]) for m in stopped] == [(4, True)]

        stack.start_worker()
        done = wait_for_job(client, job)
    assert done["state"] == "succeeded" and done["progress"]["step"] == 40
    assert done["progress"]["resumed_from"] == 4 and done["attempts"] == 1
    assert [m.step for m in finals(stack, job)] == [40]


def test_a_broker_outage_mid_job_ends_in_a_definite_state_and_generate_keeps_serving(
    tmp_path, data_dir
):
    redis = RedisServer(tmp_path)
    redis.start()
    stack = Stack(tmp_path / "stack", redis.url)
    try:
        stack.start()
        gate = stack.gates["worker1"]
        gate.arm(10)
        with stack.client() as client:
            job = submit(client, {**JOB, "iterations": 60})
            gate.wait_reached()
            wait_for(lambda: client.get("/models").json()["served"], 60, "a first model")
            with Hammer(stack, clients=2, params={"n": 4}) as hammer:
                redis.stop()
                gate.release()  # the job trains on with the broker down
                done = wait_for_job(client, job)
                outage = sum(hammer.statuses.values())
                redis.start()  # empty: it keeps nothing on disk
            assert set(hammer.statuses) == {200} and outage > 0
            assert done["state"] == "succeeded", done  # training never needed the broker
            # the worker reconnected: a job submitted after the outage runs too
            after = submit(client, {**JOB, "iterations": 5})
            assert wait_for_job(client, after)["state"] == "succeeded"
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
    stored = uploader.upload(name, manifest, state)
    if damage is not None:
        weights = stack.runs_dir / stored.artifact_key / WEIGHTS_FILE
        weights.write_bytes(damage(weights.read_bytes()))
    stack.models().add(stored)


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
                version = f"swap{index:02d}:2"
                wait_for(lambda v=version: hammer.versions[v], 20, f"{version} to be drawn")
        metrics = client.get("/metrics").text
    assert set(hammer.statuses) == {200}, hammer.statuses
    assert {f"swap{index:02d}:2" for index in range(21)} <= set(hammer.versions)
    assert 'dcgan_model_reloads_total{result="success"} 21.0' in metrics


SMALL_JOB = {**JOB, "network_size": "small", "ema_decay": 0}  # checkpoints of about 7 MB


@pytest.fixture
def small_disk(tmp_path):
    """A 12 MB tmpfs: room for one small-network checkpoint and its model, not two."""
    mount_point = tmp_path / "stack" / "runs"
    mount_point.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount_point)],
        capture_output=True, text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(f"this test mounts a tmpfs and needs root: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_fails_the_job_clearly_and_keeps_the_previous_checkpoint(small_disk, data_dir):
    stack = Stack(small_disk.parent, REDIS_URL)
    try:
        stack.start()
        with stack.client() as client:
            job = submit(client, {**SMALL_JOB, "iterations": 30})
            done = wait_for_job(client, job)
    finally:
        stack.stop_all()
    assert done["state"] == "failed", done
    assert "No space left on device" in done["error"]
    assert "could not write checkpoint" in done["error"] and "intact" in done["error"]
    [previous] = iter_manifests(stack.runs_dir / job)
    assert previous.step == 5
    load_checkpoint(previous.path)  # verifies against its manifest and loads


def test_sigterm_to_the_api_lets_in_flight_requests_finish(stack):
    """A request the API has begun (it asked for the body: 100 Continue) when SIGTERM comes
    is answered before uvicorn exits."""
    stack.start_api()
    body = b'{"iterations": 5, "network_size": "tiny"}'
    with socket.create_connection(("127.0.0.1", stack.port), timeout=30) as connection:
        connection.sendall(
            b"POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        reply = connection.recv(1024)
        assert reply.startswith(b"HTTP/1.1 100 Continue"), reply  # the route reads the body
        stack.send("api", signal.SIGTERM)
        wait_for(lambda: b"Shutting down" in (stack.root / "api.log").read_bytes(), 30,
                 "uvicorn to begin its shutdown")
        connection.sendall(body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 202"), answer
    # uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM is its clean exit
    assert stack.wait_exit("api") in (0, -signal.SIGTERM)
    log = (stack.root / "api.log").read_text()
    assert log.index("Shutting down") < log.index('POST /jobs HTTP/1.1\\" 202')
