"""What the metrics read at the two ends of the scale, for one data set.

- floor: n real TRAINING images scored against the test set, as a perfect generator would be
  (its Fréchet distance is not 0 only because the two sets are finite and differ);
- ceiling: n images of uniform noise in [-1, 1], as a generator that learnt nothing.

A generator's figures only mean something next to these two.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from shared_models.data.datasets import load_dataset
from shared_models.evaluation.evaluate import DEFAULT_SAMPLES, EvaluationResult, Evaluator
from shared_models.sampling import to_uint8


@dataclass(frozen=True)
class ReferenceValues:
    dataset: str
    n: int
    seed: int
    classifier_test_accuracy: float | None
    floor: EvaluationResult  # real training images
    ceiling: EvaluationResult  # uniform noise

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "n": self.n,
            "seed": self.seed,
            "classifier_test_accuracy": self.classifier_test_accuracy,
            "floor": self.floor.to_dict(),
            "ceiling": self.ceiling.to_dict(),
        }


def noise_images(n: int, seed: int, size: int = 28) -> torch.Tensor:
    """uint8 (n, size, size): pixels uniform in [-1, 1], quantised like generated samples."""
    pixels = torch.rand(n, size, size, generator=torch.Generator().manual_seed(seed))
    return to_uint8(pixels.mul_(2.0).sub_(1.0))


def real_images(images: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n images drawn without replacement from ``images``, in a seeded order."""
    if not 2 <= n <= images.shape[0]:
        raise ValueError(f"n must be between 2 and {images.shape[0]}, got {n}")
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    return images[order[:n]]


def reference_values(
    evaluator: Evaluator, data_dir: Path, n: int = DEFAULT_SAMPLES, seed: int = 0
) -> ReferenceValues:
    train = load_dataset(evaluator.dataset, data_dir, "train")
    size = evaluator.classifier.config.image_size
    return ReferenceValues(
        dataset=evaluator.dataset,
        n=n,
        seed=seed,
        classifier_test_accuracy=evaluator.info.test_accuracy if evaluator.info else None,
        floor=evaluator.evaluate_images(real_images(train.images, n, seed), seed=seed),
        ceiling=evaluator.evaluate_images(noise_images(n, seed, size), seed=seed),
    )


def compute_reference(
    dataset: str, data_dir: Path, n: int = DEFAULT_SAMPLES, seed: int = 0
) -> ReferenceValues:
    """Floor and ceiling for ``dataset`` (trains and caches its classifier when missing)."""
    return reference_values(Evaluator.for_dataset(dataset, data_dir), data_dir, n, seed)
