"""Shared fixtures: real MNIST (fetched once into the repository's data folder) and tiny configs;
the markers a test must carry to start worker or uvicorn processes or train full-size."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from shared_models.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from shared_models.data import ImageData, load_dataset
from shared_models.training import Trainer
from shared_models.training.setup import use_compile_cache

# fixtures for tests that need servers of their own (the S3 server's endpoint and buckets)
pytest_plugins = ["tests.support.s3_server"]

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "data"
if "PYTEST_XDIST_WORKER" in os.environ:
    # make test runs a test process per core: each computes on one thread, and so do the
    # processes it starts (threads of two processes spinning on one core slow both many-fold)
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
# torch.compile's cache where the product keeps it: warm from the second run on
use_compile_cache(DATA_DIR)

RUNNING: dict[str, pytest.Item] = {}  # the test being set up or run now


def pytest_runtest_setup(item: pytest.Item) -> None:
    RUNNING["item"] = item


LONG = ("processes", "full_size")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a test that starts processes or trains full-size first (pytest-xdist
    hands modules out in this order): the run ends on short tests, not on one process
    finishing a long module alone."""
    long_modules = {item.path for item in items
                    if any(item.get_closest_marker(name) for name in LONG)}
    items.sort(key=lambda item: item.path not in long_modules)  # stable: order kept within


def require_marker(name: str, what: str) -> None:
    """Fail the running test unless it is marked ``name`` (make test-fast leaves such tests
    out by their markers, so a test that does ``what`` must say so)."""
    item = RUNNING.get("item")
    if item is not None and item.get_closest_marker(name) is None:
        pytest.fail(f"{item.nodeid} {what}: mark it @pytest.mark.{name}", pytrace=False)


@pytest.fixture(autouse=True)
def _full_size_only_where_marked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that trains the tutorial's networks must be marked full_size."""
    build = Trainer.__init__

    def checked(self: Trainer, train_config, generator_config, *args, **kwargs) -> None:
        if (generator_config.hidden, generator_config.channels) == (
            GeneratorConfig.hidden, GeneratorConfig.channels
        ):
            require_marker("full_size", "trains the tutorial's full-size networks")
        build(self, train_config, generator_config, *args, **kwargs)

    monkeypatch.setattr(Trainer, "__init__", checked)


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


# a run of a few iterations whose weight average differs from its live weights: the real
# window (shared_models.weight_average) opens at about 158 iterations
SHORT_WINDOW_RAMP = 4


@contextlib.contextmanager
def short_window() -> Iterator[int]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("shared_models.weight_average.WINDOW_RAMP", SHORT_WINDOW_RAMP)
        yield SHORT_WINDOW_RAMP


@pytest.fixture
def short_average_window() -> Iterator[int]:
    with short_window() as ramp:
        yield ramp


@pytest.fixture(autouse=True)
def _deterministic_threads() -> None:
    torch.manual_seed(1234)
