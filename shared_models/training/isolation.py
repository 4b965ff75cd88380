"""Making sure each training step changes only the network it trains.

During a discriminator step the generator runs in training mode (batch statistics, as in
the tutorial's graph) but must not move its BN running averages; during a generator step the
discriminator's weights get no gradients and its running averages stay put.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@contextmanager
def frozen_batchnorm_stats(module: nn.Module) -> Iterator[None]:
    """BN layers normalise with batch statistics but leave running stats untouched."""
    layers = [layer for layer in module.modules() if isinstance(layer, _BatchNorm)]
    previous = [layer.track_running_stats for layer in layers]
    for layer in layers:
        layer.track_running_stats = False
    try:
        yield
    finally:
        for layer, flag in zip(layers, previous, strict=True):
            layer.track_running_stats = flag


@contextmanager
def frozen_parameters(module: nn.Module) -> Iterator[None]:
    """No gradients for ``module``'s parameters (it is only a function of its input here)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for param in params:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param in params:
            param.requires_grad_(True)
