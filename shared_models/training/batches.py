"""Minibatches drawn from a data set that lives on the training device as one uint8 tensor.

Each sweep visits the training set in a fresh random order (no replacement, like CNTK's
randomised reader); a sweep's last partial batch is skipped, as the tutorial skips short
minibatches. The order and cursor are part of the checkpoint, so a resumed run draws exactly
the batches an uninterrupted one would have.
"""

from __future__ import annotations

from typing import Any

import torch


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) in [-1, 1], the tanh generator's range."""
    return images.unsqueeze(1).float().mul_(2.0 / 255.0).sub_(1.0)


class DeviceBatches:
    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        generator: torch.Generator,
    ) -> None:
        if batch_size > images.shape[0]:
            raise ValueError(
                f"batch size {batch_size} is larger than the data set ({images.shape[0]} images)"
            )
        self.images = images
        self.labels = labels
        self.batch_size = batch_size
        self.generator = generator
        self.order: torch.Tensor | None = None
        self.cursor = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        count = self.images.shape[0]
        if self.order is None or self.cursor + self.batch_size > count:
            self.order = torch.randperm(count, generator=self.generator, device=self.images.device)
            self.cursor = 0
        index = self.order[self.cursor : self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return to_unit_range(self.images.index_select(0, index)), self.labels.index_select(0, index)

    def state_dict(self) -> dict[str, Any]:
        order = None if self.order is None else self.order.cpu()
        return {"order": order, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        order = state["order"]
        self.order = None if order is None else order.to(self.images.device)
        self.cursor = int(state["cursor"])
