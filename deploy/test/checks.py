"""What users of the compose deployment depend on beyond the walk-through: volumes the
non-root user can write, torch.compile's cache on the data volume, a worker stopped mid-job
(checkpoint, requeue, resume), Redis restarted mid-job, and `down` then `up` keeping the jobs
and the served model."""

from __future__ import annotations

import logging
import time
from typing import Any

from compose_stack import Stack, containers, service_of
from walkthrough import Api, expect, wait_for_served_model

log = logging.getLogger("deploy-test.checks")
IMAGE_USER = "10001"
STOP_WITHIN_S = 60  # the worker checkpoints and requeues within ~10 s of SIGTERM
# long enough to be stopped and resumed, and to see Redis restart, on a 2-core CPU
LONG_JOB = {"iterations": 200, "batch_size": 32, "checkpoint_every": 25, "seed": 11}
COMPILE_PROBE = (
    "import os, torch; f = torch.compile(lambda x: torch.sin(x) * 2 + 1); "
    "assert torch.allclose(f(torch.ones(8)), torch.sin(torch.ones(8)) * 2 + 1); "
    "print(os.environ['TORCHINDUCTOR_CACHE_DIR'])"
)


def check_volumes_writable(stack: Stack) -> None:
    for service, folders in (("api", ["/data"]), ("worker", ["/data", "/runs"])):
        uid = stack.exec(service, "id", "-u").strip()
        expect(uid == IMAGE_USER, f"{service} runs as uid {uid}, not {IMAGE_USER}")
        for folder in folders:
            probe = f"{folder}/.deploy-test-write-probe"
            stack.exec(service, "sh", "-c", f"echo ok > {probe} && rm {probe}")
    log.info("api writes /data and worker writes /data and /runs as uid %s", IMAGE_USER)


def check_compile_cache(stack: Stack) -> None:
    """torch.compile in the worker container: it compiles (a C++ compiler is there) and keeps
    its cache on the data volume, where the next job and the next container find it."""
    cache = stack.exec("worker", "python", "-c", COMPILE_PROBE, timeout=600).strip()
    expect(cache == "/data/torchinductor", f"TORCHINDUCTOR_CACHE_DIR is {cache!r}")
    files = stack.exec("worker", "find", cache, "-type", "f").split()
    expect(bool(files), f"torch.compile left nothing in {cache}")
    log.info("torch.compile ran in the worker; %d files cached in %s", len(files), cache)


def check_worker_stop_and_redis_restart(stack: Stack, api: Api, timeout: float) -> str:
    """One long job: `docker compose stop worker` mid-job (checkpoint, back to queued), the
    worker started again (it resumes from that checkpoint), then `docker compose restart
    redis` mid-job; the job still ends `succeeded` at its last iteration."""
    job_id = api.submit(**LONG_JOB)
    running = api.wait_for(job_id, lambda j: j["state"] == "running"
                           and (j["progress"].get("step") or 0) >= 30, "step 30", timeout)
    log.info("docker compose stop worker at step %s", running["progress"]["step"])
    started = time.monotonic()
    stack.compose("stop", "worker", timeout=200)
    took = time.monotonic() - started
    expect(took < STOP_WITHIN_S, f"the worker took {took:.0f} s to stop (SIGTERM not handled?)")
    stopped = api.job(job_id)
    checkpoint = stopped["progress"].get("checkpoint_step") or 0
    expect(stopped["state"] == "queued", f"after stop the job is {stopped['state']}, "
           "not queued")
    expect(checkpoint >= running["progress"]["step"],
           f"the stopped job's newest checkpoint is step {checkpoint}, before the step "
           f"{running['progress']['step']} it had reached")
    log.info("stopped in %.0f s; the job is queued with a checkpoint at step %d", took,
             checkpoint)

    stack.compose("start", "worker")
    resumed = api.wait_for(job_id, lambda j: j["state"] != "queued", "resume", timeout)
    expect((resumed["progress"].get("step") or 0) >= checkpoint,
           f"resumed at step {resumed['progress'].get('step')}, before checkpoint {checkpoint}")
    log.info("the restarted worker resumed the job at step %s", resumed["progress"]["step"])

    later = (resumed["progress"].get("step") or checkpoint) + 20
    api.wait_for(job_id, lambda j: (j["progress"].get("step") or 0) >= later,
                 f"step {later}", timeout)
    log.info("docker compose restart redis mid-job")
    stack.compose("restart", "redis", timeout=120)
    stack.wait_healthy(120, {"redis"})
    finished = api.wait_for(job_id, lambda j: j["state"] == "succeeded", "success", timeout)
    expect(finished["progress"]["step"] == LONG_JOB["iterations"],
           f"finished at {finished['progress']}")
    log.info("the job survived the worker stop and the Redis restart: succeeded at step %d",
             finished["progress"]["step"])
    wait_for_served_model(api, f"{job_id}:{LONG_JOB['iterations']}")
    stack.wait_healthy(180, {"worker"})
    return job_id


def snapshot(api: Api) -> dict[str, Any]:
    jobs = api.client.get("/jobs", params={"limit": 100}).json()
    picture = api.generate(seed=3)
    return {
        "jobs": sorted((j["id"], j["state"], j["model"]) for j in jobs["jobs"]),
        "model": picture.headers["X-Model-Version"],
        "png": picture.content,
    }


def check_down_up_keeps_state(stack: Stack, api: Api, timeout: float) -> None:
    before = snapshot(api)
    log.info("docker compose down (volumes kept), then up")
    stack.down(volumes=False)
    left = [service_of(c) for c in containers(stack.podman)]
    expect(not left, f"down left containers: {left}")
    stack.up(timeout)
    after = snapshot(api)
    expect(after["jobs"] == before["jobs"], f"jobs before down {before['jobs']}, after up "
           f"{after['jobs']}")
    expect(after["model"] == before["model"], f"served {before['model']} before down, "
           f"{after['model']} after up")
    expect(after["png"] == before["png"], "the same seed drew different digits after up")
    log.info("after down and up: the same %d jobs, model %s served, the same digits",
             len(after["jobs"]), after["model"])
