"""Configuration dataclasses. Every default is the CNTK 206B tutorial's value.

Networks and the trainer take these objects in ``__init__``; checkpoints store them
as plain dicts so a checkpoint can rebuild its own networks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, get_args

FAST_ITERATIONS = 5_000
SLOW_ITERATIONS = 10_000
DatasetName = Literal["mnist", "fashion-mnist"]
DATASETS: tuple[str, ...] = get_args(DatasetName)
# What a run asks for; "auto" resolves per device (shared_models.training.setup): float32 on
# the CPU; on CUDA float32 with TF32 matmuls when eager, bfloat16 autocast when compiled.
Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
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
    # conditional only: the label also adds a learned 128x7x7 map to the second dense layer's
    # output, as the discriminator sees it beside its dense features; off in the conditional
    # networks before it
    label_maps: bool = False

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
    # conditional only: add the projection of the label onto the dense features to the logit
    # (Miyato & Koyama 2018); off in the conditional networks before it
    projection: bool = False

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
class Bounds:
    """What a setting may be, and what it means: checked by TrainConfig and read by the job
    spec (``jobs.spec``) and the CLI, so every bound and description lives here once."""

    doc: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def check(self, name: str, value: float) -> None:
        low = f"[{self.ge:g}" if self.ge is not None else (
            f"({self.gt:g}" if self.gt is not None else "(-inf"
        )
        high = f"{self.le:g}]" if self.le is not None else (
            f"{self.lt:g})" if self.lt is not None else "inf)"
        )
        fits = (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )
        if not fits:
            raise ValueError(f"{name} must be in {low}, {high}, got {value}")


def setting(default: Any, doc: str, **bounds: float) -> Any:
    """A TrainConfig field with its description and bounds."""
    return field(default=default, metadata={"bounds": Bounds(doc, **bounds)})


def bounds_of(name: str) -> Bounds:
    """The bounds and description of a TrainConfig field."""
    return TRAIN_FIELDS[name].metadata["bounds"]


def network_configs(conditional: bool) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """The tutorial's networks, or their class-conditional form: the one-hot label at the
    generator's input and as learned 7x7 maps, and at the discriminator's input planes and
    dense layer, projected onto its dense features."""
    if not conditional:
        return GeneratorConfig(), DiscriminatorConfig()
    return (
        GeneratorConfig(num_classes=NUM_CLASSES, label_maps=True),
        DiscriminatorConfig(num_classes=NUM_CLASSES, projection=True),
    )


MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class TrainConfig:
    iterations: int = setting(FAST_ITERATIONS, "number of iterations", ge=1, le=100_000)
    batch_size: int = setting(128, "minibatch size", ge=1, le=1024)
    lr: float = setting(2e-4, "Adam learning rate", gt=0, le=0.1)
    beta1: float = setting(0.5, "Adam beta1 (momentum)", ge=0, lt=1)
    # None -> CNTK's default for this batch size (see cntk_beta2)
    beta2: float | None = setting(None, "Adam beta2 (default: CNTK's)", ge=0, lt=1)
    eps: float = setting(1e-8, "Adam epsilon", gt=0)
    k: int = setting(2, "discriminator steps per iteration", ge=1, le=10)
    g_steps: int = setting(2, "generator steps per iteration, on one noise batch", ge=1, le=10)
    seed: int = setting(0, "random seed", ge=0, le=MAX_SEED)
    dataset: str = setting("mnist", "data set: " + ", ".join(DATASETS))
    checkpoint_every: int = setting(
        0, "also checkpoint every N iterations (0: only at the end)", ge=0, le=100_000
    )
    keep_checkpoints: int = setting(3, "rolling checkpoints kept besides the final one", ge=1)
    log_every: int = setting(0, "print mean losses every N iterations (0: 25 times)", ge=0)
    precision: str = setting(
        "auto", "the networks' arithmetic while training: " + ", ".join(PRECISIONS)
    )
    compile: bool = setting(
        False, "torch.compile the training steps, with CUDA graphs on CUDA (pays for long runs)"
    )
    # The weight average leaves training bit-identical (the live networks, losses and
    # optimiser states are the same with or without it) and samples better by every score,
    # so it is on by default; 0 serves the live weights, as the tutorial does.
    ema_decay: float = setting(
        0.999,
        "decay of the moving average of the generator's weights that sampling uses; "
        "0 samples the live weights, as the tutorial does",
        ge=0,
        lt=1,
    )

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                item.metadata["bounds"].check(item.name, value)
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")

    @property
    def adam_beta2(self) -> float:
        return cntk_beta2(self.batch_size) if self.beta2 is None else self.beta2

    @property
    def log_interval(self) -> int:
        return self.log_every or max(1, self.iterations // 25)


TRAIN_FIELDS = {item.name: item for item in fields(TrainConfig)}


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
