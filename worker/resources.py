"""Per-process singletons of the worker."""

from __future__ import annotations

from functools import lru_cache

from worker.checkpoint_eval import CheckpointEvaluator
from worker.job_store import JobStore
from worker.settings import get_settings


@lru_cache(maxsize=1)
def job_store() -> JobStore:
    return JobStore(get_settings().jobs_db)


@lru_cache(maxsize=1)
def checkpoint_evaluator() -> CheckpointEvaluator:
    settings = get_settings()
    return CheckpointEvaluator(settings.data_dir.resolve(), settings.eval_samples)
