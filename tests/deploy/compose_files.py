"""This project's docker-compose.yml and docker-compose.cpu.yml: where they are, the secrets
the tests give them, and the files as Compose resolves them (see tests/support/compose.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.compose import run_compose

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
CPU_OVERRIDE = REPO / "docker-compose.cpu.yml"
# Every secret Compose requires from the environment, with the values the tests give it.
SECRETS = {
    "DCGAN_API_TOKEN": "token-for-the-compose-tests",
    "POSTGRES_PASSWORD": "database-password-for-the-compose-tests",
    "MINIO_ROOT_USER": "store-user-for-the-compose-tests",
    "MINIO_ROOT_PASSWORD": "store-password-for-the-compose-tests",
}
PROFILES = ("monitoring", "gpu1")  # every optional service
CHECKPOINT_ON_SHUTDOWN_S = 60  # the worker checkpoints and requeues within ~5-10 s of SIGTERM
WORKER_COMMAND = ["dcgan", "worker"]


def run_project_compose(
    *args: str, home: Path, secrets: dict[str, str] | None = None, override: bool = False
) -> subprocess.CompletedProcess[str]:
    """`docker compose -f docker-compose.yml [-f docker-compose.cpu.yml] ARGS` in a clean
    environment with only SECRETS (default: all)."""
    compose_files = [COMPOSE_FILE, CPU_OVERRIDE] if override else [COMPOSE_FILE]
    return run_compose(
        *args, files=compose_files, home=home, env=SECRETS if secrets is None else secrets
    )


def resolved_config(home: Path, *, override: bool) -> dict[str, Any]:
    """Both files as Compose resolves them (interpolated, merged, long syntax), with every
    profile enabled."""
    profiles = [arg for profile in PROFILES for arg in ("--profile", profile)]
    result = run_project_compose(
        *profiles, "config", "--format", "json", home=home, override=override
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def worker_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run a training worker."""
    return {
        name: service for name, service in config["services"].items()
        if service.get("command") == WORKER_COMMAND
    }
