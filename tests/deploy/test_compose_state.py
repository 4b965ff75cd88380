"""The state the compose services share: PostgreSQL, MinIO and Redis on named volumes, the
one-shot migration, the settings that point the API and the workers at them, and what each
process keeps per host."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from sqlalchemy.engine import make_url

from dcgan_cli.waiting import free_port
from tests.deploy.compose_files import SECRETS, worker_services
from tests.support.compose import mounts, named_volume_at

# The services that reach the database and the object store.
STATE_SERVICES = ("migrate", "api", "worker", "worker-gpu1")
STORES = {"redis": "/data", "postgres": "/var/lib/postgresql/data", "minio": "/data"}
S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def environment(config: dict[str, Any], name: str) -> dict[str, str]:
    return config["services"][name]["environment"]


# --- PostgreSQL -------------------------------------------------------------------------------


def test_postgres_is_the_version_the_project_is_tested_against(config):
    image = config["services"]["postgres"]["image"]
    assert image == "postgres:15-bookworm"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres") as local:
        row = local.execute("SHOW server_version_num").fetchone()
    assert row is not None
    assert int(row[0]) // 10000 == int(image.split(":")[1].split("-")[0])


def test_postgres_creates_the_database_of_the_url_with_the_required_password(config):
    postgres = environment(config, "postgres")
    assert postgres["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert postgres["POSTGRES_USER"] and postgres["POSTGRES_DB"]
    assert "PGDATA" not in postgres, "the data folder is the volume's mount point"


def pg_isready_outcome(test: list[str], port: int) -> int:
    """Run the healthcheck's pg_isready (this host's) with its port replaced by PORT."""
    assert test[:2] == ["CMD", "pg_isready"], test
    argv = [installed_pg_isready(), *(re.sub(r"^--port=\d+$", f"--port={port}", a)
                                      for a in test[2:])]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode


def installed_pg_isready() -> str:
    found = shutil.which("pg_isready")
    assert found, "pg_isready (PostgreSQL's client tools) is missing"
    return found


def test_postgres_is_healthy_when_it_accepts_connections_over_tcp(config):
    test = config["services"]["postgres"]["healthcheck"]["test"]
    assert "--host=127.0.0.1" in test, "over TCP: the socket answers during initialisation"
    assert "--port=5432" in test
    # the PostgreSQL of this machine listens on 5432: the same check says it is ready
    assert pg_isready_outcome(test, 5432) == 0
    assert pg_isready_outcome(test, free_port()) != 0


# --- MinIO ---------------------------------------------------------------------------------------


def test_minio_is_a_pinned_release_serving_a_named_volume(config):
    minio = config["services"]["minio"]
    assert re.fullmatch(r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", minio["image"])
    command = minio["command"]
    assert command[0] == "server"
    assert named_volume_at(minio, command[1]) == "minio-data"
    assert minio["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert environment(config, "minio")["MINIO_ROOT_USER"] == SECRETS["MINIO_ROOT_USER"]
    assert environment(config, "minio")["MINIO_ROOT_PASSWORD"] == SECRETS["MINIO_ROOT_PASSWORD"]


# --- the migration ----------------------------------------------------------------------------


def test_migrate_runs_once_when_the_database_and_the_store_are_healthy(config):
    migrate = config["services"]["migrate"]
    assert migrate["command"] == ["dcgan", "db", "upgrade"]
    assert migrate["restart"] == "no", "a one-shot service that restarts never completes"
    assert {store: d["condition"] for store, d in migrate["depends_on"].items()} == {
        "postgres": "service_healthy", "minio": "service_healthy",
    }
    assert migrate["healthcheck"]["disable"] is True, "the image's check probes the API port"
    assert "ports" not in migrate and "volumes" not in migrate


@pytest.mark.parametrize("name", ["api", "worker", "worker-gpu1"])
def test_api_and_workers_start_once_the_stores_are_healthy_and_migrated(config, name):
    depends_on = config["services"][name]["depends_on"]
    assert {store: d["condition"] for store, d in depends_on.items()} == {
        "redis": "service_healthy",
        "postgres": "service_healthy",
        "minio": "service_healthy",
        "migrate": "service_completed_successfully",
    }


# --- settings: where the shared state is ----------------------------------------------------


@pytest.mark.parametrize("name", STATE_SERVICES)
def test_the_database_url_is_the_postgres_service(config, name):
    url = make_url(environment(config, name)["DCGAN_DATABASE_URL"])
    postgres = environment(config, "postgres")
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "postgres" and url.port in (None, 5432)
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert url.database == postgres["POSTGRES_DB"]


@pytest.mark.parametrize("name", STATE_SERVICES)
def test_the_object_store_is_the_minio_service(config, name):
    env = environment(config, name)
    store = urlsplit(env["DCGAN_STORE_URL"])
    assert store.scheme == "s3" and S3_BUCKET.fullmatch(store.netloc), store
    assert store.path.strip("/"), "a prefix inside the bucket"
    endpoint = urlsplit(env["AWS_ENDPOINT_URL"])
    minio_address = config["services"]["minio"]["command"]
    port = minio_address[minio_address.index("--address") + 1].rpartition(":")[2]
    assert (endpoint.scheme, endpoint.hostname, endpoint.port) == ("http", "minio", int(port))
    minio = environment(config, "minio")
    assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert env["AWS_DEFAULT_REGION"]


@pytest.mark.parametrize("name", STATE_SERVICES)
def test_the_settings_read_the_shared_state_from_the_environment(config, name, monkeypatch):
    from core.settings import Settings

    for key in [k for k in os.environ if k.startswith(("DCGAN_", "AWS_"))]:
        monkeypatch.delenv(key)
    env = environment(config, name)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.database_url == env["DCGAN_DATABASE_URL"]
    assert settings.store_url == env["DCGAN_STORE_URL"]
    assert settings.redis_url == env["REDIS_URL"] and not settings.embedded
    assert str(settings.data_dir) == env["DCGAN_DATA_DIR"]
    assert str(settings.runs_dir) == env["DCGAN_RUNS_DIR"]


# --- volumes: shared state, per host cache, per service scratch ------------------------------


def volume_users(config: dict[str, Any]) -> dict[str, set[str]]:
    users: dict[str, set[str]] = {}
    for name, service in config["services"].items():
        for mount in mounts(service).values():
            if mount["type"] == "volume":
                users.setdefault(mount["source"], set()).add(name)
    return users


def test_each_store_keeps_its_data_on_a_volume_of_its_own(config):
    users = volume_users(config)
    for store, path in STORES.items():
        volume = named_volume_at(config["services"][store], path)
        assert users[volume] == {store}, volume


def test_api_and_workers_share_only_the_per_host_cache(config):
    users = volume_users(config)
    shared = {volume for volume, names in users.items() if len(names) > 1}
    assert shared == {"data"}
    assert users["data"] == {"api", *worker_services(config)}
    for name in users["data"]:
        data_dir = environment(config, name)["DCGAN_DATA_DIR"]
        assert named_volume_at(config["services"][name], data_dir) == "data", name


def test_each_worker_service_keeps_its_scratch_on_its_own_volume(config):
    users = volume_users(config)
    scratch = {}
    for name, worker in worker_services(config).items():
        scratch[name] = named_volume_at(worker, worker["environment"]["DCGAN_RUNS_DIR"])
        assert users[scratch[name]] == {name}
    assert len(set(scratch.values())) == len(scratch)


def test_the_api_keeps_no_scratch_volume(config):
    api = config["services"]["api"]
    assert api["environment"]["DCGAN_RUNS_DIR"] not in mounts(api)


def test_every_declared_volume_is_used(config):
    assert set(config["volumes"]) == set(volume_users(config))
