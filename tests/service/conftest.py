import uuid

import pytest
import redis
import torch
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import ServiceSettings
from shared_models.training import train
from tests.conftest import TINY_D, TINY_G, tiny_train_config

REDIS_URL = "redis://127.0.0.1:6379/0"


def make_settings(tmp_path, **overrides) -> ServiceSettings:
    values = {
        "DCGAN_RUNS_DIR": tmp_path / "runs",
        "DCGAN_DATA_DIR": tmp_path / "data",
        "REDIS_URL": REDIS_URL,
        "DCGAN_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
        "DCGAN_RELOAD_INTERVAL_SECONDS": 0.2,
        **overrides,
    }
    return ServiceSettings(**values)


def train_run(runs_dir, name, mnist_small, iterations=2, **config):
    """A real (tiny) training run whose checkpoints the service can serve."""
    return train(
        tiny_train_config(iterations=iterations, **config), mnist_small, runs_dir / name,
        generator_config=TINY_G, discriminator_config=TINY_D, device=torch.device("cpu"),
    )


@pytest.fixture
def settings(tmp_path) -> ServiceSettings:
    settings = make_settings(tmp_path)
    yield settings
    redis.Redis.from_url(REDIS_URL).delete(settings.queue)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client
