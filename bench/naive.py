"""The yardstick: the tutorial's training iteration and a /generate render, written plainly.

Same networks, losses, initialisation, Adam hyper-parameters and schedule as the project's
``Trainer`` (k discriminator steps with fresh noise and a fresh real batch each, then g_steps
generator steps on one noise batch), written the obvious eager way: the generator's forward
in a discriminator step builds an autograd graph and is ``.detach()``-ed, the discriminator's
weights stay trainable during a generator step (their gradients are computed and thrown away
by the next ``zero_grad``), default Adam, float32, contiguous NCHW. Like the project it leaves
the other network's BN running averages alone (that is the model's definition, not a speed
choice), so a naive and an optimised run from the same state end in the same state.

Nothing in the product imports this module; the benchmark and the equivalence test do.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from shared_models.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from shared_models.grids import grid_png
from shared_models.losses import discriminator_loss, generator_loss
from shared_models.networks import Discriminator, Generator, init_weights
from shared_models.noise import sample_noise, seeded_noise
from shared_models.sampling import to_uint8
from shared_models.training.batches import to_unit_range
from shared_models.training.isolation import frozen_batchnorm_stats

# (z, fake_labels, real, real_labels) for one discriminator step
DStepInputs = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]


class NaiveTrainer:
    """``NaiveTrainer(train_config, gcfg, dcfg, images_uint8, device).iteration()``.

    ``images_uint8`` is (N, 28, 28) uint8; ``labels`` (N,) is needed for conditional configs.
    The inputs of each step come from ``self.draw_d_inputs`` and ``self.draw_g_inputs``; a
    test may replace them to feed both trainers the same noise and real batches.
    """

    def __init__(
        self,
        train_config: TrainConfig,
        generator_config: GeneratorConfig,
        discriminator_config: DiscriminatorConfig,
        images_uint8: torch.Tensor,
        device: torch.device,
        labels: torch.Tensor | None = None,
    ) -> None:
        self.config = train_config
        self.device = device
        self.num_classes = generator_config.num_classes
        init_rng = torch.Generator().manual_seed(train_config.seed)
        self.generator = Generator(generator_config)
        self.discriminator = Discriminator(discriminator_config)
        init_weights(self.generator, init_rng)
        init_weights(self.discriminator, init_rng)
        self.generator.to(device).train()
        self.discriminator.to(device).train()
        betas = (train_config.beta1, train_config.adam_beta2)
        self.g_optimizer = torch.optim.Adam(
            self.generator.parameters(), lr=train_config.lr, betas=betas, eps=train_config.eps
        )
        self.d_optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=train_config.lr, betas=betas, eps=train_config.eps
        )
        self.images = images_uint8.to(device)
        self.labels = None if labels is None else labels.to(device)
        self.rng = torch.Generator(device=device).manual_seed(train_config.seed)
        self.order: torch.Tensor | None = None  # drawn on first use, after the first noise
        self.cursor = 0
        self.losses: list[tuple[float, float]] = []
        self.draw_d_inputs: Callable[[], DStepInputs] = self._draw_d_inputs
        self.draw_g_inputs: Callable[[], tuple[torch.Tensor, torch.Tensor | None]] = (
            self._draw_g_inputs
        )

    # --- inputs --------------------------------------------------------------------------

    def _noise(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch = self.config.batch_size
        z = sample_noise(batch, self.generator.config.nz, self.rng, self.device)
        labels = None
        if self.num_classes:
            labels = torch.randint(
                self.num_classes, (batch,), generator=self.rng, device=self.device
            )
        return z, labels

    def _real(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch = self.config.batch_size
        if self.order is None or self.cursor + batch > len(self.images):
            self.order = torch.randperm(len(self.images), generator=self.rng, device=self.device)
            self.cursor = 0
        index = self.order[self.cursor : self.cursor + batch]
        self.cursor += batch
        labels = None if self.labels is None else self.labels[index]
        return to_unit_range(self.images[index]), labels

    def _draw_d_inputs(self) -> DStepInputs:
        z, fake_labels = self._noise()
        real, real_labels = self._real()
        return z, fake_labels, real, real_labels

    def _draw_g_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._noise()

    # --- the schedule --------------------------------------------------------------------

    def discriminator_step(self) -> torch.Tensor:
        z, fake_labels, real, real_labels = self.draw_d_inputs()
        with frozen_batchnorm_stats(self.generator):
            fake = self.generator(z, fake_labels).detach()
        loss = discriminator_loss(
            self.discriminator(real, real_labels), self.discriminator(fake, fake_labels)
        )
        self.d_optimizer.zero_grad()
        loss.backward()
        self.d_optimizer.step()
        return loss

    def generator_step(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        with frozen_batchnorm_stats(self.discriminator):
            loss = generator_loss(self.discriminator(self.generator(z, labels), labels))
        self.g_optimizer.zero_grad()
        loss.backward()
        self.g_optimizer.step()
        return loss

    def iteration(self) -> tuple[float, float]:
        d_losses = [self.discriminator_step().item() for _ in range(self.config.k)]
        z, labels = self.draw_g_inputs()
        g_losses = [self.generator_step(z, labels).item() for _ in range(self.config.g_steps)]
        losses = (sum(d_losses) / len(d_losses), sum(g_losses) / len(g_losses))
        self.losses.append(losses)
        return losses


def naive_render(
    generator: Generator,
    n: int = 64,
    nrow: int = 8,
    padding: int = 2,
    seed: int = 0,
    labels: torch.Tensor | None = None,
) -> bytes:
    """One /generate request, plainly: eval-mode forward on the request's noise, then PNG."""
    device = next(generator.parameters()).device
    z = seeded_noise(n, generator.config.nz, seed).to(device)
    was_training = generator.training
    generator.eval()
    images = generator(z, None if labels is None else labels.to(device)).detach()
    generator.train(was_training)
    return grid_png(to_uint8(images[:, 0]).cpu(), nrow, padding)
