"""An exponential moving average of the generator's weights, the copy that gets served.

A GAN's generator keeps moving as the two networks chase each other: from one checkpoint to
the next a class can get better or worse by several points. Averaging the weights over the
last stretch of training smooths that out without touching training itself (the live
networks, their optimisers and losses are exactly as without it).

The average is bias-corrected like Adam's moments: after ``t`` updates it is

    sum_i decay**(t - i) * w_i / sum_i decay**(t - i)

over the weights ``w_1 .. w_t`` seen so far, so it never mixes in the initial weights and is
a proper average from the first update on. BatchNorm's running statistics are averaged the
same way; integer buffers (the batch counter) are copied.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class WeightAverage:
    def __init__(self, network: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.weights = {
            name: tensor.detach().clone() for name, tensor in network.state_dict().items()
        }

    def step_size(self) -> float:
        """The weight the next update gives the newest weights (1 for the first update)."""
        t = self.updates + 1
        return (1 - self.decay) / (1 - self.decay**t)

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        current = network.state_dict()
        averaged, latest = [], []
        for name, average in self.weights.items():
            if average.is_floating_point():
                averaged.append(average)
                latest.append(current[name].detach())
            else:
                average.copy_(current[name])
        torch._foreach_lerp_(averaged, latest, self.step_size())
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "weights": self.weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if float(state["decay"]) != self.decay:
            raise ValueError(f"averaged with decay {state['decay']}, not {self.decay}")
        for name, tensor in state["weights"].items():
            self.weights[name].copy_(tensor)
        self.updates = int(state["updates"])
