"""An exponential moving average of the generator's weights, the copy that gets served.

A GAN's generator keeps moving as the two networks chase each other: from one checkpoint to
the next a class can get better or worse by several points. Averaging the weights over the
last stretch of training smooths that out without touching training itself (the live
networks, their optimisers and losses are exactly as without it).

How far back the average reaches grows with the run. Update ``t`` gives the newest weights

    min(1, max(1 - decay, WINDOW_RAMP / t**2))

so the average spans about the last ``t**2 / WINDOW_RAMP`` iterations, a share ``t /
WINDOW_RAMP`` of the run, until that reaches the cap ``1 / (1 - decay)`` (1,000 iterations for
0.999, at 5,000 iterations); from there on it is a plain moving average. A short run therefore
serves close to its live weights, and no run weighs its noisy first iterations, which a fixed
0.999 with bias correction still does at 1,000 iterations (docs/weight_average.md measures
both).

Checkpoints of runs begun before the window grew (no ``window_ramp`` in their state) go on as
they began: a constant ``decay`` with Adam's bias correction,
``sum_i decay**(t - i) * w_i / sum_i decay**(t - i)``.

BatchNorm's running statistics are averaged the same way; integer buffers (the batch counter)
are copied.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from shared_models import weight_average
from shared_models.weight_average import step_size


class WeightAverage:
    def __init__(self, network: nn.Module, decay: float, window_ramp: int | None = None) -> None:
        """``window_ramp`` None: ``WINDOW_RAMP``; 0: the constant decay of older runs."""
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.window_ramp = weight_average.WINDOW_RAMP if window_ramp is None else window_ramp
        self.updates = 0
        self.weights = {
            name: tensor.detach().clone() for name, tensor in network.state_dict().items()
        }

    def step_size(self) -> float:
        """The weight the next update gives the newest weights (1 for the first update)."""
        return step_size(self.decay, self.updates + 1, self.window_ramp)

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
        return {
            "decay": self.decay,
            "window_ramp": self.window_ramp,
            "updates": self.updates,
            "weights": self.weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a saved average, on the schedule it was begun with."""
        if float(state["decay"]) != self.decay:
            raise ValueError(f"averaged with decay {state['decay']}, not {self.decay}")
        for name, tensor in state["weights"].items():
            self.weights[name].copy_(tensor)
        self.updates = int(state["updates"])
        self.window_ramp = int(state.get("window_ramp", 0))
