"""The pieces of `make deploy-test` that can be checked without a container engine: a stand-in
for every image compose runs, the MinIO stand-in's server (run here on moto), the host-CA
override touching nothing but the worker's trust, and how the build finds local packages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from dcgan_cli.waiting import free_port, wait_for
from tests.deploy.compose_files import REPO, SECRETS, run_project_compose

DEPLOY_TEST = REPO / "deploy" / "test"
sys.path.insert(0, str(DEPLOY_TEST))

import build_mounts  # noqa: E402
import standins  # noqa: E402

MINIO = DEPLOY_TEST / "standins" / "minio"


# --- stand-ins -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def started_images(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The images of the services `docker compose up` starts with the CPU override."""
    home = tmp_path_factory.mktemp("compose")
    result = run_project_compose("config", "--format", "json", home=home, override=True)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    return sorted({s["image"] for s in services.values() if "build" not in s})


def test_image_names_resolve_as_the_engine_stores_them():
    assert standins.full_name("redis:7.4-alpine") == "docker.io/library/redis:7.4-alpine"
    assert standins.full_name("minio/minio:X") == "docker.io/minio/minio:X"
    assert standins.full_name("localhost/a/b:1") == "localhost/a/b:1"
    assert standins.full_name("quay.io/a/b:1") == "quay.io/a/b:1"
    assert standins.repository("postgres:15-bookworm") == "postgres"
    assert standins.repository("minio/minio:RELEASE.2025") == "minio/minio"


def test_every_image_compose_starts_has_a_labelled_stand_in(started_images):
    assert started_images, "compose starts no image of its own"
    for image in started_images:
        folder = standins.FOLDERS.get(standins.repository(image))
        assert folder, f"{image} has no stand-in"
        containerfile = (standins.STANDINS / folder / "Containerfile").read_text()
        assert re.search(r'LABEL dcgan\.deploy-test\.stand-in="\$\{STANDS_FOR\}"', containerfile)
        assert "STAND-IN" in containerfile.splitlines()[0]


def test_the_python_stand_in_is_the_dockerfiles_base_argument():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-bookworm$", dockerfile, re.MULTILINE)
    containerfile = (standins.STANDINS / "python" / "Containerfile").read_text()
    assert 'dcgan.deploy-test.stand-in="python:3.11-slim-bookworm"' in containerfile
    assert standins.PYTHON.startswith("localhost/dcgan-deploy-test/")


def test_the_host_ca_override_changes_only_the_workers_trust(tmp_path):
    """compose.host-ca.yml adds a read-only CA bundle and the variables naming it to the
    worker, and nothing else: the stack under test is the users' stack."""
    bundle = tmp_path / "ca.crt"
    bundle.write_text("")

    def resolved(*extra: str) -> dict:
        env_file = tmp_path / "empty.env"
        env_file.touch()
        command = [str(Path(sys.executable).with_name("docker-compose")),
                   "-f", str(REPO / "docker-compose.yml"),
                   "-f", str(REPO / "docker-compose.cpu.yml"), *extra,
                   "--env-file", str(env_file), "config", "--format", "json"]
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
               "DOCKER_CONFIG": str(tmp_path / "docker"), "DEPLOY_TEST_CA_BUNDLE": str(bundle),
               **SECRETS}
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["services"]

    plain = resolved()
    with_ca = resolved("-f", str(DEPLOY_TEST / "compose.host-ca.yml"))
    assert {n: s for n, s in with_ca.items() if n != "worker"} == {
        n: s for n, s in plain.items() if n != "worker"}
    worker, base = with_ca["worker"], plain["worker"]
    added = {k: v for k, v in worker["environment"].items() if k not in base["environment"]}
    assert set(added) == {"PIP_CERT", "SSL_CERT_FILE"}
    (mount,) = [m for m in worker["volumes"] if m not in base["volumes"]]
    assert mount["source"] == str(bundle) and mount["read_only"]
    assert {k: v for k, v in worker.items() if k not in ("environment", "volumes")} == {
        k: v for k, v in base.items() if k not in ("environment", "volumes")}


# --- the MinIO stand-in, run here on moto -------------------------------------------------------


@pytest.fixture
def minio_stand_in(tmp_path: Path) -> Iterator[tuple[str, Path, Callable[[], None]]]:
    port = free_port()
    folder = tmp_path / "data"
    env = {**os.environ, "MINIO_ROOT_USER": "dcgan", "MINIO_ROOT_PASSWORD": "password-1234"}
    command = [sys.executable, str(MINIO / "minio.py"), "server", str(folder),
               "--address", f"127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}"
    processes = []

    def start() -> None:
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        def ready() -> bool:
            try:
                urllib.request.urlopen(f"{url}/minio/health/ready", timeout=2)
            except OSError:
                return False
            return True

        wait_for(ready, 30, "the MinIO stand-in to start")

    def restart() -> None:
        processes[-1].terminate()
        assert processes[-1].wait(timeout=30) == 0, "SIGTERM stops it cleanly"
        start()

    start()
    try:
        yield url, folder, restart
    finally:
        for process in processes:
            process.kill()
            process.wait()


def s3(url: str, key: str) -> object:
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=key,
                        aws_secret_access_key="password-1234", region_name="us-east-1")


def test_the_minio_stand_in_keeps_objects_and_accepts_only_the_root_key(minio_stand_in):
    url, folder, restart = minio_stand_in
    client = s3(url, "dcgan")
    client.create_bucket(Bucket="dcgan")
    client.put_object(Bucket="dcgan", Key="jobs/a/model.safetensors", Body=b"weights")
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidAccessKeyId"):
        s3(url, "someone-else").list_objects_v2(Bucket="dcgan")
    with pytest.raises(urllib.error.HTTPError, match="403"):
        urllib.request.urlopen(f"{url}/dcgan", timeout=5)  # anonymous
    restart()
    body = client.get_object(Bucket="dcgan", Key="jobs/a/model.safetensors")["Body"].read()
    assert body == b"weights", "objects survive a restart, as on MinIO's volume"
    assert (folder / ".stand-in-s3-state.pickle").exists()


def test_the_minio_stand_in_answers_mc_ready_local(minio_stand_in):
    url, _, _ = minio_stand_in
    port = url.rsplit(":", 1)[1]
    shim = (MINIO / "mc.py").read_text().replace("127.0.0.1:9000", f"127.0.0.1:{port}")
    ready = subprocess.run([sys.executable, "-c", shim, "ready", "local"], check=False,
                           capture_output=True, text=True, timeout=30)
    assert ready.returncode == 0 and "ready" in ready.stdout
    other = subprocess.run([sys.executable, "-c", shim, "ls", "local"], check=False,
                           capture_output=True, text=True, timeout=30)
    assert other.returncode != 0


def test_the_minio_stand_in_refuses_short_credentials(tmp_path):
    env = {**os.environ, "MINIO_ROOT_USER": "ab", "MINIO_ROOT_PASSWORD": "short"}
    done = subprocess.run([sys.executable, str(MINIO / "minio.py"), "server", str(tmp_path),
                           "--address", f"127.0.0.1:{free_port()}"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "credentials" in done.stderr


# --- local packages for the build ---------------------------------------------------------------


def test_local_indexes_and_find_links_are_told_apart(tmp_path):
    (tmp_path / "pypi" / "simple").mkdir(parents=True)
    (tmp_path / "wheels").mkdir()
    indexes, find_links = build_mounts.local_locations([
        f"file://{tmp_path}/pypi/simple", str(tmp_path / "wheels"),
        "https://pypi.org/simple", str(tmp_path / "missing"), "relative/path",
    ])
    assert indexes == [tmp_path / "pypi" / "simple"]
    assert find_links == [tmp_path / "wheels"]
