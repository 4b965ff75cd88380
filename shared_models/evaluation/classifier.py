"""A compact CNN that tells a data set's ten classes apart.

Its penultimate layer (128 features after BatchNorm and ReLU) is the feature space of the
Fréchet distance; its softmax gives the classifier Inception Score and the class coverage.
Inputs are images in [-1, 1], the generator's tanh range, so samples are fed as they come.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ClassifierConfig:
    channels1: int = 16  # feature maps at 28x28
    channels2: int = 32  # feature maps at 14x14
    kernel: int = 5
    features: int = 128  # the penultimate layer: the metrics' feature space
    num_classes: int = 10
    image_size: int = 28

    def __post_init__(self) -> None:
        for name in ("channels1", "channels2", "kernel", "features", "num_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {self.image_size}")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd for 'same' padding, got {self.kernel}")


class Classifier(nn.Module):
    """images (B, 1, 28, 28) in [-1, 1] -> logits (B, 10); ``features`` gives (B, 128)."""

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ClassifierConfig()
        pad = config.kernel // 2
        pooled = config.image_size // 4  # 7
        self.conv1 = nn.Conv2d(1, config.channels1, config.kernel, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm2d(config.channels1)  # (B, 16, 28, 28), pooled to 14x14
        self.conv2 = nn.Conv2d(
            config.channels1, config.channels2, config.kernel, padding=pad, bias=False
        )
        self.bn2 = nn.BatchNorm2d(config.channels2)  # (B, 32, 14, 14), pooled to 7x7
        self.fc1 = nn.Linear(config.channels2 * pooled**2, config.features, bias=False)
        self.bn3 = nn.BatchNorm1d(config.features)  # (B, 128)
        self.fc2 = nn.Linear(config.features, config.num_classes)  # (B, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        size = self.config.image_size
        x = x.view(-1, 1, size, size)
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # (B, 16, 14, 14)
        h = F.max_pool2d(F.relu(self.bn2(self.conv2(h))), 2)  # (B, 32, 7, 7)
        return F.relu(self.bn3(self.fc1(h.flatten(1))))  # (B, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))  # (B, 10)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return features, self.fc2(features)


def build_classifier(config: ClassifierConfig, seed: int) -> Classifier:
    """A freshly initialised classifier (PyTorch's default init) that depends only on ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Classifier(config)
