"""Shared fixtures: real MNIST (fetched once into the repository's data folder) and tiny configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shared_models.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from shared_models.data import ImageData, load_dataset

# fixtures for tests that need servers of their own (the S3 server's endpoint and buckets)
pytest_plugins = ["tests.support.s3_server"]

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The repository's data folder, with MNIST fetched and verified on first use."""
    load_dataset("mnist", DATA_DIR, "test")
    return DATA_DIR


@pytest.fixture(scope="session")
def mnist_train(data_dir: Path) -> ImageData:
    return load_dataset("mnist", data_dir, "train")


@pytest.fixture(scope="session")
def mnist_test(data_dir: Path) -> ImageData:
    return load_dataset("mnist", data_dir, "test")


@pytest.fixture(scope="session")
def mnist_small(mnist_train: ImageData) -> ImageData:
    """The first 512 real training digits: enough for tiny-config training tests."""
    return ImageData(
        mnist_train.name,
        "train",
        mnist_train.images[:512].clone(),
        mnist_train.labels[:512].clone(),
        mnist_train.source,
    )


TINY_G = GeneratorConfig(nz=8, hidden=32, channels=8)
TINY_D = DiscriminatorConfig(conv2_channels=8, hidden=32)


@pytest.fixture
def tiny_configs() -> tuple[GeneratorConfig, DiscriminatorConfig]:
    return TINY_G, TINY_D


def tiny_train_config(**overrides: object) -> TrainConfig:
    """A few iterations of a tiny run; the live weights unless ``ema_decay`` is given."""
    return TrainConfig(
        **{"iterations": 6, "batch_size": 16, "seed": 3, "ema_decay": 0.0, **overrides}
    )


@pytest.fixture(autouse=True)
def _deterministic_threads() -> None:
    torch.manual_seed(1234)
