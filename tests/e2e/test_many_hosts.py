"""Many hosts on one machine: Redis, a private PostgreSQL and an S3 server shared by two
workers and two API replicas, each process in a folder of its own (no shared disk).

Four jobs train on both workers; both replicas list the same models and draw the same bytes;
a job submitted to one replica streams the same events from both;
a worker killed mid-job is replaced by the other, which resumes from the store; a replica
stopped leaves the other serving; PostgreSQL restarted mid-job leaves a job in a definite
state while /generate keeps answering; a sweep outlives its replica, the worker running its
member and a PostgreSQL restart.
"""

from __future__ import annotations

import logging
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import redis

from dcgan_cli.waiting import wait_for
from tests.e2e.conftest import REDIS_URL
from tests.support.postgres import PrivatePostgres
from tests.support.s3_server import REGION, moto_server
from tests.support.sse import END, Listener
from tests.support.stack import Hammer, Stack, submit_job, wait_for_job

pytestmark = pytest.mark.processes

log = logging.getLogger(__name__)

JOB = {"iterations": 30, "batch_size": 16, "checkpoint_every": 10}


class Cluster:
    def __init__(self, root: Path, postgres: PrivatePostgres, endpoint: str, bucket: str):
        self.postgres = postgres
        shared = {
            "DCGAN_DATABASE_URL": postgres.url,
            "DCGAN_STORE_URL": f"s3://{bucket}/models",
            "DCGAN_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            # its workers score nothing: a sweep ranks what it has as soon as its members end
            "DCGAN_SWEEP_SCORE_WAIT_SECONDS": "0",
            "DCGAN_SWEEP_INTERVAL_SECONDS": "0.5",
        }
        self.hosts = {name: Stack(root / name, REDIS_URL, **shared) for name in ("a", "b")}

    def start(self) -> None:
        """Both hosts' workers and APIs at once (their migrations take turns on a lock)."""
        workers = [(host, host.start_worker(wait=False)) for host in self.hosts.values()]
        for host in self.hosts.values():
            host.start_api(wait=False)
        for host, name in workers:
            host.wait_worker(name)
        for host in self.hosts.values():
            host.wait_api()

    def stop(self) -> None:
        for host in self.hosts.values():
            host.stop_all()
        queue = self.hosts["a"].env["DCGAN_QUEUE"]
        redis.Redis.from_url(REDIS_URL).delete(queue, f"_kombu.binding.{queue}")

    def host_running(self, worker: str) -> Stack:
        return next(host for host in self.hosts.values() if worker.endswith(f"@{host.root.name}"))

    def arm(self, step: int) -> None:
        """Hold every worker's next job at ``step`` (a worker started again has a new name
        and gate: each host's gates are all armed)."""
        for host in self.hosts.values():
            for gate in host.gates.values():
                gate.arm(step)

    def held(self) -> list[Stack]:
        """The hosts whose worker holds a job at its gate."""
        return [host for host in self.hosts.values()
                if any(gate.was_reached() for gate in host.gates.values())]

    def release(self) -> None:
        for host in self.hosts.values():
            for gate in host.gates.values():
                gate.release()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, data_dir) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("many-hosts")
    postgres = PrivatePostgres()
    postgres.init()
    postgres.start()
    try:
        with moto_server() as endpoint:
            bucket = f"dcgan-{uuid.uuid4().hex[:8]}"
            boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                         aws_access_key_id="testing", aws_secret_access_key="testing",
                         ).create_bucket(Bucket=bucket)
            cluster = Cluster(root, postgres, endpoint, bucket)
            try:
                cluster.start()
                yield cluster
            finally:
                cluster.stop()
    finally:
        postgres.remove()


def submit(client, **extra) -> str:
    return submit_job(client, {**JOB, **extra})["id"]


def test_both_workers_train_and_both_replicas_serve_the_same_models(cluster):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    started = time.monotonic()
    cluster.arm(1)  # each worker runs one job at a time: two held jobs are one on each
    with a.client() as client_a, b.client() as client_b:
        jobs = [submit(client, seed=seed) for seed, client in enumerate([client_a, client_b])]
        wait_for(lambda: len(cluster.held()) == 2, 120, "a job held on each worker")
        cluster.release()
        jobs += [submit(client, seed=seed) for seed, client in
                 enumerate([client_a, client_b], start=2)]
        done = [wait_for_job(client_a, job) for job in jobs]
        log.info("four jobs on two workers: %.1f s", time.monotonic() - started)
        assert [job["state"] for job in done] == ["succeeded"] * 4, a.logs() + b.logs()
        assert {job["progress"]["worker"] for job in done} == {"worker1@a", "worker1@b"}

        def listed(client) -> dict[str, str]:
            models = client.get("/models").json()["models"]
            return {model["id"]: model["sha256"] for model in models}

        wait_for(lambda: listed(client_a) == listed(client_b) and len(listed(client_a)) == 12,
                 30, "both replicas to list the twelve stored checkpoints")
        for job in jobs:
            params = {"model": f"{job}:30", "n": 16, "seed": 7}
            from_a, from_b = client_a.get("/generate", params=params), \
                client_b.get("/generate", params=params)
            assert from_a.status_code == from_b.status_code == 200
            assert from_a.content == from_b.content
            assert from_a.headers["X-Model-Sha256"] == from_b.headers["X-Model-Sha256"]

        def served() -> set[str]:
            return {client.get("/models").json()["served"] for client in (client_a, client_b)}

        # each replica reloads on its own clock: they agree once both have seen the last job
        [model] = wait_for(lambda: found if len(found := served()) == 1 else None, 30,
                           "both replicas to serve the same model")
        assert model.endswith(":30")
    for host in (a, b):  # the workers keep only scratch copies: finished jobs leave nothing
        assert not any((host.runs_dir / job).exists() for job in jobs)


def test_a_jobs_events_stream_alike_from_both_replicas_until_it_ends(cluster):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    every_job = Listener(a.url, "/events")  # from before the job exists
    try:
        with a.client() as client:
            job = submit(client, iterations=20, seed=21)
        one_job = Listener(b.url, f"/jobs/{job}/events")
        try:
            from_b = []
            while (event := one_job.next(timeout=120)) != END:
                from_b.append(event)
        finally:
            one_job.close()
        from_a = []
        while len(from_a) < len(from_b):
            event = every_job.next(timeout=60)
            if event.data["job"] == job:
                from_a.append(event)
    finally:
        every_job.close()
    assert [e.data for e in from_a] == [e.data for e in from_b]
    assert [e.data["seq"] for e in from_b] == list(range(1, len(from_b) + 1))
    states = [e.data["state"] for e in from_b if e.kind == "state"]
    assert states == ["queued", "running", "succeeded"]
    assert [e.data["step"] for e in from_b if e.kind == "checkpoint"] == [10, 20]
    lines = [e.data["message"] for e in from_b if e.kind == "log"]
    assert any("training on cpu from step 0" in line for line in lines), lines
    assert not [line for line in lines if str(a.root) in line or str(b.root) in line]
    steps = [e.data["step"] for e in from_b if e.kind == "progress" and "step" in e.data]
    assert steps == sorted(steps) and steps[-1] == 20


def test_a_killed_workers_job_resumes_on_the_other_host_from_the_store(cluster):
    a = cluster.hosts["a"]
    cluster.arm(20)  # held after its second stored checkpoint
    with a.client() as client:
        job = submit(client, iterations=60, seed=11)
        [victim] = wait_for(cluster.held, 120, "the job to reach step 20")
        wait_for(lambda: client.get(f"/jobs/{job}").json()["progress"].get("checkpoint_step")
                 == 20, 60, "two stored checkpoints")
        record = client.get(f"/jobs/{job}").json()
        assert cluster.host_running(record["progress"]["worker"]) is victim
        survivor = next(host for host in cluster.hosts.values() if host is not victim)
        for gate in survivor.gates.values():  # it resumes from step 20: nothing may hold it
            gate.release()
        victim.stop("worker1", signal.SIGKILL)  # still held at step 20
        killed = time.monotonic()
        done = wait_for_job(client, job)
        log.info("killed at step 20; the other host finished the job %.1f s later",
                 time.monotonic() - killed)
        assert done["state"] == "succeeded", done
        assert done["attempts"] == 2 and done["progress"]["resumed_from"] == 20
        assert done["progress"]["worker"] == f"worker1@{survivor.root.name}"
        assert "fetching its step" in (survivor.root / "worker1.log").read_text()
        finals = [m for m in client.get("/models").json()["models"]
                  if m["job"] == job and m["final"]]
        assert [m["step"] for m in finals] == [60]
    victim.start_worker()  # the cluster has two workers again for what follows


def test_a_postgres_restart_mid_job_ends_in_a_definite_state_and_generate_keeps_answering(
    cluster,
):
    b = cluster.hosts["b"]
    cluster.arm(5)
    with b.client() as client:
        job = submit(client, iterations=40, seed=12)
        [host] = wait_for(cluster.held, 120, "the job to reach step 5")
        [worker] = [name for name, gate in host.gates.items() if gate.was_reached()]
        worker_log = host.root / f"{worker}.log"
        with Hammer(b, clients=2, params={"n": 4, "seed": 1}) as hammer:
            cluster.postgres.stop()
            cluster.release()  # it trains on to its checkpoint at step 10, which must wait
            wait_for(lambda: b"publishing checkpoint 10 failed" in worker_log.read_bytes(), 60,
                     "the worker to retry publishing while PostgreSQL is down")
            cluster.postgres.start()
            done = wait_for_job(client, job)
        assert set(hammer.statuses) == {200}, hammer.statuses
        assert done["state"] == "succeeded", done
        assert done["progress"]["step"] == 40


def test_a_sweep_outlives_its_replica_a_worker_and_a_postgres_restart(cluster):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    cluster.arm(5)  # member 0 is held at step 5 while its worker, a replica and PostgreSQL go
    with a.client() as client:
        reply = client.post("/sweeps", json={
            "base": {**JOB, "iterations": 10}, "grid": {"seed": [21, 22]}, "parallel": 1})
        assert reply.status_code == 202, reply.text
        sweep = reply.json()["id"]
    [victim] = wait_for(cluster.held, 120, "member 0 to reach step 5")
    [worker] = [name for name, gate in victim.gates.items() if gate.was_reached()]
    survivor = next(host for host in cluster.hosts.values() if host is not victim)
    for gate in survivor.gates.values():  # it runs member 0 again: nothing may hold it
        gate.release()
    victim.stop(worker, signal.SIGKILL)  # the worker running member 0 is lost
    assert a.stop("api") in (0, -signal.SIGTERM)  # the replica that started it is gone
    cluster.postgres.stop()
    cluster.postgres.start()
    cluster.release()
    with b.client() as client:
        def ended():
            found = client.get(f"/sweeps/{sweep}")
            return found.json() if found.status_code == 200 and found.json()[
                "state"] != "running" else None

        done = wait_for(ended, 240, "replica b and the other worker to run the sweep to its end")
        first = client.get(f"/jobs/{sweep}-0").json()
    a.start_api()  # two replicas and two workers again for what follows
    victim.start_worker()
    assert done["state"] == "succeeded", done
    assert [m["state"] for m in done["members"]] == ["succeeded", "succeeded"]
    assert sorted(m["params"]["seed"] for m in done["members"]) == [21, 22]
    assert all(m["model"] == f"{m['job']}:10" for m in done["members"])
    assert first["attempts"] == 2
    assert first["progress"]["worker"].endswith(f"@{survivor.root.name}")


def test_one_replica_stopped_the_other_keeps_serving(cluster):
    a, b = cluster.hosts["a"], cluster.hosts["b"]
    with b.client() as client:
        params = {"model": client.get("/models").json()["served"], "n": 4, "seed": 3}
        before = client.get("/generate", params=params)
        assert a.stop("api") in (0, -signal.SIGTERM)  # uvicorn re-raises it once done
        after = client.get("/generate", params=params)
        assert after.status_code == 200 and after.content == before.content
        assert client.get("/readyz").status_code == 200
