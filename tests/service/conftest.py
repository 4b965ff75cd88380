import uuid

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import ServiceSettings
from shared_models.training import TrainResult
from tests.conftest import TINY_D, TINY_G, tiny_train_config
from tests.support.runs import train_published


def make_settings(tmp_path, **overrides) -> ServiceSettings:
    """The service's settings on tmp folders: the embedded broker and database, the runs folder
    as the store — real, and nothing shared with another test."""
    values = {
        "DCGAN_RUNS_DIR": tmp_path / "runs",
        "DCGAN_DATA_DIR": tmp_path / "data",
        "DCGAN_QUEUE": f"test-{uuid.uuid4().hex[:12]}",
        "DCGAN_RELOAD_INTERVAL_SECONDS": 0.2,
        **overrides,
    }
    return ServiceSettings(**values)


def train_run(settings, name, mnist_small, iterations=2, generator_config=TINY_G,
              discriminator_config=TINY_D, **config) -> TrainResult:
    """A real (tiny) training run whose checkpoints are published as a worker publishes them:
    into the settings' store and models table, where the service finds them."""
    return train_published(settings, name, tiny_train_config(iterations=iterations, **config),
                           mnist_small, generator_config, discriminator_config)


@pytest.fixture
def settings(tmp_path) -> ServiceSettings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client
