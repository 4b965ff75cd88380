"""Configuration dataclasses. Every default is the CNTK 206B tutorial's value.

Networks and the trainer take these objects in ``__init__``; checkpoints store them
as plain dicts so a checkpoint can rebuild its own networks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, get_args

from shared_models.stored_values import (
    check_flag,
    check_integer,
    check_real,
    is_finite,
    is_integer,
    shown,
)

FAST_ITERATIONS = 5_000
SLOW_ITERATIONS = 10_000
DatasetName = Literal["mnist", "fashion-mnist"]
DATASETS: tuple[str, ...] = get_args(DatasetName)
# What a run asks for; "auto" resolves per device (shared_models.training.setup): float32 on
# the CPU; on CUDA float32 with TF32 matmuls when eager, bfloat16 autocast when compiled.
Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
NUM_CLASSES = 10  # both data sets; a conditional model is conditioned on these labels
# How big the networks are: the tutorial's, or narrower forms of the same layers for quick
# runs on a CPU (half, small) and smoke runs (tiny). The size is an architecture like any other: a
# checkpoint records the configs it made, and a run resumes with its own.
NetworkSize = Literal["tutorial", "half", "small", "tiny"]
NETWORK_SIZES: tuple[str, ...] = get_args(NetworkSize)

# CNTK's default variance momentum for Adam is a time constant of 720,000 samples;
# per minibatch of 128 that is exp(-128 / 720000) ~= 0.99982 (PyTorch's default is 0.999).
CNTK_VARIANCE_TIME_CONSTANT = 720_000


def cntk_beta2(batch_size: int) -> float:
    """Adam's beta2 that matches CNTK's default variance momentum at ``batch_size``."""
    return math.exp(-batch_size / CNTK_VARIANCE_TIME_CONSTANT)


# The most parameters either network may have. Configs are read back from files (checkpoints,
# a model's config.json, archives anyone can hand over), and a loader builds the network a
# config describes: the cap keeps a stored config from asking for gigabytes. The tutorial's
# generator has about 6.9 M parameters (28 MB of float32 weights); one with twice its dense
# width and feature maps has about 27 M, so a user's bigger model still fits, while the
# largest generator allowed holds a quarter of a gigabyte of weights.
MAX_NETWORK_PARAMETERS = 64_000_000
# What each integer of an architecture may be, (lowest, highest): far beyond the tutorial's
# widths (nz 100, dense 1024, feature maps 128 and 64, kernel 5, 28x28 images, 10 classes),
# yet small enough that counting the parameters stays in ordinary integers.
GENERATOR_LIMITS: dict[str, tuple[int, int]] = {
    "nz": (1, 4096),
    "hidden": (1, 65536),
    "channels": (1, 8192),
    "kernel": (1, 31),
    "image_size": (4, 256),
    "num_classes": (0, 1000),
}
DISCRIMINATOR_LIMITS: dict[str, tuple[int, int]] = {
    "conv1_channels": (1, 8192),
    "conv2_channels": (1, 8192),
    "hidden": (1, 65536),
    "kernel": (1, 31),
    "image_size": (1, 256),
    "num_classes": (0, 1000),
}
BATCH_NORMS = 3  # in each network: each keeps an int64 count of the batches it has seen


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
        _check_integers(self, GENERATOR_LIMITS)
        check_flag("label_maps", self.label_maps)
        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {self.image_size}")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd for 'same' padding, got {self.kernel}")
        _check_parameters("generator", self.parameter_count)

    @property
    def fc2_outputs(self) -> int:
        """Units of the second dense layer: the feature maps at a quarter of the image size."""
        return self.channels * (self.image_size // 4) ** 2  # 128 * 7 * 7

    @property
    def parameter_count(self) -> int:
        """The parameters of networks.Generator's layers, from the config alone (checked
        against the built networks in tests): loaders compare it with the cap before they
        build anything."""
        inputs, square = self.nz + self.num_classes, self.kernel**2
        conditional_maps = self.num_classes and self.label_maps
        label_maps = self.num_classes * self.fc2_outputs if conditional_maps else 0
        return (
            (inputs + 1) * self.hidden  # fc1
            + (self.hidden + 1) * self.fc2_outputs  # fc2
            + label_maps
            + (self.channels * square + 1) * self.channels  # deconv1
            + self.channels * square + 1  # deconv2
            + 2 * (self.hidden + 2 * self.channels)  # batch norms' scales and shifts
        )

    @property
    def state_dict_bytes(self) -> int:
        """Bytes of the generator's state dict: every parameter and batch norm's running
        means and variances in float32, and each batch norm's int64 batch count."""
        running = 2 * (self.hidden + 2 * self.channels)
        return 4 * (self.parameter_count + running) + 8 * BATCH_NORMS


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
        _check_integers(self, DISCRIMINATOR_LIMITS)
        check_real("leak", self.leak, 0.0, 1.0)
        check_flag("projection", self.projection)
        if self.feature_size < 1:
            raise ValueError(f"image_size {self.image_size} is too small for kernel {self.kernel}")
        _check_parameters("discriminator", self.parameter_count)

    @property
    def parameter_count(self) -> int:
        """The parameters of networks.Discriminator's layers, from the config alone."""
        square, classes = self.kernel**2, self.num_classes
        features = self.conv2_channels * self.feature_size**2 + classes
        project = classes * self.hidden if classes and self.projection else 0
        return (
            ((1 + classes) * square + 1) * self.conv1_channels  # conv1
            + (self.conv1_channels * square + 1) * self.conv2_channels  # conv2
            + (features + 1) * self.hidden  # fc1
            + self.hidden + 1  # fc2
            + project
            + 2 * (self.conv1_channels + self.conv2_channels + self.hidden)  # batch norms
        )

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
            raise ValueError(f"{name} must be in {low}, {high}, got {shown(value)}")


def setting(default: Any, doc: str, **bounds: float) -> Any:
    """A TrainConfig field with its description and bounds."""
    return field(default=default, metadata={"bounds": Bounds(doc, **bounds)})


def bounds_of(name: str) -> Bounds:
    """The bounds and description of a TrainConfig field."""
    return TRAIN_FIELDS[name].metadata["bounds"]


# (generator dense width, generator feature maps, discriminator feature maps, its dense width)
WIDTHS: dict[str, tuple[int, int, int, int]] = {
    "tutorial": (1024, 128, 64, 1024),
    "half": (512, 64, 32, 512),  # half of every width
    "small": (256, 32, 16, 256),  # a quarter of every width
    "tiny": (32, 8, 8, 32),
}


def network_configs(
    conditional: bool, size: str = "tutorial"
) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """The tutorial's networks at ``size``, or their class-conditional form: the one-hot label
    at the generator's input and as learned 7x7 maps, and at the discriminator's input planes
    and dense layer, projected onto its dense features."""
    if size not in WIDTHS:
        raise ValueError(f"network size must be one of {', '.join(NETWORK_SIZES)}, got {size!r}")
    g_hidden, g_channels, d_channels, d_hidden = WIDTHS[size]
    generator = GeneratorConfig(hidden=g_hidden, channels=g_channels)
    discriminator = DiscriminatorConfig(conv2_channels=d_channels, hidden=d_hidden)
    if not conditional:
        return generator, discriminator
    return (
        replace(generator, num_classes=NUM_CLASSES, label_maps=True),
        replace(discriminator, num_classes=NUM_CLASSES, projection=True),
    )


MAX_SEED = 2**31 - 1
# Sampling and scoring sizes, here so that reading them (the CLI's options do) needs no torch
MAX_SAMPLES = 1024  # digits in one grid, the most one picture holds
DEFAULT_SAMPLES = 10_000  # samples `dcgan eval` scores by default
# Samples scored for a model card: what workers score each checkpoint on (DCGAN_EVAL_SAMPLES),
# so the card's figures compare with those in GET /models (Fréchet distances depend on n)
EXPORT_EVAL_SAMPLES = 1000


@dataclass(frozen=True)
class TrainConfig:
    iterations: int = setting(FAST_ITERATIONS, "number of iterations", ge=1, le=100_000)
    # two rows at least: BatchNorm cannot normalise a batch of one
    batch_size: int = setting(128, "minibatch size", ge=2, le=1024)
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
    # optimiser states are the same with or without it), and its window grows with the run
    # (shared_models/weight_average.py), so it samples at least as well as the live weights
    # at every run length measured (docs/weight_average.md): on by default; 0 serves the live
    # weights, as the tutorial does.
    ema_decay: float = setting(
        0.999,
        "decay of the moving average of the generator's weights that sampling uses (reached "
        "as the run grows: the average spans about its last tenth until then); 0 samples the "
        "live weights, as the tutorial does",
        ge=0,
        lt=1,
    )

    def __post_init__(self) -> None:
        for item in fields(self):
            _check_type(item.name, getattr(self, item.name), str(item.type))
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


def from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a config, ignoring keys a newer version may have added. Whatever ``data``
    holds (it may come from a file), anything but a config is refused with ValueError."""
    if not isinstance(data, Mapping):
        raise ValueError(f"a {cls.__name__} must be an object, got {shown(data)}")
    known = {f.name for f in fields(cls)}
    return cls(**{key: value for key, value in data.items() if key in known})


def with_overrides(config: Any, **overrides: Any) -> Any:
    """``dataclasses.replace`` that skips ``None`` values (unset CLI/API options)."""
    return replace(config, **{key: value for key, value in overrides.items() if value is not None})


def _check_integers(config: Any, limits: Mapping[str, tuple[int, int]]) -> None:
    for name, (low, high) in limits.items():
        check_integer(name, getattr(config, name), low, high)


def _check_parameters(network: str, count: int) -> None:
    if count > MAX_NETWORK_PARAMETERS:
        raise ValueError(
            f"this {network} would have {count:,} parameters, over the "
            f"{MAX_NETWORK_PARAMETERS:,} allowed"
        )


# what each TrainConfig field's annotation admits (bools are not numbers here)
_TYPES: dict[str, tuple[Any, str]] = {
    "int": (is_integer, "an integer"),
    "float": (is_finite, "a finite number"),
    "float | None": (lambda value: value is None or is_finite(value), "a finite number or null"),
    "bool": (lambda value: isinstance(value, bool), "true or false"),
    "str": (lambda value: isinstance(value, str), "a string"),
}


def _check_type(name: str, value: Any, annotation: str) -> None:
    admits, what = _TYPES[annotation]
    if not admits(value):
        raise ValueError(f"{name} must be {what}, got {shown(value)}")
