"""Configuration dataclasses. Every default is the CNTK 206B tutorial's value.

Networks and the trainer take these objects in ``__init__``; checkpoints store them
as plain dicts so a checkpoint can rebuild its own networks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

FAST_ITERATIONS = 5_000
SLOW_ITERATIONS = 10_000
DATASETS = ("mnist", "fashion-mnist")
# "auto": bfloat16 autocast on CUDA, float32 on the CPU
PRECISIONS = ("auto", "float32", "bfloat16")
NUM_CLASSES = 10  # both data sets; a conditional model is conditioned on these labels

# CNTK's default variance momentum for Adam is a time constant of 720,000 samples;
# per minibatch of 128 that is exp(-128 / 720000) ~= 0.99982 (PyTorch's default is 0.999).
CNTK_VARIANCE_TIME_CONSTANT = 720_000


def cntk_beta2(batch_size: int) -> float:
    """Adam's beta2 that matches CNTK's default variance momentum at ``batch_size``."""
    return math.exp(-batch_size / CNTK_VARIANCE_TIME_CONSTANT)


@dataclass(frozen=True)
class GeneratorConfig:
    nz: int = 100  # noise dimension, z ~ U[-1, 1]
    hidden: int = 1024  # first dense layer (gfc_dim)
    channels: int = 128  # feature maps at 7x7 and 14x14 (gf_dim * 2)
    kernel: int = 5
    image_size: int = 28
    num_classes: int = 0  # > 0 makes the generator class-conditional

    def __post_init__(self) -> None:
        _require_positive(self, "nz", "hidden", "channels", "kernel")
        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {self.image_size}")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd for 'same' padding, got {self.kernel}")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {self.num_classes}")


@dataclass(frozen=True)
class DiscriminatorConfig:
    conv1_channels: int = 1  # the tutorial's first convolution has a single filter
    conv2_channels: int = 64  # df_dim
    hidden: int = 1024  # dfc_dim
    kernel: int = 5
    leak: float = 0.2
    image_size: int = 28
    num_classes: int = 0

    def __post_init__(self) -> None:
        _require_positive(self, "conv1_channels", "conv2_channels", "hidden", "kernel")
        if self.feature_size < 1:
            raise ValueError(f"image_size {self.image_size} is too small for kernel {self.kernel}")
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {self.num_classes}")

    @property
    def feature_size(self) -> int:
        """Spatial size after the two unpadded stride-2 convolutions (28 -> 12 -> 4)."""
        size = self.image_size
        for _ in range(2):
            size = (size - self.kernel) // 2 + 1
        return size


@dataclass(frozen=True)
class TrainConfig:
    iterations: int = FAST_ITERATIONS
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float | None = None  # None -> CNTK's default for this batch size (see cntk_beta2)
    eps: float = 1e-8
    k: int = 2  # discriminator steps per iteration, fresh noise and real batch each
    g_steps: int = 2  # generator steps per iteration, all on the same noise batch
    seed: int = 0
    dataset: str = "mnist"
    checkpoint_every: int = 0  # 0 -> only the final checkpoint
    keep_checkpoints: int = 3  # rolling checkpoints kept besides the final one
    log_every: int = 0  # 0 -> iterations // 25, as the tutorial prints
    precision: str = "auto"  # one of PRECISIONS: the networks' arithmetic while training
    compile: bool = False  # torch.compile the training steps (worth it for long runs only)
    # > 0 keeps an exponential moving average of the generator's weights with this decay
    # (e.g. 0.999); checkpoints then serve the average. 0: the tutorial's plain weights.
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        _require_positive(self, "iterations", "batch_size", "k", "g_steps")
        if not 0 < self.lr < 1:
            raise ValueError(f"lr must be in (0, 1), got {self.lr}")
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"beta1 must be in [0, 1), got {self.beta1}")
        if self.beta2 is not None and not 0 <= self.beta2 < 1:
            raise ValueError(f"beta2 must be in [0, 1), got {self.beta2}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        for name in ("checkpoint_every", "log_every", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")

    @property
    def adam_beta2(self) -> float:
        return cntk_beta2(self.batch_size) if self.beta2 is None else self.beta2

    @property
    def log_interval(self) -> int:
        return self.log_every or max(1, self.iterations // 25)


def to_dict(config: Any) -> dict[str, Any]:
    return asdict(config)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config, ignoring keys a newer version may have added."""
    known = {f.name for f in fields(cls)}
    return cls(**{key: value for key, value in data.items() if key in known})


def with_overrides(config: Any, **overrides: Any) -> Any:
    """``dataclasses.replace`` that skips ``None`` values (unset CLI/API options)."""
    return replace(config, **{key: value for key, value in overrides.items() if value is not None})


def _require_positive(config: Any, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
