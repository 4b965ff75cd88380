"""docker-compose.yml and docker-compose.cpu.yml: the Compose specification's JSON schema,
Compose's own resolution of the files (the real `docker compose config`, run offline from
the docker-compose binary of the dev extra), and the wiring between services, volumes,
settings and the commands the image provides."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
CPU_OVERRIDE = REPO / "docker-compose.cpu.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus.yml"
TOKEN = "token-for-the-compose-tests"
APP_SERVICES = ("api", "worker", "flower")
CHECKPOINT_ON_SHUTDOWN_S = 60  # the worker checkpoints and requeues within ~5-10 s of SIGTERM


def installed_tool(name: str) -> str:
    """A command of the dev extra: next to this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    assert found, f"`{name}` is missing: install the dev extra (pip install -e '.[dev]')"
    return found


# --- reading the files -------------------------------------------------------------------


class ResetList(list):
    """A sequence tagged `!reset` in a Compose file."""


class ResetMapping(dict):
    """A mapping tagged `!reset` in a Compose file."""


class ComposeLoader(yaml.SafeLoader):
    """YAML as Compose reads it: safe, with merge keys, and Compose's `!reset` tag."""


def _construct_reset(loader: ComposeLoader, node: yaml.Node) -> ResetList | ResetMapping:
    if isinstance(node, yaml.SequenceNode):
        return ResetList(loader.construct_sequence(node, deep=True))
    if isinstance(node, yaml.MappingNode):
        return ResetMapping(loader.construct_mapping(node, deep=True))
    raise yaml.constructor.ConstructorError(None, None, "!reset on a scalar", node.start_mark)


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
    *args: str, home: Path, token: str | None = TOKEN, override: bool = False
) -> subprocess.CompletedProcess[str]:
    """`docker compose [-f base [-f cpu]] ARGS` in a clean environment: no .env, no
    DOCKER_CONFIG or COMPOSE_* settings of the developer's; only the token when given."""
    home.mkdir(parents=True, exist_ok=True)
    env_file = home / "empty.env"
    env_file.touch()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "DOCKER_CONFIG": str(home / "docker")}
    if token is not None:
        env["DCGAN_API_TOKEN"] = token
    compose_files = ["-f", str(COMPOSE_FILE)] + (["-f", str(CPU_OVERRIDE)] if override else [])
    command = [installed_tool("docker-compose"), *compose_files, "--env-file", str(env_file), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=env, cwd=home, check=False
    )


def resolved_config(home: Path, *, override: bool) -> dict[str, Any]:
    result = run_compose("--profile", "monitoring", "config", "--format", "json",
                         home=home, override=override)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """docker-compose.yml as Compose resolves it (interpolated, merged, long syntax)."""
    return resolved_config(tmp_path_factory.mktemp("compose"), override=False)


@pytest.fixture(scope="module")
def cpu_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """docker-compose.yml merged with docker-compose.cpu.yml by Compose."""
    return resolved_config(tmp_path_factory.mktemp("compose-cpu"), override=True)


def duration_s(value: str) -> float:
    """A Compose duration ("90s", "1m30s", "1h") in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", value)
    assert parts and "".join(n + u for n, u in parts) == value, f"not a duration: {value!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


@contextmanager
def http_server(status: int, path: str) -> Iterator[int]:
    """A local HTTP server answering STATUS on PATH (404 elsewhere); yields its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == path else 404)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_healthcheck(test: list[str], port: int, local_port: int) -> int:
    """Run a healthcheck's exec-form test with its 127.0.0.1:PORT aimed at LOCAL_PORT."""
    assert test[0] == "CMD" and test[1] == "python", test
    address = f"127.0.0.1:{port}/"
    assert address in " ".join(test), test
    argv = [sys.executable, *(a.replace(address, f"127.0.0.1:{local_port}/") for a in test[2:])]
    return subprocess.run(argv, capture_output=True, timeout=60, check=False).returncode


def probe_outcomes(test: list[str], port: int, path: str) -> tuple[int, int, int]:
    """The exit status of a healthcheck against a server that answers 200, one that
    answers 503, and a port where nothing listens."""
    with http_server(200, path) as local:
        healthy = run_healthcheck(test, port, local)
    with http_server(503, path) as local:
        failing = run_healthcheck(test, port, local)
    down = run_healthcheck(test, port, local)  # that server is closed now
    return healthy, failing, down


def named_volume_at(service: dict[str, Any], target: str) -> str:
    """The named volume a service mounts at TARGET (fails for binds and missing mounts)."""
    mounts = [m for m in service.get("volumes", []) if m["target"] == target]
    assert len(mounts) == 1, f"one mount at {target} expected, got {mounts}"
    assert mounts[0]["type"] == "volume", mounts[0]
    return mounts[0]["source"]


# --- the Compose specification -------------------------------------------------------------


def test_the_schema_rejects_a_broken_service():
    broken = {"services": {"api": {"image": "x", "stop_grace_period": 90, "helthcheck": {}}}}
    assert schema_errors(broken)


def test_compose_file_follows_the_compose_specification(raw):
    assert schema_errors(raw) == []


def test_cpu_override_follows_the_compose_specification():
    override = load_yaml(CPU_OVERRIDE)
    assert schema_errors(override) == []


@pytest.mark.parametrize("override", [False, True], ids=["base", "with-cpu-override"])
def test_what_compose_resolves_follows_the_compose_specification(override, config, cpu_config):
    assert schema_errors(cpu_config if override else config) == []


def test_compose_accepts_the_files_offline(tmp_path):
    for override in (False, True):
        result = run_compose("config", "--quiet", home=tmp_path, override=override)
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("token", [None, ""], ids=["unset", "empty"])
def test_compose_refuses_to_run_without_an_api_token(tmp_path, token):
    result = run_compose("config", "--quiet", home=tmp_path, token=token)
    assert result.returncode != 0
    assert "DCGAN_API_TOKEN" in result.stderr
    assert "set DCGAN_API_TOKEN to the bearer token" in result.stderr


def test_api_token_is_a_required_variable_with_no_default(raw, config):
    declared = raw["services"]["api"]["environment"]["DCGAN_API_TOKEN"]
    assert re.fullmatch(r"\$\{DCGAN_API_TOKEN:\?[^}]+\}", declared), declared
    assert config["services"]["api"]["environment"]["DCGAN_API_TOKEN"] == TOKEN


# --- services and their wiring ---------------------------------------------------------------


def test_services(config):
    assert {"redis", "api", "worker", "flower"} <= set(config["services"])
    for name in APP_SERVICES:
        service = config["services"][name]
        assert service["build"]["context"] == str(REPO), name
        assert Path(service["build"]["context"], service["build"]["dockerfile"]).is_file()
        assert service["image"] == config["services"]["api"]["image"], "one image for all"


def test_redis_persists_with_an_append_only_file_on_a_named_volume(config):
    redis = config["services"]["redis"]
    assert redis["image"].startswith("redis:")
    assert redis["command"][:1] == ["redis-server"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert named_volume_at(redis, "/data") in config["volumes"]


def test_redis_is_healthy_when_it_answers_ping(config):
    assert config["services"]["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_every_app_service_finds_the_broker_on_the_redis_service(config):
    for name in APP_SERVICES:
        url = urlsplit(config["services"][name]["environment"]["REDIS_URL"])
        assert url.scheme == "redis", name
        assert url.hostname == "redis" and "redis" in config["services"], name
        assert url.port in (None, 6379), name


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_start_once_redis_is_healthy(config, name):
    depends_on = config["services"][name]["depends_on"]
    assert depends_on["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize(("variable", "volume"), [("DCGAN_DATA_DIR", "data"),
                                                  ("DCGAN_RUNS_DIR", "runs")])
def test_api_and_worker_share_named_volumes_where_the_settings_point(config, variable, volume):
    assert volume in config["volumes"]
    for name in ("api", "worker"):
        service = config["services"][name]
        path = service["environment"][variable]
        assert path.startswith("/"), (name, path)
        assert named_volume_at(service, path) == volume, name


def test_api_publishes_port_8000_and_is_healthy_when_ready(config):
    api = config["services"]["api"]
    assert [(p["target"], p["published"]) for p in api["ports"]] == [(8000, "8000")]
    test = api["healthcheck"]["test"]
    assert "http://127.0.0.1:8000/readyz" in " ".join(test)
    healthy, failing, down = probe_outcomes(test, 8000, "/readyz")
    assert healthy == 0 and failing != 0 and down != 0


def test_worker_reserves_an_nvidia_gpu(raw, config):
    devices = config["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert len(devices) == 1
    assert devices[0]["driver"] == "nvidia"
    assert devices[0]["capabilities"] == ["gpu"]
    assert devices[0]["count"] in (1, -1)  # -1 is how Compose writes `count: all`
    declared = raw["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert declared[0]["capabilities"] == ["gpu"]


def test_worker_gets_time_to_checkpoint_before_it_is_killed(config):
    worker = config["services"]["worker"]
    assert worker["stop_signal"] == "SIGTERM"
    assert duration_s(worker["stop_grace_period"]) > CHECKPOINT_ON_SHUTDOWN_S


def test_api_gets_time_to_finish_requests_before_it_is_killed(config):
    from dcgan_cli.main import build_parser

    graceful_s = build_parser().parse_args(["serve"]).graceful_timeout
    assert duration_s(config["services"]["api"]["stop_grace_period"]) > graceful_s


def test_worker_is_healthy_when_its_own_celery_node_answers_ping(config, tmp_path):
    from dcgan_cli.main import build_parser

    # `dcgan worker` names its node dcgan@<hostname>; in a container $HOSTNAME is that name.
    node = build_parser().parse_args(["worker"]).name
    assert node == f"dcgan@{socket.gethostname()}"
    test = config["services"]["worker"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    script = test[1].replace("$$", "$")  # `config` writes $ escaped for Compose
    assert script.startswith("celery --app worker.celery_app:app inspect ping ")
    assert "--destination dcgan@${HOSTNAME} " in script
    # with no broker to answer, the check fails
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path,
        check=False,
        env={"PATH": f"{Path(installed_tool('celery')).parent}:/usr/bin:/bin",
             "HOSTNAME": "test", "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"},
    )
    assert result.returncode != 0
    assert "broker" in result.stderr


def test_duration_parser_reads_compose_durations():
    assert duration_s("1m30s") == 90 and duration_s("90s") == 90 and duration_s("1h") == 3600
    with pytest.raises(AssertionError):
        duration_s("90")


def test_cpu_override_drops_the_gpu_reservation_and_nothing_else(config, cpu_config):
    override = load_yaml(CPU_OVERRIDE)
    devices = override["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert isinstance(devices, ResetList), "a plain list would be appended to the GPU one"
    worker = cpu_config["services"]["worker"]
    assert not worker.get("deploy", {}).get("resources", {}).get("reservations", {}).get(
        "devices"
    )
    assert {k: v for k, v in worker.items() if k != "deploy"} == {
        k: v for k, v in config["services"]["worker"].items() if k != "deploy"
    }
    assert {k: v for k, v in cpu_config.items() if k != "services"} == {
        k: v for k, v in config.items() if k != "services"
    }
    for name, service in config["services"].items():
        if name != "worker":
            assert cpu_config["services"][name] == service, name


def test_flower_runs_against_the_celery_app_on_port_5555(config):
    flower = config["services"]["flower"]
    assert flower["command"] == [
        "celery", "--app", "worker.celery_app:app", "flower", "--port=5555",
    ]
    assert [(p["target"], p["published"], p.get("host_ip")) for p in flower["ports"]] == [
        (5555, "5555", "127.0.0.1")
    ]
    test = flower["healthcheck"]["test"]
    assert "http://127.0.0.1:5555/healthcheck" in " ".join(test)
    healthy, failing, down = probe_outcomes(test, 5555, "/healthcheck")
    assert healthy == 0 and failing != 0 and down != 0


# --- the commands compose runs exist -------------------------------------------------------


def test_compose_runs_console_scripts_the_image_installs(config):
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert config["services"]["api"]["command"][:2] == ["dcgan", "serve"]
    assert config["services"]["worker"]["command"] == ["dcgan", "worker"]
    assert scripts["dcgan"] == "dcgan_cli.main:main"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"pip install [^\n]*flower==", dockerfile), "celery's flower command"


def dcgan_help(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [installed_tool("dcgan"), *args, "--help"], capture_output=True, text=True,
        timeout=120, cwd=cwd, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_dcgan_has_the_serve_and_worker_sub_commands(tmp_path):
    usage = dcgan_help(cwd=tmp_path)
    assert re.search(r"^\s+serve\b", usage, re.MULTILINE), usage
    assert re.search(r"^\s+worker\b", usage, re.MULTILINE), usage
    serve_usage = dcgan_help("serve", cwd=tmp_path)
    assert "--host" in serve_usage and "--port" in serve_usage


def test_flowers_celery_app_loads(tmp_path):
    """`celery --app worker.celery_app:app` resolves (report prints its settings offline)."""
    result = subprocess.run(
        [installed_tool("celery"), "--app", "worker.celery_app:app", "report"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
             "REDIS_URL": "redis://redis:6379/0"},
    )
    assert result.returncode == 0, result.stderr
    assert "software -> celery:" in result.stdout


# --- Prometheus ------------------------------------------------------------------------------


def test_prometheus_scrapes_the_api_and_flower_metrics(config):
    scrape = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    targets = {
        target: job.get("metrics_path", "/metrics")
        for job in scrape for group in job["static_configs"] for target in group["targets"]
    }
    assert targets == {"api:8000": "/metrics", "flower:5555": "/metrics"}
    for target in targets:
        host, port = target.split(":")
        assert int(port) in [p["target"] for p in config["services"][host]["ports"]]


def test_prometheus_is_optional_and_reads_the_deploy_config(config, raw):
    prometheus = config["services"]["prometheus"]
    assert raw["services"]["prometheus"]["profiles"] == ["monitoring"]
    config_path = next(a.split("=", 1)[1] for a in prometheus["command"]
                       if a.startswith("--config.file="))
    mounts = {m["target"]: m for m in prometheus["volumes"]}
    assert mounts[config_path]["type"] == "bind"
    assert Path(mounts[config_path]["source"]) == PROMETHEUS_CONFIG
    assert mounts[config_path]["read_only"] is True


def test_the_default_profile_starts_no_prometheus(tmp_path):
    result = run_compose("config", "--services", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == ["api", "flower", "redis", "worker"]
