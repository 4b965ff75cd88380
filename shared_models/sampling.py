"""The sampling pipeline: inputs -> generator -> uint8 digits.

Inputs are noise rows drawn on the CPU from a seed (so they do not depend on the model's
device) and, for a conditional generator, one class label per row: ``grid_inputs`` for an
n-sample grid, ``interpolation_inputs`` for a walk between two seeds. ``generate`` runs the
generator on them and quantises its output; it is the one path from a generator to images,
taken by ``dcgan sample``, evaluation and the service's batcher. The images are white digits
on black like MNIST (tanh output -1 -> 0, +1 -> 255); ``shared_models.grids`` lays them out
and encodes PNG.

The same generator and inputs always give the same bytes, and a row's bytes depend only on
that row's noise and label, not on the other rows it is computed with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch

from shared_models.networks import Generator
from shared_models.noise import seeded_noise

# Every forward pass runs on blocks of exactly this many rows (the last one zero-padded). The
# CPU kernels pick their algorithm by batch size, and a row's pixels can differ in the last
# float bits between sizes; with one block size a sample's bytes depend only on its noise,
# whether it is drawn alone, in a bigger grid or batched with other requests. 16 rows: a
# small grid pads to 16 rows, not 32, while a block is still big enough for efficient kernels
# (per row about 1.15x the cost in a 32-row block, against 1.55x at 8 rows).
RENDER_BLOCK = 16

# map_blocks(forward, starts): the forward of every block, in order. ``map`` runs them one
# after the other in this thread; ``service.batching`` spreads them over threads.
BlockMap = Callable[[Callable[[int], torch.Tensor], Iterable[int]], Iterable[torch.Tensor]]


@dataclass(frozen=True)
class SampleInputs:
    """What the generator draws from: noise rows z (n, nz) and, for a conditional generator,
    one class label per row (n,); at least one row."""

    z: torch.Tensor
    labels: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.z.ndim != 2 or self.z.shape[0] < 1:
            raise ValueError(f"z must be (n, nz) with n >= 1, got {tuple(self.z.shape)}")
        if self.labels is not None and self.labels.shape != (self.rows,):
            raise ValueError(
                f"labels must have shape ({self.rows},), got {tuple(self.labels.shape)}"
            )

    @property
    def rows(self) -> int:
        return int(self.z.shape[0])

    @staticmethod
    def cat(parts: Sequence[SampleInputs]) -> SampleInputs:
        """The rows of every part, in order (all with labels, or none)."""
        labels = [part.labels for part in parts if part.labels is not None]
        if labels and len(labels) != len(parts):
            raise ValueError("cannot join inputs with labels to inputs without")
        return SampleInputs(torch.cat([part.z for part in parts]),
                            torch.cat(labels) if labels else None)


def grid_inputs(
    generator: Generator, n: int, seed: int, digit: int | None = None
) -> SampleInputs:
    """The inputs of an n-sample grid for ``seed``. A conditional generator draws every class
    in turn (0, 1, ..., C-1, 0, ...: each class n / C times, to within one), or ``digit``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return SampleInputs(seeded_noise(n, generator.config.nz, seed),
                        _class_labels(generator, n, digit))


def interpolation_inputs(
    generator: Generator, seed_a: int, seed_b: int, steps: int, digit: int | None = None
) -> SampleInputs:
    """``steps`` noise rows walking the latent space, by spherical interpolation, from the
    first sample of seed_a's grid to seed_b's. A conditional generator draws ``digit``
    (default 0) all along."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    nz = generator.config.nz
    z = _slerp(seeded_noise(1, nz, seed_a)[0], seeded_noise(1, nz, seed_b)[0],
               torch.linspace(0.0, 1.0, steps))
    if generator.config.num_classes and digit is None:
        digit = 0
    return SampleInputs(z, _class_labels(generator, steps, digit))


def generate(
    generator: Generator, inputs: SampleInputs, map_blocks: BlockMap = map
) -> torch.Tensor:
    """The generator in eval mode on ``inputs``, as uint8 (n, 28, 28) images on the CPU.

    It runs on blocks of RENDER_BLOCK rows, so a row's bits depend only on that row's noise
    and label; ``map_blocks`` runs the blocks' forwards (see ``BlockMap``). The generator's
    mode is left as it was and its batch-norm statistics untouched.
    """
    return to_uint8(outputs(generator, inputs, map_blocks)[:, 0]).cpu()


def outputs(
    generator: Generator, inputs: SampleInputs, map_blocks: BlockMap = map
) -> torch.Tensor:
    """``generate``'s float outputs, (n, 1, 28, 28) in [-1, 1], on the generator's device.

    Every tensor that meets the generator's is moved to its device here, once: the inputs
    are made on the CPU (the same noise whatever the device) and go where the model is.
    """
    device = next(generator.parameters()).device
    count = inputs.rows
    padding = (-count) % RENDER_BLOCK
    z = torch.cat([inputs.z, inputs.z.new_zeros(padding, inputs.z.shape[1])]).to(device)
    labels = inputs.labels
    if labels is not None:
        labels = torch.cat([labels, labels.new_zeros(padding)]).to(device)

    def forward(start: int) -> torch.Tensor:
        with torch.no_grad():  # per thread: the block may run in another one
            return generator(
                z[start : start + RENDER_BLOCK],
                None if labels is None else labels[start : start + RENDER_BLOCK],
            )

    was_training = generator.training
    generator.eval()
    try:
        blocks = list(map_blocks(forward, range(0, z.shape[0], RENDER_BLOCK)))
    finally:
        generator.train(was_training)
    return torch.cat(blocks)[:count]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> 0..255 uint8, rounding half away from zero like PIL."""
    return images.float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def _class_labels(generator: Generator, n: int, digit: int | None) -> torch.Tensor | None:
    """Labels for a conditional generator: all ``digit``, or every class in turn; None for an
    unconditional one, which cannot be asked for a digit."""
    classes = generator.config.num_classes
    if digit is None:
        return torch.arange(n) % classes if classes else None
    if not classes:
        raise ValueError("this model is not conditional: it cannot draw a chosen digit")
    if not 0 <= digit < classes:
        raise ValueError(f"digit must be between 0 and {classes - 1}, got {digit}")
    return torch.full((n,), digit, dtype=torch.long)


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between the rows a and b (shape (nz,)) at fractions t (k,)."""
    a64, b64, t64 = a.double(), b.double(), t.double()[:, None]
    cos = (a64 @ b64 / (a64.norm() * b64.norm())).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    if omega.abs() < 1e-6:  # (nearly) parallel: the arc is a line
        return ((1 - t64) * a64 + t64 * b64).to(a.dtype)
    mixed = (torch.sin((1 - t64) * omega) * a64 + torch.sin(t64 * omega) * b64) / torch.sin(omega)
    return mixed.to(a.dtype)
