"""Reading docker-compose.yml and docker-compose.cpu.yml as Compose does: YAML with merge keys
and `!reset`, the Compose specification's JSON schema, and the real `docker compose config`
(the Compose binary of the dev extra, run offline in a clean environment)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

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


def installed_tool(name: str) -> str:
    """A command of the dev extra: next to this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    assert found, f"`{name}` is missing: install the dev extra (pip install -e '.[dev]')"
    return found


class ResetList(list):
    """A sequence tagged `!reset` in a Compose file."""


class ResetMapping(dict):
    """A mapping tagged `!reset` in a Compose file."""


class ResetScalar(str):
    """A scalar tagged `!reset` (`KEY: !reset null` removes KEY)."""


class ComposeLoader(yaml.SafeLoader):
    """YAML as Compose reads it: safe, with merge keys, and Compose's `!reset` tag."""


def _construct_reset(
    loader: ComposeLoader, node: yaml.Node
) -> ResetList | ResetMapping | ResetScalar:
    if isinstance(node, yaml.SequenceNode):
        return ResetList(loader.construct_sequence(node, deep=True))
    if isinstance(node, yaml.MappingNode):
        return ResetMapping(loader.construct_mapping(node, deep=True))
    return ResetScalar(loader.construct_scalar(node))


ComposeLoader.add_constructor("!reset", _construct_reset)


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        return yaml.load(stream, Loader=ComposeLoader)


def compose_spec_validator() -> jsonschema.protocols.Validator:
    """The Compose specification's JSON schema, as vendored by check-jsonschema."""
    text = (files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text()
    schema = json.loads(text)
    assert schema["title"] == "Compose Specification"
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def schema_errors(document: object) -> list[str]:
    return [
        f"{error.json_path}: {error.message}"
        for error in compose_spec_validator().iter_errors(document)
    ]


def run_compose(
    *args: str, home: Path, secrets: dict[str, str] | None = None, override: bool = False
) -> subprocess.CompletedProcess[str]:
    """`docker compose [-f base [-f cpu]] ARGS` in a clean environment: no .env, no
    DOCKER_CONFIG or COMPOSE_* settings of the developer's; only SECRETS (default: all)."""
    home.mkdir(parents=True, exist_ok=True)
    env_file = home / "empty.env"
    env_file.touch()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "DOCKER_CONFIG": str(home / "docker"), **(SECRETS if secrets is None else secrets)}
    compose_files = ["-f", str(COMPOSE_FILE)] + (["-f", str(CPU_OVERRIDE)] if override else [])
    command = [installed_tool("docker-compose"), *compose_files, "--env-file", str(env_file), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=env, cwd=home, check=False
    )


def resolved_config(home: Path, *, override: bool) -> dict[str, Any]:
    """Both files as Compose resolves them (interpolated, merged, long syntax), with every
    profile enabled."""
    profiles = [arg for profile in PROFILES for arg in ("--profile", profile)]
    result = run_compose(*profiles, "config", "--format", "json", home=home, override=override)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def duration_s(value: str) -> float:
    """A Compose duration ("90s", "1m30s", "1h") in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not a duration: {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def worker_services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run a training worker."""
    return {
        name: service for name, service in config["services"].items()
        if service.get("command") == WORKER_COMMAND
    }


def gpu_devices(service: dict[str, Any]) -> list[dict[str, Any]]:
    """A service's device reservations (empty when it reserves none)."""
    return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get(
        "devices"
    ) or []


def mounts(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A resolved service's mounts by target path."""
    found: dict[str, dict[str, Any]] = {}
    for mount in service.get("volumes", []):
        assert mount["target"] not in found, f"two mounts at {mount['target']}"
        found[mount["target"]] = mount
    return found


def named_volume_at(service: dict[str, Any], target: str) -> str:
    """The named volume a service mounts at TARGET (fails for binds and missing mounts)."""
    mount = mounts(service).get(target)
    assert mount is not None, f"nothing mounted at {target}"
    assert mount["type"] == "volume", mount
    return mount["source"]
