"""The generator's weight average as a schedule and in words: how much each update keeps, and
what a checkpoint's sampling weights are. The average itself is kept while training
(``shared_models.training.averaging``); this part is what readers of stored models need too,
without importing training.

Update ``t`` gives the newest weights ``min(1, max(1 - decay, WINDOW_RAMP / t**2))``: the
average reaches back about ``t**2 / WINDOW_RAMP`` iterations — a share of the run that grows
with it — until the cap ``1 / (1 - decay)``. Averages begun before the window grew
(``window_ramp`` 0) keep a constant, bias-corrected decay.
"""

from __future__ import annotations

import math
from typing import Any

# the window is t / WINDOW_RAMP of a run of t iterations: 2 % at 500, 8 % at 2,000, and it
# reaches 0.999's cap of 1,000 iterations at 5,000 (chosen in docs/weight_average.md)
WINDOW_RAMP = 25_000


def step_size(decay: float, update: int, window_ramp: int) -> float:
    """The weight update number ``update`` (from 1) gives the newest weights; the rest of the
    average keeps ``1 -`` that. ``window_ramp`` 0 is the constant, bias-corrected decay of runs
    begun before the window grew with the run."""
    if window_ramp:
        return min(1.0, max(1 - decay, window_ramp / update**2))
    return (1 - decay) / (1 - decay**update)


def describe_average(average: dict[str, Any] | None) -> str:
    """What a checkpoint's sampling weights are, and why, in one sentence (for the models
    row, /models and the model card): from the ``generator_average`` state, or None."""
    if average is None:
        return "the live weights: the run keeps no weight average (ema_decay 0)"
    decay, updates = float(average["decay"]), int(average["updates"])
    ramp = int(average.get("window_ramp", 0))
    if not ramp:
        return describe_constant_average(decay)
    window = min(1 / step_size(decay, updates, ramp), updates) if updates else 1.0
    cap = 1 / (1 - decay)
    if window <= 1:
        reach = (f"the live weights so far: its window opens at about {math.sqrt(ramp):,.0f} "
                 f"of the run's iterations")
    else:
        reach = f"over about the last {window:,.0f} of {updates:,} iterations"
    return (
        f"the weight average (ema_decay {decay:g}) {reach}; the window grows with the run, "
        f"up to {cap:,.0f} iterations, so a short run serves close to its live weights and a "
        "long one leaves out its first, noisy iterations"
    )


def describe_constant_average(decay: float) -> str:
    """``describe_average`` for an average begun before the window grew with the run."""
    return (
        f"the weight average (ema_decay {decay:g}) with a constant, bias-corrected decay, as "
        "runs begun before its window grew with the run keep it: it weighs every iteration of "
        f"a run shorter than about {1 / (1 - decay):,.0f}, the first, noisy ones included"
    )
