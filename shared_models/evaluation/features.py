"""Running images through the evaluation classifier, in batches.

Everything is uint8 (N, 28, 28) at the boundary, as real data and ``dcgan sample`` images
are: generated samples come from ``shared_models.sampling.generate``, quantised like every
other sample, so a generator is judged on exactly the images a user would see.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from shared_models.evaluation.classifier import Classifier
from shared_models.training.batches import to_unit_range

BATCH_SIZE = 500


@dataclass(frozen=True)
class ClassifierOutputs:
    features: torch.Tensor  # (N, 128) float64, the penultimate layer
    probabilities: torch.Tensor  # (N, 10) float64, softmax

    @property
    def predicted(self) -> torch.Tensor:
        return self.probabilities.argmax(1)  # (N,)


@torch.no_grad()
def classify(
    classifier: Classifier, images: torch.Tensor, batch_size: int = BATCH_SIZE
) -> ClassifierOutputs:
    """uint8 (N, 28, 28) images -> penultimate features and class probabilities (eval mode)."""
    if images.dtype != torch.uint8 or images.ndim != 3:
        shape = tuple(images.shape)
        raise ValueError(f"expected uint8 (N, H, W) images, got {images.dtype} {shape}")
    size = classifier.config.image_size
    if tuple(images.shape[1:]) != (size, size):
        raise ValueError(f"the classifier takes {size}x{size} images, got {tuple(images.shape)}")
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    features, probabilities = [], []
    try:
        for start in range(0, images.shape[0], batch_size):
            batch = to_unit_range(images[start : start + batch_size].to(device))
            feature, logits = classifier.features_and_logits(batch)
            features.append(feature.double().cpu())
            probabilities.append(torch.softmax(logits.double(), 1).cpu())
    finally:
        classifier.train(was_training)
    return ClassifierOutputs(torch.cat(features), torch.cat(probabilities))

