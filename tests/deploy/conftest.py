"""The compose files as read and as Compose resolves them, shared by the deployment tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.compose_files import COMPOSE_FILE, resolved_config
from tests.support.compose import load_yaml


@pytest.fixture(scope="session")
def raw() -> dict[str, Any]:
    """docker-compose.yml as YAML (merge keys applied, nothing interpolated)."""
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """docker-compose.yml as Compose resolves it, every profile enabled."""
    return resolved_config(tmp_path_factory.mktemp("compose"), override=False)


@pytest.fixture(scope="session")
def cpu_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """docker-compose.yml merged with docker-compose.cpu.yml by Compose."""
    return resolved_config(tmp_path_factory.mktemp("compose-cpu"), override=True)
