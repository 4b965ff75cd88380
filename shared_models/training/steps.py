"""The two training steps on given inputs, and the optimisers they use.

``TrainingSteps`` runs one discriminator or generator update on inputs drawn by the
``Trainer``. The arithmetic is the tutorial's; what is tuned is how it runs:

- the generator's forward in a discriminator step builds no autograd graph, and a generator
  step freezes the discriminator's weights, so no gradient is computed that is thrown away;
- Adam is PyTorch's fused single-kernel implementation (CPU and CUDA);
- the precision is the session's resolved one (``shared_models.training.setup``): under
  bfloat16 autocast the networks compute in bfloat16 while losses, BatchNorm and the optimiser
  states stay float32;
- ``compile=True`` wraps both loss computations in ``torch.compile``, with CUDA graphs on
  CUDA, where batch-128 steps are bound by kernel launches. It is for CUDA and long runs: on
  a small CPU it is slower than the eager path, and the compile itself takes a while
  (docs/performance.md).

Nothing here reads a value back to the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from shared_models.config import TrainConfig
from shared_models.losses import discriminator_loss, generator_loss
from shared_models.training.isolation import frozen_batchnorm_stats, frozen_parameters

FUSED_ADAM_DEVICES = ("cpu", "cuda")


def autocast_dtype(resolved_precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (None: float32 storage, no autocast)."""
    return torch.bfloat16 if resolved_precision == "bfloat16" else None


def make_adam(
    params: Iterable[nn.Parameter], config: TrainConfig, device: torch.device
) -> torch.optim.Adam:
    """The tutorial's Adam, fused where PyTorch has a fused kernel for ``device``."""
    fused = device.type in FUSED_ADAM_DEVICES
    optimizer = torch.optim.Adam(
        params,
        lr=config.lr,
        betas=(config.beta1, config.adam_beta2),
        eps=config.eps,
        fused=fused or None,
    )
    if fused:
        optimizer.register_load_state_dict_post_hook(_keep_fused)
    return optimizer


def _keep_fused(optimizer: torch.optim.Optimizer) -> None:
    """After loading a state dict (perhaps written by an unfused optimiser): fused again.

    Loading takes the saved param groups' flags and the saved state tensors' layouts; the
    fused kernel needs its flag, the step counts on the parameters' device, and every state
    tensor laid out exactly like its parameter (it walks them as flat memory).
    """
    for group in optimizer.param_groups:
        group["fused"], group["foreach"] = True, None
        for param in group["params"]:
            state = optimizer.state.get(param)
            if not state:
                continue
            for key, value in state.items():
                if not isinstance(value, torch.Tensor):
                    continue
                if key == "step":
                    state[key] = value.to(device=param.device, dtype=torch.float32)
                elif value.shape == param.shape and value.stride() != param.stride():
                    state[key] = torch.empty_like(param).copy_(value)


class TrainingSteps:
    """One discriminator update and one generator update, on inputs given by the caller."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        g_optimizer: torch.optim.Optimizer,
        d_optimizer: torch.optim.Optimizer,
        config: TrainConfig,
        device: torch.device,
        precision: str,
    ) -> None:
        """``precision`` is the resolved one (float32, tf32 or bfloat16)."""
        self.generator = generator
        self.discriminator = discriminator
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.device = device
        self.autocast_dtype = autocast_dtype(precision)
        self.compiled = config.compile
        self._d_loss: Callable[..., torch.Tensor] = self.discriminator_loss
        self._g_loss: Callable[..., torch.Tensor] = self.generator_loss
        if config.compile:
            # CUDA: CUDA graphs remove the launch overhead that dominates batch-128 steps there
            mode = "reduce-overhead" if device.type == "cuda" else None
            self._d_loss = torch.compile(self.discriminator_loss, mode=mode, dynamic=False)
            self._g_loss = torch.compile(self.generator_loss, mode=mode, dynamic=False)

    def _autocast(self) -> AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # --- the losses (what torch.compile sees) ------------------------------------------------

    def discriminator_loss(
        self,
        z: torch.Tensor,
        fake_labels: torch.Tensor | None,
        real: torch.Tensor,
        real_labels: torch.Tensor | None,
    ) -> torch.Tensor:
        with self._autocast():
            with torch.no_grad():
                fake = self.generator(z, fake_labels)
            real_logits = self.discriminator(real, real_labels)
            fake_logits = self.discriminator(fake, fake_labels)
        return discriminator_loss(real_logits.float(), fake_logits.float())

    def generator_loss(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        with self._autocast():
            logits = self.discriminator(self.generator(z, labels), labels)
        return generator_loss(logits.float())

    # --- the updates --------------------------------------------------------------------------

    def discriminator_step(
        self,
        z: torch.Tensor,
        fake_labels: torch.Tensor | None,
        real: torch.Tensor,
        real_labels: torch.Tensor | None,
    ) -> torch.Tensor:
        """Train D on one real and one generated batch; G runs without moving its BN stats."""
        with frozen_batchnorm_stats(self.generator):
            self._mark_step()
            loss = self._d_loss(z, fake_labels, real, real_labels)
        self.d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.d_optimizer.step()
        return self._keep(loss)

    def generator_step(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Train G through a frozen D (no weight gradients, no BN running-average updates)."""
        with frozen_parameters(self.discriminator), frozen_batchnorm_stats(self.discriminator):
            self._mark_step()
            loss = self._g_loss(z, labels)
            self.g_optimizer.zero_grad(set_to_none=True)
            loss.backward()
        self.g_optimizer.step()
        return self._keep(loss)

    def _mark_step(self) -> None:
        if self.compiled and self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()

    def _keep(self, loss: torch.Tensor) -> torch.Tensor:
        # a CUDA-graph output is overwritten by the graph's next replay: keep a copy
        return loss.detach().clone() if self.compiled else loss.detach()
