"""Submitting a job, one helper per layer: straight into the job records (``submit_record``),
or through the records a worker reads to run it in this process (``submit_for_worker``, then
``worker.job_runner.run_job``). Over HTTP: ``tests.support.stack.submit_job`` and
``wait_for_job``.

Jobs train the tiny networks unless a test asks for others.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from jobs.job_store import JobRecord, JobStore
from jobs.states import JobState
from tests.support.gate import StepGate
from worker.context import WorkerContext
from worker.job_runner import CheckpointHook, run_job

QUEUE = "dcgan"
TINY = {"network_size": "tiny"}


def submit_record(
    store: JobStore, params: dict[str, Any] | None = None, total: int | None = None,
    queue: str = QUEUE, cap: int = 100,
) -> JobRecord:
    """A queued job record (``total`` iterations: ``params["iterations"]`` or 1)."""
    params = params or {}
    total = total if total is not None else int(params.get("iterations", 1))
    return store.submit(params, total=total, queue=queue, max_active=cap)


def submit_for_worker(context: WorkerContext, **params: Any) -> str:
    """A job a worker with ``context`` can run (tiny networks, batch 16, seed 3 unless
    given); its id."""
    spec = {"batch_size": 16, "seed": 3, **TINY, **params}
    return submit_record(context.jobs, spec).id


def run_in_thread(context: WorkerContext, job_id: str, owner: str,
                  on_checkpoint: CheckpointHook | None = None) -> Future[str]:
    """``run_job`` on a thread of its own: the future of the state it leaves the job in."""
    executor = ThreadPoolExecutor(1)
    future = executor.submit(run_job, context, job_id, owner, on_checkpoint)
    executor.shutdown(wait=False)
    return future


def hand_back_at_step_3(context: WorkerContext, job_id: str, owner: str,
                        on_checkpoint: CheckpointHook | None = None) -> None:
    """Run the job until it reaches step 3, stop its worker there, and wait for the job to
    be checkpointed and handed back (queued again)."""
    with StepGate(3) as gate:
        outcome = run_in_thread(context, job_id, owner, on_checkpoint)
        gate.wait_reached()
        context.jobs.set_worker_stopping(owner)
        gate.release()
        assert outcome.result(timeout=120) == JobState.QUEUED
