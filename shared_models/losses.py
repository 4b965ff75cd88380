"""The tutorial's losses, written on logits so that no log(0) can appear.

With D(x) = sigmoid(l): log D(x) = -softplus(-l) and log(1 - D(x)) = -softplus(l), both
finite for every finite logit, where log(sigmoid(l)) underflows to log(0) = -inf.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-(log D(x) + log(1 - D(G(z)))), averaged over the minibatch."""
    return (F.softplus(-real_logits) + F.softplus(fake_logits)).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """1 - log D(G(z)): the non-saturating generator loss, averaged over the minibatch."""
    return 1.0 + F.softplus(-fake_logits).mean()
