"""Training the evaluation classifier: a few epochs of Adam with a one-cycle learning rate.

Images are scaled to [-1, 1] exactly as the GAN's real batches are (``to_unit_range``), and
each training image is moved by up to two pixels in each direction (background fill), a light
augmentation that is worth a few tenths of a percent on MNIST. Everything random — the
initial weights, the epoch order and the shifts — comes from the seed, so a run on the same
machine gives the same weights.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from shared_models.data.datasets import ImageData
from shared_models.evaluation.classifier import Classifier, ClassifierConfig, build_classifier
from shared_models.training.batches import to_unit_range

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierTrainConfig:
    epochs: int = 5
    batch_size: int = 128
    lr: float = 3e-3  # the one-cycle schedule's peak
    weight_decay: float = 1e-4
    max_shift: int = 2  # augmentation: pixels each image may move in x and in y
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise ValueError(f"lr must be in (0, 1), got {self.lr}")
        if self.weight_decay < 0 or self.max_shift < 0 or self.seed < 0:
            raise ValueError("weight_decay, max_shift and seed must be >= 0")


@dataclass(frozen=True)
class TrainedClassifier:
    model: Classifier
    seconds: float
    final_loss: float


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """(B, 1, H, W) in [-1, 1] -> each image moved by up to ``max_shift`` pixels, -1 filled."""
    if max_shift == 0:
        return images
    count, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=-1.0)  # (B, 1, H + 2s, W + 2s)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, count, 1), generator=generator)
    rows = offsets[0] + torch.arange(height)  # (B, H)
    columns = offsets[1] + torch.arange(width)  # (B, W)
    batch = torch.arange(count)[:, None, None]
    return padded[batch, 0, rows[:, :, None], columns[:, None, :]].unsqueeze(1)  # (B, 1, H, W)


def train_classifier(
    data: ImageData,
    config: ClassifierConfig | None = None,
    train_config: ClassifierTrainConfig | None = None,
) -> TrainedClassifier:
    """Train on one split (uint8 images, int labels) on the CPU; returns the model in eval mode."""
    config = config or ClassifierConfig()
    train_config = train_config or ClassifierTrainConfig()
    count = len(data)
    steps_per_epoch = count // train_config.batch_size  # a short last batch is skipped
    if steps_per_epoch < 1:
        raise ValueError(f"{count} images are fewer than one batch of {train_config.batch_size}")
    rng = torch.Generator().manual_seed(train_config.seed)
    model = build_classifier(config, train_config.seed).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=train_config.lr, total_steps=train_config.epochs * steps_per_epoch
    )
    images, labels = data.images.cpu(), data.labels.cpu()
    started = time.perf_counter()
    loss = torch.zeros(())
    for epoch in range(train_config.epochs):
        order = torch.randperm(count, generator=rng)
        total = torch.zeros(())
        for step in range(steps_per_epoch):
            index = order[step * train_config.batch_size : (step + 1) * train_config.batch_size]
            batch = random_shift(to_unit_range(images[index]), train_config.max_shift, rng)
            loss = F.cross_entropy(model(batch), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.detach()
        log.info(
            "classifier epoch %d/%d: mean loss %.4f (%.0fs)",
            epoch + 1,
            train_config.epochs,
            float(total) / steps_per_epoch,
            time.perf_counter() - started,
        )
    return TrainedClassifier(model.eval(), time.perf_counter() - started, float(loss.detach()))


@torch.no_grad()
def accuracy(model: Classifier, data: ImageData, batch_size: int = 1000) -> float:
    """Share of ``data`` the model labels correctly (eval mode, no augmentation)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    try:
        for start in range(0, len(data), batch_size):
            batch = to_unit_range(data.images[start : start + batch_size].to(device))
            predicted = model(batch).argmax(1).cpu()
            correct += int((predicted == data.labels[start : start + batch_size].cpu()).sum())
    finally:
        model.train(was_training)
    return correct / len(data)
