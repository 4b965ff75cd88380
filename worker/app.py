"""The worker's Celery app: the shared queue configuration, the training task and the
worker's start-up and shutdown handlers, built from one settings object."""

from __future__ import annotations

from celery import Celery

from core.settings import Settings
from jobs.queue import make_celery
from worker.context import WorkerContext
from worker.lifecycle import Lifecycle
from worker.tasks import register_score_task, register_train_task


def create_worker_app(settings: Settings) -> Celery:
    app = make_celery(settings)
    context = WorkerContext(settings)
    register_train_task(app, context)
    register_score_task(app, context)
    Lifecycle(app, context).connect()
    return app
