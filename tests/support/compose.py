"""Reading Compose files as Compose does: YAML with merge keys and `!reset`, the Compose
specification's JSON schema, durations, the services' mounts and devices, and the real
`docker compose` (the Compose binary of the dev extra, run offline in a clean environment)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.support.tools import installed_tool

# --- the files as YAML -----------------------------------------------------------------------


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
    """A Compose file as YAML: merge keys applied, `!reset` values tagged, nothing
    interpolated."""
    with path.open(encoding="utf-8") as stream:
        return yaml.load(stream, Loader=ComposeLoader)


# --- the Compose specification ---------------------------------------------------------------


def compose_spec_validator() -> jsonschema.protocols.Validator:
    """The Compose specification's JSON schema, as vendored by check-jsonschema."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    text = (vendor / "compose-spec.json").read_text()
    schema = json.loads(text)
    assert schema["title"] == "Compose Specification"
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def schema_errors(document: object) -> list[str]:
    """Where and how DOCUMENT breaks the Compose specification (empty when it follows it)."""
    return [
        f"{error.json_path}: {error.message}"
        for error in compose_spec_validator().iter_errors(document)
    ]


def duration_s(value: str) -> float:
    """A Compose duration ("90s", "1m30s", "1h") in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not a duration: {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


# --- Compose itself --------------------------------------------------------------------------


def run_compose(
    *args: str, files: Sequence[Path], home: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """`docker compose -f FILE... ARGS` in a clean environment: no .env, no DOCKER_CONFIG or
    COMPOSE_* settings of the developer's; PATH, a HOME of its own and only ENV."""
    home.mkdir(parents=True, exist_ok=True)
    env_file = home / "empty.env"
    env_file.touch()
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
             "DOCKER_CONFIG": str(home / "docker"), **env}
    options = [option for path in files for option in ("-f", str(path))]
    command = [installed_tool("docker-compose"), *options, "--env-file", str(env_file), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=clean, cwd=home, check=False
    )


# --- resolved services -----------------------------------------------------------------------


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
