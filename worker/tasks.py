"""The Celery task: a thin wrapper that hands a delivered job to :func:`run_job`."""

from __future__ import annotations

from celery import Task

from worker import lifecycle  # noqa: F401 - connects the worker's signal handlers
from worker.celery_app import TRAIN_TASK, app
from worker.job_runner import run_job
from worker.resources import checkpoint_evaluator, job_store
from worker.settings import get_settings


@app.task(name=TRAIN_TASK, bind=True)
def train_job(self: Task, job_id: str) -> str:
    owner = self.request.hostname or "worker"
    return run_job(
        job_store(), get_settings(), job_id, owner, on_checkpoint=checkpoint_evaluator()
    )
