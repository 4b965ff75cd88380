import uuid

import pytest
from _pytest.nodeid import coerce_node_id
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import ServiceSettings
from shared_models.training import TrainResult
from tests.conftest import TINY_D, TINY_G, tiny_train_config
from worker.published_run import train_published


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
              discriminator_config=TINY_D, resume=False, **config) -> TrainResult:
    """A real (tiny) training run whose checkpoints are published as a worker publishes them:
    into the settings' store and models table, where the service finds them."""
    return train_published(settings, name, tiny_train_config(iterations=iterations, **config),
                           mnist_small, generator_config, discriminator_config, resume)


@pytest.fixture
def settings(tmp_path) -> ServiceSettings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Schemathesis names each operation's test ``test_x[GET /path]`` but gives them all the
    node id ``...::test_x``: with the name in the id, pytest-xdist (which tells tests apart by
    their ids) runs each one instead of one per function."""
    for item in items:
        head, _, last = item.nodeid.rpartition("::")
        if item.name != last and item.name.startswith(last + "["):
            # pytest keeps the id in a private attribute; test_the_fuzzing_reached_every_outcome
            # fails if the operations' tests ever collapse into one again
            item._id = coerce_node_id(f"{head}::{item.name}")
