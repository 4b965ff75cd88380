"""One GAN training iteration as the tutorial runs it, and everything a checkpoint needs.

Each iteration: ``k`` discriminator steps (fresh noise and a fresh real batch each), then
``g_steps`` generator steps on one shared noise batch. Losses stay on the device in a
per-iteration history; nothing here reads a value back to the host. How each update runs
(fused Adam, the fast layer forms, autocast, torch.compile) lives in ``steps.py``
and ``shared_models/layers.py``; this class draws the inputs and owns the checkpoint state.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import torch

from shared_models.checkpoint import FORMAT_VERSION
from shared_models.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    TrainConfig,
    from_dict,
    to_dict,
)
from shared_models.data.datasets import ImageData
from shared_models.layers import use_fast_layers
from shared_models.networks import Discriminator, Generator, init_weights
from shared_models.noise import sample_noise
from shared_models.training.averaging import WeightAverage
from shared_models.training.batches import DeviceBatches
from shared_models.training.setup import Segment, apply_matmul_precision
from shared_models.training.steps import TrainingSteps, make_adam

log = logging.getLogger(__name__)


class Trainer:
    def __init__(
        self,
        train_config: TrainConfig,
        generator_config: GeneratorConfig,
        discriminator_config: DiscriminatorConfig,
        data: ImageData,
        device: torch.device,
    ) -> None:
        if generator_config.num_classes != discriminator_config.num_classes:
            raise ValueError("generator and discriminator disagree on num_classes")
        self.config = train_config
        self.generator_config = generator_config
        self.discriminator_config = discriminator_config
        self.device = device
        self.dataset = data.name
        self.conditional = generator_config.num_classes > 0

        init_rng = torch.Generator().manual_seed(train_config.seed)  # device-independent init
        self.generator = Generator(generator_config)
        self.discriminator = Discriminator(discriminator_config)
        init_weights(self.generator, init_rng)
        init_weights(self.discriminator, init_rng)
        for network in (self.generator, self.discriminator):
            network.to(device).train()
            use_fast_layers(network, device)  # after init: same values, faster layout

        self.average = (
            WeightAverage(self.generator, train_config.ema_decay)
            if train_config.ema_decay
            else None
        )
        self.g_optimizer = make_adam(self.generator.parameters(), train_config, device)
        self.d_optimizer = make_adam(self.discriminator.parameters(), train_config, device)
        self.segment = Segment.start(train_config, device, step=0)
        self.earlier_segments: list[dict[str, Any]] = []  # of the run before this session
        apply_matmul_precision(self.segment)
        self.steps = TrainingSteps(
            self.generator,
            self.discriminator,
            self.g_optimizer,
            self.d_optimizer,
            train_config,
            device,
            self.segment.precision,
        )

        self.rng = torch.Generator(device=device).manual_seed(train_config.seed)
        self.batches = DeviceBatches(
            data.images.to(device), data.labels.to(device), train_config.batch_size, self.rng
        )
        self.step = 0
        self.history = torch.zeros(train_config.iterations, 2, device=device)  # (d, g) per step
        self.elapsed_s = 0.0

    # --- the tutorial's schedule -------------------------------------------------------------

    def noise(self) -> torch.Tensor:
        return sample_noise(self.config.batch_size, self.generator_config.nz, self.rng, self.device)

    def fake_labels(self) -> torch.Tensor | None:
        if not self.conditional:
            return None
        return torch.randint(
            self.generator_config.num_classes,
            (self.config.batch_size,),
            generator=self.rng,
            device=self.device,
        )

    def discriminator_step(self) -> torch.Tensor:
        z, fake_labels = self.noise(), self.fake_labels()
        real, labels = self.batches.next()
        real_labels = labels if self.conditional else None
        return self.steps.discriminator_step(z, fake_labels, real, real_labels)

    def generator_step(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self.steps.generator_step(z, labels)

    def iteration(self) -> None:
        d_losses = [self.discriminator_step() for _ in range(self.config.k)]
        z, labels = self.noise(), self.fake_labels()
        g_losses = [self.generator_step(z, labels) for _ in range(self.config.g_steps)]
        self.history[self.step, 0] = torch.stack(d_losses).mean()
        self.history[self.step, 1] = torch.stack(g_losses).mean()
        if self.average is not None:
            self.average.update(self.generator)
        self.step += 1

    def mean_losses(self, start: int, stop: int) -> tuple[float, float]:
        """Average D and G loss over iterations [start, stop) — one host sync."""
        d, g = self.history[start:stop].mean(dim=0).tolist()
        return d, g

    # --- checkpoint state --------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        # the trainer's own generator is the only randomness training draws from: no global
        # CPU or CUDA state is needed to resume (nor restored on a machine with other GPUs)
        rng: dict[str, Any] = {"trainer": self.rng.get_state()}
        return {
            "format": FORMAT_VERSION,
            "step": self.step,
            "dataset": self.dataset,
            "generator_config": to_dict(self.generator_config),
            "discriminator_config": to_dict(self.discriminator_config),
            "train_config": to_dict(self.config),
            "generator": self.generator.state_dict(),
            **({"generator_average": self.average.state_dict()} if self.average else {}),
            "discriminator": self.discriminator.state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "rng": rng,
            "data_order": self.batches.state_dict(),
            "loss_history": self.history[: self.step].cpu(),
            "device": self.device.type,
            "segments": [*self.earlier_segments, self.segment.to_dict()],
            "elapsed_s": self.elapsed_s,
        }

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        data: ImageData,
        device: torch.device,
        train_config: TrainConfig | None = None,
    ) -> Trainer:
        """Rebuild a trainer from a checkpoint (``train_config`` may extend its iterations)."""
        trainer = cls(
            train_config or from_dict(TrainConfig, state["train_config"]),
            from_dict(GeneratorConfig, state["generator_config"]),
            from_dict(DiscriminatorConfig, state["discriminator_config"]),
            data,
            device,
        )
        trainer.load_state_dict(state)
        return trainer

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        if self.average is not None:
            self.average.load_state_dict(state["generator_average"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.step = int(state["step"])
        if self.step > self.config.iterations:
            raise ValueError(
                f"checkpoint is at step {self.step}, beyond {self.config.iterations} iterations"
            )
        history = state["loss_history"]
        self.history[: history.shape[0]] = history.to(self.device)
        self.elapsed_s = float(state.get("elapsed_s", 0.0))
        self.batches.load_state_dict(state["data_order"])
        rng = state["rng"]
        if state.get("device", "cpu") == self.device.type:
            self.rng.set_state(rng["trainer"])
        else:
            log.warning(
                "checkpoint was written on %s, resuming on %s: the noise stream is reseeded",
                state.get("device"),
                self.device.type,
            )
            self.rng.manual_seed(self.config.seed + self.step)
        self.earlier_segments = list(state.get("segments", []))
        self.segment = replace(self.segment, from_step=self.step)
