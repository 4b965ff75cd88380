"""Judging a generator: Fréchet distance to the test set, Inception Score, class coverage.

An ``Evaluator`` holds one data set's classifier and the statistics of its TEST images, so a
process that evaluates many checkpoints computes those once. Conditional generators are asked
for every class in turn (``i % num_classes``) and are also scored on whether the classifier
sees the class they were asked for.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from shared_models.checkpoint import LoadedCheckpoint
from shared_models.config import DEFAULT_SAMPLES
from shared_models.data.datasets import ImageData, load_dataset
from shared_models.evaluation.classifier import Classifier
from shared_models.evaluation.classifier_store import ClassifierInfo, load_or_train_classifier
from shared_models.evaluation.features import BATCH_SIZE, classify
from shared_models.evaluation.metrics import (
    FeatureStats,
    class_shares,
    frechet_distance,
    inception_score,
    per_class_accuracy,
    total_variation,
)
from shared_models.evaluation.test_stats_cache import cached_test_stats
from shared_models.generator_io import generator_from_state
from shared_models.networks import Generator
from shared_models.sampling import SampleInputs, generate, grid_inputs

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class EvaluationResult:
    dataset: str
    n: int
    seed: int | None  # the noise seed; None for images that did not come from a generator
    frechet_distance: float  # to the test set, in the classifier's feature space; lower is better
    inception_score: float  # 1 (one class or no confidence) to num_classes
    class_shares: tuple[float, ...]  # share of samples per predicted class, sums to 1
    classes_covered: int  # classes with at least coverage_threshold of the samples
    coverage_threshold: float
    class_tv: float  # total variation between class_shares and the test set's class shares
    label_accuracy: float | None = None  # conditional only: predicted == requested
    per_class_accuracy: tuple[float | None, ...] | None = None  # conditional only

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("class_shares", "per_class_accuracy"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    def figures(self) -> dict[str, Any]:
        """The figures the models table keeps for a checkpoint (and a model card shows)."""
        return {
            "n": self.n,
            "seed": self.seed,
            "frechet_distance": round(self.frechet_distance, 4),
            "inception_score": round(self.inception_score, 4),
            "classes_covered": self.classes_covered,
            "label_accuracy": self.label_accuracy,
            "per_class_accuracy": (
                None if self.per_class_accuracy is None else list(self.per_class_accuracy)
            ),
        }


class Evaluator:
    def __init__(
        self,
        classifier: Classifier,
        test: ImageData,
        info: ClassifierInfo | None = None,
        batch_size: int = BATCH_SIZE,
        test_stats: FeatureStats | None = None,
    ) -> None:
        """``test_stats``: the test images' feature statistics under this classifier, when
        already known (``for_dataset`` caches them); else computed here."""
        self.classifier = classifier.eval()
        self.info = info
        self.dataset = test.name
        self.num_classes = classifier.config.num_classes
        self.batch_size = batch_size
        if test_stats is None:
            test_stats = FeatureStats.of(classify(classifier, test.images, batch_size).features)
        self.test_stats = test_stats
        self.test_shares = class_shares(test.labels, self.num_classes)

    @classmethod
    def for_dataset(
        cls, dataset: str, data_dir: Path, device: torch.device | str = "cpu"
    ) -> Evaluator:
        """The cached classifier (trained first if missing), the data set's test split and
        its feature statistics (cached beside the classifier)."""
        classifier, info = load_or_train_classifier(dataset, data_dir)
        classifier = classifier.to(device)
        test = load_dataset(dataset, data_dir, "test")
        stats = cached_test_stats(
            info, torch.device(device).type,
            lambda: FeatureStats.of(classify(classifier, test.images, BATCH_SIZE).features),
        )
        return cls(classifier, test, info, test_stats=stats)

    def evaluate_images(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, seed: int | None = None
    ) -> EvaluationResult:
        """Score uint8 (N, 28, 28) images; ``labels`` are the classes they were asked to be."""
        if images.shape[0] < 2:
            raise ValueError(f"need at least 2 images, got {images.shape[0]}")
        outputs = classify(self.classifier, images, self.batch_size)
        shares = class_shares(outputs.predicted, self.num_classes)
        threshold = 0.5 / self.num_classes  # half a class's share in a balanced set
        label_accuracy = per_class = None
        if labels is not None:
            labels = labels.cpu().long()
            label_accuracy = float((outputs.predicted == labels).double().mean())
            per_class = tuple(
                None if value != value else float(value)  # NaN: class never requested
                for value in per_class_accuracy(outputs.predicted, labels, self.num_classes)
            )
        return EvaluationResult(
            dataset=self.dataset,
            n=int(images.shape[0]),
            seed=seed,
            frechet_distance=frechet_distance(FeatureStats.of(outputs.features), self.test_stats),
            inception_score=inception_score(outputs.probabilities),
            class_shares=tuple(float(share) for share in shares),
            classes_covered=int((shares >= threshold).sum()),
            coverage_threshold=threshold,
            class_tv=total_variation(shares, self.test_shares),
            label_accuracy=label_accuracy,
            per_class_accuracy=per_class,
        )

    def evaluate_generator(
        self,
        generator: Generator,
        n: int = DEFAULT_SAMPLES,
        seed: int = 0,
        labels: torch.Tensor | None = None,
    ) -> EvaluationResult:
        """Draw n samples (eval mode, noise from ``seed``) and score them.

        A conditional generator without ``labels`` is asked for each class in turn.
        """
        classes = generator.config.num_classes
        if classes and classes != self.num_classes:
            raise ValueError(
                f"the generator has {classes} classes, the {self.dataset} classifier "
                f"{self.num_classes}"
            )
        if labels is not None and not classes:
            raise ValueError("labels were given but the generator is not conditional")
        inputs = grid_inputs(generator, n, seed)  # every class in turn when conditional
        if labels is not None:
            inputs = SampleInputs(inputs.z, labels)
        return self.evaluate_images(generate(generator, inputs), inputs.labels, seed)


def evaluate_checkpoint(
    checkpoint: LoadedCheckpoint,
    data_dir: Path,
    n: int = DEFAULT_SAMPLES,
    seed: int = 0,
    device: torch.device | str = "cpu",
    averaged: bool = True,
) -> EvaluationResult:
    """Score a loaded checkpoint's generator on its own data set (with the cached classifier).

    ``averaged=False`` scores the live weights of a checkpoint that also keeps an average.
    """
    generator = generator_from_state(checkpoint.state, device, averaged)
    manifest = checkpoint.manifest
    evaluator = Evaluator.for_dataset(manifest.dataset, data_dir, device)
    log.info("evaluating %s (step %d) on %d samples", manifest.path, manifest.step, n)
    return evaluator.evaluate_generator(generator, n, seed)
