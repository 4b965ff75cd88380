"""Putting a job's message on the queue (used by the API and by recovery)."""

from __future__ import annotations

from celery import Celery

from worker.celery_app import TRAIN_TASK
from worker.job_store import JobStore
from worker.settings import Settings


def enqueue(app: Celery, settings: Settings, store: JobStore, job_id: str) -> None:
    """Publish the job's message; raises when the broker cannot be reached."""
    app.send_task(TRAIN_TASK, args=[job_id], queue=settings.queue, task_id=None)
    store.mark_enqueued(job_id)
