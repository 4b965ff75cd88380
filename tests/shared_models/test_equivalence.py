"""The optimised Trainer computes what the plain eager yardstick (bench/naive.py) computes.

Both start from the same weights (same seed, same init); every noise batch, label batch and
real MNIST batch the Trainer draws is recorded and fed to the naive trainer in the same order.
After a few iterations the per-iteration losses and every parameter and BN buffer must agree
to float tolerance. A deliberately different schedule must not: the comparison can fail.

The CPU variants always run; the CUDA ones run where CUDA is present and are skipped (and
say so) elsewhere.
"""

from __future__ import annotations

import copy
import io
from collections import deque
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from bench.naive import NaiveTrainer, naive_render
from shared_models.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from shared_models.data import ImageData
from shared_models.generator_io import generator_from_state
from shared_models.grids import grid_png
from shared_models.layers import GemmConv2d, GemmConvTranspose2d, SplitGradientConvTranspose2d
from shared_models.sampling import generate, grid_inputs
from shared_models.training import Trainer
from tests.conftest import TINY_D, TINY_G

CPU = torch.device("cpu")
# GPU tests are deselected by default (pyproject's addopts); bench/gpu_check.sh selects them
on_gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# Two correct float32 implementations drift apart over a GAN's first iterations (the naive
# loop against itself on 1 thread instead of 2 drifts just as fast: about 0.2% of each
# tensor's movement after 2 iterations at batch 32, 5% after 3). So the check is on how far
# each tensor moved: the two runs' movements must agree to RELATIVE. A wrong schedule (one
# generator step instead of two) misses by about 100%.
RELATIVE = 1e-2
# Adam turns any gradient into a step of about lr, so float noise in a gradient that should
# be exactly zero (a bias feeding a BatchNorm, which cancels it) moves that bias by up to lr
# per update in either run, and the BN's running mean with it. Those only get lr's budget.
BIASES_BEFORE_BATCHNORM = {
    "generator": ("fc1.bias", "fc2.bias", "deconv1.bias"),
    "discriminator": ("conv1.bias", "conv2.bias", "fc1.bias"),
}


class Recorder:
    """Wraps a Trainer's draws (noise, fake labels, real batches) and replays them."""

    def __init__(self, trainer: Trainer) -> None:
        self.noise: deque[torch.Tensor] = deque()
        self.fake_labels: deque[torch.Tensor | None] = deque()
        self.real: deque[tuple[torch.Tensor, torch.Tensor | None]] = deque()
        noise, fake_labels, next_batch = trainer.noise, trainer.fake_labels, trainer.batches.next
        conditional = trainer.conditional

        def record_noise() -> torch.Tensor:
            z = noise()
            self.noise.append(z.clone())
            return z

        def record_fake_labels() -> torch.Tensor | None:
            labels = fake_labels()
            self.fake_labels.append(None if labels is None else labels.clone())
            return labels

        def record_batch() -> tuple[torch.Tensor, torch.Tensor]:
            real, labels = next_batch()
            self.real.append((real.clone(), labels.clone() if conditional else None))
            return real, labels

        trainer.noise = record_noise  # type: ignore[method-assign]
        trainer.fake_labels = record_fake_labels  # type: ignore[method-assign]
        trainer.batches.next = record_batch  # type: ignore[method-assign]

    def feed(self, naive: NaiveTrainer) -> None:
        def d_inputs() -> Any:
            real, real_labels = self.real.popleft()
            return self.noise.popleft(), self.fake_labels.popleft(), real, real_labels

        def g_inputs() -> Any:
            return self.noise.popleft(), self.fake_labels.popleft()

        naive.draw_d_inputs = d_inputs
        naive.draw_g_inputs = g_inputs


def snapshot(trainer: Trainer | NaiveTrainer) -> dict[str, dict[str, torch.Tensor]]:
    return {
        network: {
            k: v.detach().cpu().clone() for k, v in getattr(trainer, network).state_dict().items()
        }
        for network in ("generator", "discriminator")
    }


def run_both(
    config: TrainConfig,
    gcfg: GeneratorConfig,
    dcfg: DiscriminatorConfig,
    data: ImageData,
    device: torch.device,
    naive_config: TrainConfig | None = None,
) -> tuple[Trainer, NaiveTrainer, dict[str, dict[str, torch.Tensor]]]:
    """Both trainers for config.iterations on the same inputs; also their common start."""
    trainer = Trainer(config, gcfg, dcfg, data, device)
    naive = NaiveTrainer(naive_config or config, gcfg, dcfg, data.images, device, data.labels)
    start = snapshot(naive)
    assert all(
        torch.equal(value, start[network][name])
        for network, state in snapshot(trainer).items()
        for name, value in state.items()
    ), "the trainers do not start from the same weights"
    recorder = Recorder(trainer)
    recorder.feed(naive)
    for _ in range(config.iterations):
        trainer.iteration()
        naive.iteration()
    assert not recorder.noise and not recorder.real, "the two trainers drew different inputs"
    return trainer, naive, start


def differences(
    trainer: Trainer, naive: NaiveTrainer, start: dict[str, dict[str, torch.Tensor]]
) -> list[str]:
    """Every loss, parameter or buffer that differs beyond tolerance, described."""
    problems = []
    losses = torch.tensor(naive.losses, dtype=torch.float32)
    ours = trainer.history[: trainer.step].float().cpu()
    if not torch.allclose(ours, losses, rtol=1e-4, atol=1e-5):
        problems.append(f"losses: {ours.tolist()} vs naive {losses.tolist()}")
    config = trainer.config
    bias_budget = 2 * config.lr * (config.k + config.g_steps) * trainer.step
    ours_now, theirs = snapshot(trainer), snapshot(naive)
    for network, state in ours_now.items():
        for name, got in state.items():
            want, before = theirs[network][name], start[network][name]
            if not got.is_floating_point():
                if not torch.equal(got, want):
                    problems.append(f"{network}.{name}: {got.tolist()} vs {want.tolist()}")
                continue
            got, want, before = got.float(), want.float(), before.float()
            if name in BIASES_BEFORE_BATCHNORM[network] or name.endswith("running_mean"):
                worst = (got - want).abs().max().item()
                if worst > bias_budget:
                    problems.append(f"{network}.{name}: max |difference| {worst:.3g}")
                continue
            moved = (want - before).norm().item()
            apart = (got - want).norm().item()
            if apart > RELATIVE * moved + 1e-7:
                problems.append(f"{network}.{name}: {apart:.3g} apart, moved {moved:.3g}")
    return problems


FULL_SIZE = (GeneratorConfig(), DiscriminatorConfig())


@pytest.mark.parametrize(
    ("gcfg", "dcfg", "batch_size", "iterations"),
    [
        pytest.param(*FULL_SIZE, 32, 2, id="tutorial-networks", marks=pytest.mark.full_size),
        pytest.param(
            replace(TINY_G, num_classes=10),
            replace(TINY_D, num_classes=10),
            16,
            4,
            id="tiny-conditional",
        ),
    ],
)
def test_optimised_training_matches_the_naive_loop_on_cpu(
    mnist_small, gcfg, dcfg, batch_size, iterations
):
    config = TrainConfig(iterations=iterations, batch_size=batch_size, seed=5)
    # RELATIVE is calibrated on two threads: on one, oneDNN's channels-last kernels add in
    # another order and the tutorial's networks drift about 10 % apart in two iterations
    # (Adam makes a full step of any sign noise), with the channels-last layout alone
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert differences(*run_both(config, gcfg, dcfg, mnist_small, CPU)) == []
    finally:
        torch.set_num_threads(threads)


@pytest.mark.full_size
def test_the_cpu_trainer_really_runs_the_optimised_layers(mnist_small):
    trainer = Trainer(TrainConfig(iterations=1), *FULL_SIZE, mnist_small, CPU)
    assert isinstance(trainer.generator.deconv2, GemmConvTranspose2d)
    assert isinstance(trainer.generator.deconv1, SplitGradientConvTranspose2d)
    assert isinstance(trainer.discriminator.conv2, GemmConv2d)
    assert trainer.generator.deconv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(group["fused"] for group in trainer.g_optimizer.param_groups)


def test_the_comparison_detects_a_different_schedule(mnist_small):
    """One generator step instead of two in the naive loop must show up as differences."""
    config = TrainConfig(iterations=2, batch_size=32, seed=5)
    trainer, naive, start = run_both(
        config, TINY_G, TINY_D, mnist_small, CPU, naive_config=replace(config, g_steps=1)
    )
    problems = differences(trainer, naive, start)
    assert any(p.startswith("losses") for p in problems), problems
    assert any(p.startswith("generator.deconv1.weight") for p in problems), problems


def test_a_loaded_unfused_optimiser_state_trains_like_the_original(mnist_small):
    """A checkpoint's Adam state written by an unfused optimiser (older runs) resumes fused,
    with its state laid out like the (channels-last) parameters."""
    config = TrainConfig(iterations=4, batch_size=16, seed=5)
    trainer = Trainer(config, TINY_G, TINY_D, mnist_small, CPU)
    trainer.iteration()
    state = copy.deepcopy(trainer.state_dict())  # as a checkpoint would: no live tensors
    for key in ("g_optimizer", "d_optimizer"):
        for group in state[key]["param_groups"]:
            group["fused"] = None
        for slots in state[key]["state"].values():
            for name in ("exp_avg", "exp_avg_sq"):
                slots[name] = slots[name].contiguous()  # NCHW, as an unprepared network has
    resumed = Trainer.from_state(state, mnist_small, CPU)
    for optimizer in (resumed.g_optimizer, resumed.d_optimizer):
        assert all(group["fused"] for group in optimizer.param_groups)
        for param, slots in optimizer.state.items():
            assert slots["exp_avg"].stride() == param.stride()
    trainer.iteration()
    resumed.iteration()
    for name, value in trainer.generator.state_dict().items():
        assert torch.equal(resumed.generator.state_dict()[name], value), name


def test_the_naive_renderer_draws_a_png_grid(mnist_small):
    trainer = Trainer(TrainConfig(iterations=1), TINY_G, TINY_D, mnist_small, CPU)
    png = naive_render(trainer.generator, n=10, nrow=5, padding=2, seed=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (5 * 30 + 2, 2 * 30 + 2)
    assert trainer.generator.training  # left as it was found


@on_gpu
@needs_cuda
@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compiled"])
def test_optimised_training_matches_the_naive_loop_on_cuda_in_float32(mnist_small, compile):
    cuda = torch.device("cuda")
    config = TrainConfig(iterations=2, batch_size=32, seed=5, precision="float32", compile=compile)
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        result = run_both(config, *FULL_SIZE, mnist_small, cuda)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    assert differences(*result) == []


@on_gpu
@needs_cuda
def test_bfloat16_training_on_cuda_stays_close_to_the_float32_losses(mnist_small):
    """bfloat16 autocast changes the arithmetic on purpose: losses agree to ~1%, not bits."""
    config = TrainConfig(iterations=3, batch_size=128, seed=5, precision="bfloat16")
    trainer, naive, _ = run_both(config, *FULL_SIZE, mnist_small, torch.device("cuda"))
    ours = trainer.history[: trainer.step].float().cpu()
    expected = torch.tensor(naive.losses, dtype=torch.float32)
    assert torch.allclose(ours, expected, rtol=0.03, atol=0.02), (ours, expected)


def test_compiled_steps_match_the_naive_loop_on_cpu(mnist_small):
    """TrainConfig(compile=True): the same steps through torch.compile."""
    config = TrainConfig(iterations=2, batch_size=16, seed=5, compile=True)
    assert differences(*run_both(config, TINY_G, TINY_D, mnist_small, CPU)) == []


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)), dtype=int)


@pytest.mark.full_size
def test_the_served_generator_draws_the_plain_generators_pixels(mnist_small):
    """A checkpoint's generator rebuilt with the fast layers (what the service and sampling
    use) against PyTorch's plain layers (what the naive server uses), full size, after a few
    real training iterations: the same floats to rounding, and pixels that differ only where
    a value sits on a rounding boundary, by one level."""
    trainer = Trainer(TrainConfig(iterations=3, batch_size=32, seed=2), *FULL_SIZE,
                      mnist_small, CPU)
    for _ in range(3):
        trainer.iteration()
    state = copy.deepcopy(trainer.state_dict())
    fast = generator_from_state(state)
    plain = generator_from_state(state, fast_layers=False)
    assert isinstance(fast.deconv2, GemmConvTranspose2d)
    assert type(plain.deconv2) is torch.nn.ConvTranspose2d
    z = torch.rand(256, fast.config.nz) * 2 - 1
    with torch.no_grad():
        fast_floats, plain_floats = fast(z), plain(z)
    torch.testing.assert_close(fast_floats, plain_floats, rtol=0, atol=1e-5)

    served = pixels(grid_png(generate(fast, grid_inputs(fast, 256, seed=4)), nrow=16))
    naive = pixels(naive_render(plain, n=256, nrow=16, seed=4))
    assert served.shape == naive.shape == (16 * 30 + 2, 16 * 30 + 2)
    difference = np.abs(served - naive)
    assert difference.max() <= 1
    assert np.count_nonzero(difference) <= difference.size // 10_000
