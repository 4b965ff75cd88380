"""The Celery tasks: a thin wrapper that hands a delivered job to :func:`run_job`, in a span
that continues the trace its message carries (``core.tracing``); and the scoring of an
imported model, as each checkpoint of a job is scored."""

from __future__ import annotations

from celery import Celery, Task

from core import tracing
from jobs.queue import SCORE_TASK, TRAIN_TASK
from worker.checkpoint_scores import CheckpointScorer
from worker.context import WorkerContext
from worker.job_runner import run_job


def register_train_task(app: Celery, context: WorkerContext) -> None:
    @app.task(name=TRAIN_TASK, bind=True, shared=False)
    def train_job(self: Task, job_id: str) -> str:
        owner = self.request.hostname or "worker"
        with tracing.consuming(TRAIN_TASK, self.request, job=job_id):
            return run_job(context, job_id, owner)


def register_score_task(app: Celery, context: WorkerContext) -> None:
    @app.task(name=SCORE_TASK, shared=False)
    def score_model(model_id: str) -> None:
        if not context.settings.eval_samples:
            return  # DCGAN_EVAL_SAMPLES=0: this worker scores nothing
        scorer = CheckpointScorer(context.settings)
        try:
            scorer.score(None, model_id)
        finally:
            scorer.close()
