"""The Celery application: broker and result backend from settings, tuned for long GPU jobs.

The service imports this module (and ``worker.queue``) to enqueue jobs by task name; it never
imports ``worker.tasks``, which pulls in the training code.
"""

from __future__ import annotations

from celery import Celery

from worker.settings import Settings, get_settings

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
        include=["worker.tasks"],
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


app = make_celery(get_settings())
