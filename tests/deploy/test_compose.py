"""docker-compose.yml and docker-compose.cpu.yml: the Compose specification's JSON schema,
Compose's own resolution of the files, the required secrets, and the service processes: the
API, the per-GPU workers, Flower and Prometheus, with the commands the image provides.
(The stores they share and their wiring: test_compose_state.py.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from dcgan_cli.waiting import free_port, wait_for
from tests.deploy.compose_files import (
    CHECKPOINT_ON_SHUTDOWN_S,
    COMPOSE_FILE,
    CPU_OVERRIDE,
    REPO,
    SECRETS,
    WORKER_COMMAND,
    run_project_compose,
    worker_services,
)
from tests.support.compose import (
    ResetList,
    ResetScalar,
    duration_s,
    gpu_devices,
    load_yaml,
    named_volume_at,
    schema_errors,
)
from tests.support.http_stub import http_server
from tests.support.tools import installed_tool

PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus.yml"
APP_SERVICES = ("migrate", "api", "worker", "worker-gpu1", "flower")


# --- healthchecks against local servers --------------------------------------------------------


def healthcheck_argv(test: list[str]) -> list[str]:
    """A healthcheck's test as the command the engine runs: CMD as is, CMD-SHELL by sh -c."""
    if test[0] == "CMD-SHELL":
        assert len(test) == 2, test
        return ["sh", "-c", test[1]]
    assert test[0] == "CMD", test
    return test[1:]


def run_healthcheck(test: list[str], port: int, local_port: int) -> int:
    """Run a healthcheck's test with `python` this interpreter and its 127.0.0.1:PORT aimed
    at LOCAL_PORT."""
    address = f"127.0.0.1:{port}/"
    assert address in " ".join(test), test
    python = shlex.quote(sys.executable)
    argv = [re.sub(r"^python ", f"{python} ", arg).replace(address, f"127.0.0.1:{local_port}/")
            for arg in healthcheck_argv(test)]
    if argv[0] == "python":
        argv[0] = sys.executable
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


# --- the Compose specification -------------------------------------------------------------


def test_compose_file_follows_the_compose_specification(raw):
    assert schema_errors(raw) == []


def test_cpu_override_follows_the_compose_specification():
    assert schema_errors(load_yaml(CPU_OVERRIDE)) == []


@pytest.mark.parametrize("override", [False, True], ids=["base", "with-cpu-override"])
def test_what_compose_resolves_follows_the_compose_specification(override, config, cpu_config):
    assert schema_errors(cpu_config if override else config) == []


@pytest.mark.parametrize("profiles", [[], ["--profile", "gpu1"]], ids=["default", "gpu1"])
def test_compose_accepts_the_files_offline(tmp_path, profiles):
    for override in (False, True):
        result = run_project_compose(
            *profiles, "config", "--quiet", home=tmp_path, override=override
        )
        assert result.returncode == 0, result.stderr


# --- secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_compose_refuses_to_run_without_each_secret(tmp_path, secret, value):
    given = {k: v for k, v in SECRETS.items() if k != secret}
    if value is not None:
        given[secret] = value
    result = run_project_compose("config", "--quiet", home=tmp_path, secrets=given)
    assert result.returncode != 0
    assert f"required variable {secret} is missing a value: set {secret} to " in result.stderr


def test_secrets_are_required_everywhere_and_never_have_a_default():
    text = COMPOSE_FILE.read_text()
    for secret in SECRETS:
        uses = re.findall(rf"\$\{{{secret}([^}}]*)\}}", text)
        assert uses, f"{secret} is never used"
        for use in uses:
            assert re.fullmatch(rf":\?set {secret} to [^}}]+", use), (secret, use)
    assert not re.search(r"\$\{[A-Z_]*(PASSWORD|TOKEN|SECRET)[A-Z_]*:?-", text), "a default"


def test_compose_passes_the_secrets_it_is_given(config):
    api = config["services"]["api"]["environment"]
    assert api["DCGAN_API_TOKEN"] == SECRETS["DCGAN_API_TOKEN"]
    for name, service in config["services"].items():
        if name != "api":
            assert "DCGAN_API_TOKEN" not in service.get("environment", {}), name
    flower = config["services"]["flower"]["environment"]
    assert not set(flower.values()) & set(SECRETS.values()), "Flower needs no secrets"


# --- services --------------------------------------------------------------------------------


def test_services(config):
    assert set(config["services"]) == {
        "redis", "postgres", "minio", *APP_SERVICES, "prometheus",
    }
    for name in APP_SERVICES:
        service = config["services"][name]
        assert service["build"]["context"] == str(REPO), name
        assert Path(service["build"]["context"], service["build"]["dockerfile"]).is_file()
        assert service["image"] == config["services"]["api"]["image"], "one image for all"


def test_the_image_is_tagged_with_the_project_version(config):
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert config["services"]["api"]["image"] == f"dcgan-service:{version}"


def test_the_default_profile_runs_the_stores_the_api_one_worker_and_flower(tmp_path):
    result = run_project_compose("config", "--services", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == [
        "api", "flower", "migrate", "minio", "postgres", "redis", "worker",
    ]


def test_redis_persists_with_an_append_only_file_on_a_named_volume(config):
    redis = config["services"]["redis"]
    assert redis["image"].startswith("redis:")
    assert redis["command"][:1] == ["redis-server"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert redis["volumes"][0]["type"] == "volume" and redis["volumes"][0]["target"] == "/data"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_every_app_service_finds_the_broker_on_the_redis_service(config):
    for name in APP_SERVICES:
        url = urlsplit(config["services"][name]["environment"]["REDIS_URL"])
        assert url.scheme == "redis", name
        assert url.hostname == "redis" and "redis" in config["services"], name
        assert url.port in (None, 6379), name


def test_api_publishes_port_8000_and_is_healthy_when_ready(config):
    api = config["services"]["api"]
    assert [(p["target"], p["published"]) for p in api["ports"]] == [(8000, "8000")]
    test = api["healthcheck"]["test"]
    assert "http://127.0.0.1:8000/readyz" in " ".join(test)
    healthy, failing, down = probe_outcomes(test, 8000, "/readyz")
    assert healthy == 0 and failing != 0 and down != 0


def test_api_answers_to_the_host_names_it_is_reached_by(config):
    from service.allowed_hosts import HostPatterns
    from service.settings import ServiceSettings

    api = config["services"]["api"]
    listed = ServiceSettings(DCGAN_ALLOWED_HOSTS=api["environment"]["DCGAN_ALLOWED_HOSTS"])
    hosts = HostPatterns(listed.allowed_hosts)
    scrape = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    (target,) = [target for job in scrape for group in job["static_configs"]
                 for target in group["targets"] if target.startswith("api:")]
    healthcheck = urlsplit(re.search(r"http://[^/']+", " ".join(api["healthcheck"]["test"]))[0])
    published = f"localhost:{api['ports'][0]['published']}"
    for host in (target, healthcheck.netloc, published):
        assert hosts.allows(host), host
    assert not hosts.allows("rebound.example.com:8000")


def test_api_gets_time_to_finish_requests_before_it_is_killed(config):
    from dcgan_cli.main import build_parser

    graceful_s = build_parser().parse_args(["serve"]).graceful_timeout
    assert duration_s(config["services"]["api"]["stop_grace_period"]) > graceful_s


# --- workers: one GPU each -------------------------------------------------------------------


def test_each_worker_service_reserves_one_gpu_by_id_and_trains_on_it(config):
    workers = worker_services(config)
    assert set(workers) == {"worker", "worker-gpu1"}
    ids = {}
    for name, worker in workers.items():
        (device,) = gpu_devices(worker)
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"], name
        assert "count" not in device, f"{name}: a count maps to devices 0..N-1"
        (ids[name],) = device["device_ids"]
        assert worker["environment"]["DCGAN_DEVICE"] == "cuda", name
    assert ids == {"worker": "0", "worker-gpu1": "1"}


def test_the_second_gpu_worker_is_optional(raw):
    assert "profiles" not in raw["services"]["worker"]
    assert raw["services"]["worker-gpu1"]["profiles"] == ["gpu1"]


def test_worker_services_differ_only_in_their_gpu_profile_and_scratch(config):
    def shared(service: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in service.items() if k not in ("deploy", "profiles", "volumes")}

    workers = worker_services(config)
    assert shared(workers["worker"]) == shared(workers["worker-gpu1"])


def test_worker_gets_time_to_checkpoint_before_it_is_killed(config):
    for name, worker in worker_services(config).items():
        assert worker["stop_signal"] == "SIGTERM", name
        assert duration_s(worker["stop_grace_period"]) > CHECKPOINT_ON_SHUTDOWN_S, name


def test_each_worker_keeps_torch_compile_cache_on_the_data_volume(config):
    """Compiled graphs outlive the container: later jobs and restarted workers reuse them."""
    for name, worker in worker_services(config).items():
        cache = worker["environment"]["TORCHINDUCTOR_CACHE_DIR"]
        data = worker["environment"]["DCGAN_DATA_DIR"]
        assert cache == f"{data}/torchinductor", name
        assert named_volume_at(worker, data) == "data", name


def test_worker_healthcheck_is_the_worker_ping_command(config):
    for name, worker in worker_services(config).items():
        check = worker["healthcheck"]
        assert check["test"] == ["CMD", "dcgan", "worker-ping"], name
        assert duration_s(check["timeout"]) <= duration_s(check["interval"]), name
        # the first start trains the evaluation classifier (minutes on a CPU): as long a
        # grace as the Kubernetes startupProbe's 15 minutes
        assert duration_s(check["start_period"]) >= 15 * 60, name


def dcgan_worker_ping(env: dict[str, str], cwd: Path, *options: str) -> int:
    return subprocess.run(
        [installed_tool("dcgan"), "worker-ping", *options], env=env, cwd=cwd,
        capture_output=True, timeout=120, check=False,
    ).returncode


def test_worker_ping_fails_without_a_broker_in_one_line(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    done = subprocess.run([installed_tool("dcgan"), "worker-ping"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "the broker is unreachable" in done.stderr.strip().splitlines()[-1]


@pytest.mark.processes
def test_worker_ping_answers_for_a_worker_of_this_host_while_it_runs(tmp_path):
    """The healthcheck against a real broker and real workers: a node of another host does
    not count; a worker started with its default name (dcgan-<pid>@<hostname>) does."""
    from tests.support.stack import RedisServer, Stack

    broker = RedisServer(tmp_path)
    broker.start()
    stack = Stack(tmp_path / "stack", broker.url)

    def running(name: str, condition: Callable[[], bool]) -> Callable[[], bool]:
        def check() -> bool:
            assert stack.processes[name].poll() is None, f"{name} exited:\n{stack.logs()}"
            return condition()

        return check

    def answered(*options: str) -> bool:
        return dcgan_worker_ping(stack.env, tmp_path, *options) == 0

    def ready(name: str) -> Callable[[], bool]:
        return running(name, lambda: b"ready." in (stack.root / f"{name}.log").read_bytes())

    quick = ("--timeout", "1")  # a worker on a local broker answers in milliseconds
    try:
        stack.dcgan("elsewhere", "worker", "--name", "dcgan-1@another-host")
        # asked while the other host's worker starts: up or not, it is no worker of this host
        assert not answered(*quick), "no worker of this host yet"
        wait_for(ready("elsewhere"), 120, "the other host's worker to be ready")
        assert not answered(*quick), "a node of another host answered"
        stack.dcgan("worker", "worker")
        wait_for(ready("worker"), 120, "this host's worker to be ready")
        assert answered(), "the healthcheck's own command"
        stack.stop("worker")
        assert not answered(*quick), "the stopped worker answered"
    finally:
        stack.stop_all()
        broker.stop()


# --- the CPU override ------------------------------------------------------------------------


def test_cpu_override_resets_every_worker_service(config):
    override = load_yaml(CPU_OVERRIDE)["services"]
    assert set(override) == set(worker_services(config))
    for name, service in override.items():
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert isinstance(devices, ResetList), "a plain list would be appended to the GPU one"
        assert isinstance(service["environment"]["DCGAN_DEVICE"], ResetScalar), name


def test_cpu_override_drops_the_gpus_and_the_device_and_nothing_else(config, cpu_config):
    for name, service in config["services"].items():
        cpu = cpu_config["services"][name]
        if name not in worker_services(config):
            assert cpu == service, name
            continue
        assert gpu_devices(cpu) == [], name
        assert "DCGAN_DEVICE" not in cpu["environment"], name
        assert cpu["environment"] == {
            k: v for k, v in service["environment"].items() if k != "DCGAN_DEVICE"
        }
        unchanged = ("deploy", "environment")
        assert {k: v for k, v in cpu.items() if k not in unchanged} == {
            k: v for k, v in service.items() if k not in unchanged
        }
    assert {k: v for k, v in cpu_config.items() if k != "services"} == {
        k: v for k, v in config.items() if k != "services"
    }


# --- Flower ------------------------------------------------------------------------------------


def test_flower_runs_from_the_dcgan_command_on_port_5555(config):
    flower = config["services"]["flower"]
    assert flower["command"] == ["dcgan", "flower", "--port=5555"]
    assert flower["depends_on"]["redis"]["condition"] == "service_healthy"
    assert [(p["target"], p["published"], p.get("host_ip")) for p in flower["ports"]] == [
        (5555, "5555", "127.0.0.1")
    ]
    test = flower["healthcheck"]["test"]
    assert "http://127.0.0.1:5555/healthcheck" in " ".join(test)
    healthy, failing, down = probe_outcomes(test, 5555, "/healthcheck")
    assert healthy == 0 and failing != 0 and down != 0


def test_no_exec_form_healthcheck_argument_holds_a_space(config):
    """Podman's Docker API (4.3, Debian bookworm's podman) joins an exec-form test and splits
    it again on spaces: `["CMD", "python", "-c", "import x; ..."]` runs `python -c import`
    and never passes. Commands with spaces in an argument go through CMD-SHELL."""
    for name, service in config["services"].items():
        test = service.get("healthcheck", {}).get("test") or ["NONE"]
        if test[0] == "CMD":
            assert not [arg for arg in test if re.search(r"\s", arg)], (name, test)


# --- the commands compose runs exist -------------------------------------------------------


def dcgan_help(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [installed_tool("dcgan"), *args, "--help"], capture_output=True, text=True,
        timeout=120, cwd=cwd, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_compose_runs_the_dcgan_console_script(config):
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["dcgan"] == "dcgan_cli.main:main"
    commands = {name: config["services"][name]["command"] for name in APP_SERVICES}
    assert commands == {
        "migrate": ["dcgan", "db", "upgrade"],
        "api": ["dcgan", "serve", "--host", "0.0.0.0", "--port", "8000"],
        "worker": WORKER_COMMAND,
        "worker-gpu1": WORKER_COMMAND,
        "flower": ["dcgan", "flower", "--port=5555"],
    }
    # Flower is in the image: its extra is in the lock the Dockerfile installs
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert [r for r in extras["flower"] if r.startswith("flower==")]
    assert re.search(r"^flower==", (REPO / "requirements.lock").read_text(), re.MULTILINE)
    assert "-r /tmp/requirements.lock" in (REPO / "Dockerfile").read_text()


@pytest.mark.parametrize("command", ["serve", "worker", "db", "worker-ping", "flower"])
def test_dcgan_has_the_sub_commands_compose_runs(tmp_path, command):
    usage = dcgan_help(cwd=tmp_path)
    assert re.search(rf"^\s+{re.escape(command)}\b", usage, re.MULTILINE), usage


def test_the_sub_commands_take_the_arguments_compose_gives(tmp_path):
    serve_usage = dcgan_help("serve", cwd=tmp_path)
    assert "--host" in serve_usage and "--port" in serve_usage
    assert "upgrade" in dcgan_help("db", cwd=tmp_path)
    dcgan_help("db", "upgrade", cwd=tmp_path)
    dcgan_help("worker-ping", cwd=tmp_path)


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
