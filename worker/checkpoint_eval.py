"""Scoring each checkpoint a job writes, on a few samples, with the cached classifier.

The figures go into the models table (so ``GET /models`` lists them) and into the job's
progress (``GET /jobs/{id}``). The generator is rebuilt from the state the training loop
just saved, still in memory: nothing is read back from disk. A job never trains a
classifier: ``dcgan worker`` caches MNIST's before it starts, ``dcgan classifier --dataset
fashion-mnist`` Fashion-MNIST's; without one, checkpoints go unscored.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from shared_models.evaluation import Evaluator
from shared_models.evaluation.classifier_store import classifier_path, read_info
from shared_models.generator_io import generator_from_state
from shared_models.training import SavedCheckpoint

log = logging.getLogger(__name__)


class CheckpointEvaluator:
    def __init__(self, data_dir: Path, samples: int) -> None:
        self.data_dir = data_dir
        self.samples = samples
        self._evaluators: dict[str, Evaluator] = {}

    def __call__(self, job_id: str, saved: SavedCheckpoint) -> dict[str, Any] | None:
        """Score one checkpoint; a failure here is logged, never fails the training job."""
        if self.samples < 2:
            return None
        try:
            return self._score(saved)
        except Exception as error:  # noqa: BLE001 - scoring is a by-product of training
            log.exception("could not score %s", saved.manifest.path)
            return {"metrics": {"step": saved.manifest.step, "error": str(error)}}

    def _score(self, saved: SavedCheckpoint) -> dict[str, Any] | None:
        evaluator = self._evaluator(saved.manifest.dataset)
        if evaluator is None:
            return None
        generator = generator_from_state(saved.state)
        log.info("scoring step %d on %d samples", saved.manifest.step, self.samples)
        result = evaluator.evaluate_generator(generator, self.samples)
        metrics = {
            "n": result.n,
            "frechet_distance": round(result.frechet_distance, 4),
            "inception_score": round(result.inception_score, 4),
            "classes_covered": result.classes_covered,
            "label_accuracy": result.label_accuracy,
            "per_class_accuracy": result.to_dict()["per_class_accuracy"],
        }
        return {"metrics": {"step": saved.manifest.step, **metrics}}

    def _evaluator(self, dataset: str) -> Evaluator | None:
        if dataset not in self._evaluators:
            if read_info(classifier_path(dataset, self.data_dir)) is None:
                log.info("no cached %s classifier: checkpoints are not scored "
                         "(run: dcgan classifier --dataset %s)", dataset, dataset)
                return None
            self._evaluators[dataset] = Evaluator.for_dataset(dataset, self.data_dir)
        return self._evaluators[dataset]
