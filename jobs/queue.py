"""The job queue: a Celery app configured from the settings, and publishing a job's id.

The API and the recovery pass publish by task name (``TRAIN_TASK``), so neither needs the
training code; the worker registers the task on its own app (``worker.app``).

Each publication's Celery task id is the job id and a suffix of its own (``JOB-1a2b3c4d``), so
Flower and the job API name the same thing, and revoking one delivery (Flower can) does not
drop the deliveries recovery publishes later. Nothing reads task results (the job records are
the state), so none are stored. With Redis the workers send task events and the publisher a
task-sent event, so Flower shows every job; the embedded broker has no event channel.
"""

from __future__ import annotations

import secrets

from celery import Celery

from core import tracing
from core.settings import Settings
from jobs.job_store import JobRecord, JobStore

TRAIN_TASK = "dcgan.train"
SCORE_TASK = "dcgan.score"  # an imported model, scored by a worker as its checkpoints are


def make_celery(settings: Settings) -> Celery:
    if settings.embedded:
        # the SQLite transport (and SQLAlchemy's ORM under it) imported now, not by the first
        # publish: two threads importing the ORM for the first time at once can see it half made
        import kombu.transport.sqlalchemy  # noqa: F401
    app = Celery("dcgan", broker=settings.broker_url)
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
        task_ignore_result=True,
        worker_send_task_events=not settings.embedded,
        task_send_sent_event=not settings.embedded,
        # a job is acknowledged only when it is over, so a lost worker's job is redelivered
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # one job at a time per worker process (one per GPU), nothing reserved in advance
        worker_concurrency=1,
        worker_prefetch_multiplier=1,
        broker_transport_options=visibility,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_publish_retry_policy={
            "max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0,
        },
        worker_hijack_root_logger=False,
        broker_connection_timeout=3,
    )
    return app


def task_id(job_id: str) -> str:
    """A new publication's Celery task id: the job's id and a suffix of its own."""
    return f"{job_id}-{secrets.token_hex(4)}"


def enqueue(app: Celery, store: JobStore, job: JobRecord) -> str:
    """Publish the job's message on the job's own queue; raises when the broker is down.
    Returns the publication's task id.

    With tracing on, the message's headers carry the publication's trace; the job's first
    publication records it on the job, and each later one (the reaper's, after a hand-back)
    continues it.
    """
    published = task_id(job.id)
    with tracing.publishing(TRAIN_TASK, job.queue, published, job.trace_context, job=job.id):
        headers = tracing.carrier()
        app.send_task(TRAIN_TASK, args=[job.id], queue=job.queue, task_id=published,
                      headers=headers)
        if headers and job.trace_context is None:
            store.record_trace(job.id, headers)
    store.mark_enqueued(job.id)
    return published


def enqueue_scoring(app: Celery, model_id: str, queue: str) -> None:
    """Ask a worker on ``queue`` to score an imported model; raises when the broker is down."""
    app.send_task(SCORE_TASK, args=[model_id], queue=queue, task_id=task_id(model_id))
