"""The Celery task: a thin wrapper that hands a delivered job to :func:`run_job`, in a span
that continues the trace its message carries (``core.tracing``)."""

from __future__ import annotations

from celery import Celery, Task

from core import tracing
from jobs.queue import TRAIN_TASK
from worker.context import WorkerContext
from worker.job_runner import run_job


def register_train_task(app: Celery, context: WorkerContext) -> None:
    @app.task(name=TRAIN_TASK, bind=True, shared=False)
    def train_job(self: Task, job_id: str) -> str:
        owner = self.request.hostname or "worker"
        with tracing.consuming(TRAIN_TASK, self.request, job=job_id):
            return run_job(context, job_id, owner)
