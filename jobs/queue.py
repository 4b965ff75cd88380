"""The job queue: a Celery app configured from the settings, and publishing a job's id.

The API and the recovery pass publish by task name (``TRAIN_TASK``), so neither needs the
training code; the worker registers the task on its own app (``worker.app``).
"""

from __future__ import annotations

from celery import Celery

from jobs.job_store import JobRecord, JobStore
from jobs.settings import Settings

TRAIN_TASK = "dcgan.train"


def make_celery(settings: Settings) -> Celery:
    app = Celery("dcgan", broker=settings.broker_url, backend=settings.result_backend)
    # Redis hands an unacknowledged message to another worker after this timeout, so it must
    # outlast the longest job. (The SQLite transport has no such timeout: it passes transport
    # options to SQLAlchemy's create_engine, which rejects this one.)
    visibility = (
        {} if settings.embedded else {"visibility_timeout": settings.visibility_timeout_seconds}
    )
    app.conf.update(
        task_default_queue=settings.queue,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_expires=7 * 24 * 3600,
        # a job is acknowledged only when it is over, so a lost worker's job is redelivered
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # one job at a time per worker process (one per GPU), nothing reserved in advance
        worker_concurrency=1,
        worker_prefetch_multiplier=1,
        broker_transport_options=visibility,
        result_backend_transport_options=visibility,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_publish_retry_policy={
            "max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0,
        },
        worker_hijack_root_logger=False,
        broker_connection_timeout=3,
    )
    return app


def enqueue(app: Celery, store: JobStore, job: JobRecord) -> None:
    """Publish the job's message on the job's own queue; raises when the broker is down."""
    app.send_task(TRAIN_TASK, args=[job.id], queue=job.queue)
    store.mark_enqueued(job.id)
