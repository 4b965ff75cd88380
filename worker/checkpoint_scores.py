"""Scores for a published checkpoint: its serving artifact, sampled and judged by the cached
evaluation classifier of its data set; the figures go to the models table and the job.

A job never trains a classifier: ``dcgan worker`` caches MNIST's before it starts,
``dcgan classifier --dataset fashion-mnist`` Fashion-MNIST's; without one, checkpoints go
unscored.
"""

from __future__ import annotations

import logging
from typing import Any

from artifacts.cache import ArtifactCache
from artifacts.store import ArtifactStore
from core.database import make_engine
from core.redaction import redact_paths
from core.settings import Settings
from jobs.events import EventKind
from jobs.job_store import JobStore
from jobs.progress import JobProgress
from jobs.sweeps import SweepStore
from registry.model_records import ModelRecord, ModelRecords
from registry.scores import Scores
from shared_models.evaluation import Evaluator
from shared_models.evaluation.classifier_store import classifier_path, read_info
from worker.tracking import Tracker, log_scores

log = logging.getLogger(__name__)


class CheckpointScorer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.engine = make_engine(settings.database_url)
        self.models = ModelRecords(self.engine)
        self.jobs = JobStore(self.engine)
        self.sweeps = SweepStore(self.engine, self.jobs)
        self.artifacts = ArtifactCache(
            ArtifactStore.from_url(settings.store_url), settings.model_cache_dir
        )
        self._evaluators: dict[str, Evaluator | None] = {}
        self.tracker = Tracker.from_settings(settings)  # the scores in the job's MLflow run

    def score(self, job_id: str | None, model_id: str) -> dict[str, Any] | None:
        """Score one stored checkpoint (of ``job_id``; None: an imported model, which has no
        job); None when it is gone or cannot be scored here."""
        record = self.models.get(model_id)
        if record is None:
            return None  # pruned before its turn came
        try:
            metrics = self._metrics(record)
        except Exception as error:  # noqa: BLE001 - scoring is a by-product of training
            log.exception("could not score %s", model_id)
            metrics = {"error": redact_paths(str(error)) or type(error).__name__}
        if metrics is None:
            return None
        self.models.set_metrics(model_id, metrics)
        if job_id is None:
            return metrics
        scores = Scores.model_validate({"step": record.step, **metrics})
        self.jobs.update_progress(job_id, JobProgress(metrics=scores))
        self.jobs.add_event(job_id, EventKind.SCORED, {"model": model_id, "scores": metrics})
        log_scores(self.tracker, self.jobs, job_id, record.step, metrics)
        return metrics

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()
        self.engine.dispose()

    def _metrics(self, record: ModelRecord) -> dict[str, Any] | None:
        evaluator = self._evaluator(record.dataset)
        if evaluator is None:
            return None
        generator, _ = self.artifacts.load(record)
        samples = self._samples(record)
        log.info("scoring %s on %d samples", record.id, samples)
        return evaluator.evaluate_generator(generator, samples).figures()

    def _samples(self, record: ModelRecord) -> int:
        """DCGAN_EVAL_SAMPLES; a sweep member's final model: its sweep's ``score_samples``."""
        job = self.jobs.get(record.job_id) if record.final else None
        member = self.sweeps.score_samples(job) if job is not None else None
        return member or self.settings.eval_samples

    def _evaluator(self, dataset: str) -> Evaluator | None:
        if dataset not in self._evaluators:
            if read_info(classifier_path(dataset, self.data_dir)) is None:
                log.info("no cached %s classifier: checkpoints are not scored "
                         "(run: dcgan classifier --dataset %s)", dataset, dataset)
                self._evaluators[dataset] = None
            else:
                self._evaluators[dataset] = Evaluator.for_dataset(dataset, self.data_dir)
        return self._evaluators[dataset]
