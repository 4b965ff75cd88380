"""The Compose helpers: the YAML loader's merge keys and `!reset`, the schema, durations, the
mounts and devices of a resolved service, and Compose run in a clean environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.compose import (
    ResetList,
    ResetMapping,
    ResetScalar,
    duration_s,
    gpu_devices,
    load_yaml,
    mounts,
    named_volume_at,
    run_compose,
    schema_errors,
)

BASE = """\
services:
  app:
    image: "busybox:${TAG:?set TAG}"
    environment:
      MODE: base
      DEVICE: gpu
"""
OVERRIDE = """\
services:
  app:
    environment:
      MODE: override
      DEVICE: !reset null
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a one-service compose file, an override and a .env Compose would read."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "base.yml").write_text(BASE)
    (folder / "override.yml").write_text(OVERRIDE)
    (folder / ".env").write_text("TAG=from-the-dotenv\n")
    return folder


# --- the YAML loader -------------------------------------------------------------------------


def test_the_loader_applies_merge_keys_and_tags_what_is_reset(tmp_path):
    path = tmp_path / "compose.yml"
    path.write_text(
        "x-common: &common\n  restart: always\n  environment: {A: '1'}\n"
        "services:\n"
        "  app:\n    <<: *common\n    image: app\n"
        "  worker:\n    <<: *common\n    ports: !reset []\n"
        "    environment: !reset {B: '2'}\n    command: !reset null\n"
    )
    services = load_yaml(path)["services"]
    assert services["app"] == {"restart": "always", "environment": {"A": "1"}, "image": "app"}
    worker = services["worker"]
    assert worker == {"restart": "always", "ports": [], "environment": {"B": "2"},
                      "command": "null"}
    assert type(worker["ports"]) is ResetList
    assert type(worker["environment"]) is ResetMapping
    assert type(worker["command"]) is ResetScalar
    assert type(services["app"]["environment"]) is dict


def test_the_loader_is_safe(tmp_path):
    path = tmp_path / "compose.yml"
    path.write_text("services: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        load_yaml(path)


# --- the Compose specification ---------------------------------------------------------------


def test_the_schema_accepts_a_valid_file_and_says_where_a_broken_one_breaks():
    assert schema_errors({"services": {"api": {"image": "x", "stop_grace_period": "90s"}}}) == []
    assert schema_errors({"services": {"api": {"image": "x", "helthcheck": {}}}}) == [
        "$.services.api: Unevaluated properties are not allowed ('helthcheck' was unexpected)"
    ]
    errors = schema_errors({"services": {"api": {"image": "x", "stop_grace_period": 90}}})
    assert "$.services.api.stop_grace_period: 90 is not of type 'string'" in errors


@pytest.mark.parametrize(("value", "seconds"), [
    ("90s", 90), ("1m30s", 90), ("1h", 3600), ("1h2m3s", 3723), ("1.5s", 1.5),
    ("500ms", 0.5), ("250us", 250e-6), ("10ns", 10e-9), ("2m500ms", 120.5),
])
def test_durations_are_read_in_seconds(value, seconds):
    assert duration_s(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["90", "", "s", "1x", "1m 30s", " 90s", "-5s", "1d"])
def test_what_is_not_a_duration_fails(value):
    with pytest.raises(AssertionError, match="not a duration"):
        duration_s(value)


# --- resolved services -----------------------------------------------------------------------


def test_mounts_are_found_by_target_and_named_volumes_told_from_binds():
    service = {"volumes": [
        {"type": "volume", "source": "data", "target": "/data"},
        {"type": "bind", "source": "/host/config", "target": "/config"},
    ]}
    assert set(mounts(service)) == {"/data", "/config"}
    assert named_volume_at(service, "/data") == "data"
    with pytest.raises(AssertionError):
        named_volume_at(service, "/config")
    with pytest.raises(AssertionError, match="nothing mounted at /runs"):
        named_volume_at(service, "/runs")
    assert mounts({}) == {}
    doubled = {"volumes": [{"type": "volume", "source": s, "target": "/d"} for s in "ab"]}
    with pytest.raises(AssertionError, match="two mounts at /d"):
        mounts(doubled)


def test_gpu_devices_are_the_reserved_devices_or_none():
    device = {"driver": "nvidia", "device_ids": ["0"], "capabilities": ["gpu"]}
    service = {"deploy": {"resources": {"reservations": {"devices": [device]}}}}
    assert gpu_devices(service) == [device]
    assert gpu_devices({}) == []
    assert gpu_devices({"deploy": {"resources": {"reservations": {"devices": None}}}}) == []
    assert gpu_devices({"deploy": {"resources": {"limits": {"cpus": "1"}}}}) == []


# --- Compose itself --------------------------------------------------------------------------


def resolved(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """What `config --format json` printed, once Compose has succeeded."""
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_merges_the_files_in_order(project, tmp_path):
    config = resolved(run_compose(
        "config", "--format", "json", files=[project / "base.yml", project / "override.yml"],
        home=tmp_path / "home", env={"TAG": "1"},
    ))
    assert config["services"]["app"]["image"] == "busybox:1"
    assert config["services"]["app"]["environment"] == {"MODE": "override"}
    alone = resolved(run_compose(
        "config", "--format", "json", files=[project / "base.yml"], home=tmp_path / "home",
        env={"TAG": "2"},
    ))
    assert alone["services"]["app"]["environment"] == {"MODE": "base", "DEVICE": "gpu"}


def test_compose_sees_only_the_variables_it_is_given(project, tmp_path, monkeypatch):
    """Neither this process's environment nor the .env beside the file reaches it."""
    monkeypatch.setenv("TAG", "from-the-shell")
    result = run_compose("config", "--quiet", files=[project / "base.yml"],
                         home=tmp_path / "home", env={})
    assert result.returncode != 0
    assert "required variable TAG is missing a value: set TAG" in result.stderr


def test_compose_runs_in_a_home_of_its_own_with_an_empty_env_file(project, tmp_path):
    home = tmp_path / "not" / "yet" / "there"
    result = run_compose("config", "--services", files=[project / "base.yml"], home=home,
                         env={"TAG": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["app"]
    assert (home / "empty.env").read_text() == ""
