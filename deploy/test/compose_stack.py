"""The stack as a user runs it: the Compose v2 binary on the real compose files, talking to the
private podman engine. Podman runs healthchecks from systemd timers and there is no systemd
here, so a HealthPump runs `podman healthcheck run` for every container that has one, at its
healthcheck's interval, for as long as the stack is up; compose's `service_healthy`
conditions and the waits below then see real health states."""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from commands import CommandFailed, run
from podman_host import Podman

from dcgan_cli.waiting import wait_for

log = logging.getLogger("deploy-test.stack")
REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PROJECT = "dcgan"
PROJECT_LABEL = f"label=com.docker.compose.project={PROJECT}"
COMPOSE_FILES = (
    REPO / "docker-compose.yml",
    REPO / "docker-compose.cpu.yml",
    # test-only: the host's CA bundle for the worker's downloads (a TLS-inspecting proxy)
    HERE / "compose.host-ca.yml",
)
PUBLISHED_PORTS = (8000, 5555)
START_INTERVAL = 10.0
SEEDS = ("MNIST", "classifiers")  # folders of DCGAN_DATA_DIR


class HealthPump(threading.Thread):
    """`podman healthcheck run` for each running container with a healthcheck, at the
    interval its healthcheck sets (as Docker runs them: the retries and the start period then
    mean what they mean there; during the start period every 10 s, as compose's
    start_interval), never two at once for one container."""

    def __init__(self, podman: Podman, tick: float = 1.0) -> None:
        super().__init__(name="health-pump", daemon=True)
        self.podman = podman
        self.tick = tick
        self.stopping = threading.Event()
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.due: dict[str, float] = {}
        self.intervals: dict[str, float] = {}

    def interval(self, container_id: str) -> float:
        if container_id not in self.intervals:
            found = self.podman("inspect", "--format", "{{json .Config.Healthcheck}}",
                                container_id, quiet=True).stdout
            nanoseconds = (json.loads(found or "null") or {}).get("Interval") or 30e9
            self.intervals[container_id] = nanoseconds / 1e9
        return self.intervals[container_id]

    def run(self) -> None:
        while not self.stopping.wait(self.tick):
            try:
                self.round()
            except Exception:  # noqa: BLE001 - a listing racing a removal; try again
                log.debug("health pump round failed", exc_info=True)

    def round(self) -> None:
        now = time.monotonic()
        for container in containers(self.podman):
            key = container["Id"]
            if container["State"] != "running" or "(" not in container["Status"]:
                self.due.pop(key, None)  # not running, or no healthcheck
                continue
            # while starting, every START_INTERVAL s (Docker 25+'s start_interval): a slow
            # first start turns healthy soon after it is ready
            starting = "(starting)" in container["Status"]
            period = min(self.interval(key), START_INTERVAL if starting else float("inf"))
            due = self.due.setdefault(key, now + period)
            busy = self.running.get(key)
            if now < due or (busy is not None and busy.poll() is None):
                continue
            self.due[key] = now + period
            self.running[key] = subprocess.Popen(
                ["podman", "healthcheck", "run", key], env=self.podman.env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        for check in self.running.values():
            if check.poll() is None:
                check.kill()
                check.wait()


def containers(podman: Podman) -> list[dict[str, Any]]:
    """The project's containers, as `podman ps -a --format json` lists them."""
    listed = podman("ps", "-a", "--filter", PROJECT_LABEL, "--format", "json", quiet=True)
    return json.loads(listed.stdout or "[]")


def service_of(container: dict[str, Any]) -> str:
    return container.get("Labels", {}).get("com.docker.compose.service", container["Names"][0])


def health(container: dict[str, Any]) -> str:
    """healthy / unhealthy / starting, `none` without a healthcheck, or the state (exited...)."""
    if container["State"] != "running":
        return container["State"]
    status = container["Status"]
    for word in ("healthy", "unhealthy", "starting"):
        if f"({word})" in status:
            return word
    return "none"


class Stack:
    def __init__(self, podman: Podman, secrets: dict[str, str], ca_bundle: Path) -> None:
        self.podman = podman
        home = podman.state / "home"
        (home / "docker").mkdir(parents=True, exist_ok=True)
        # a clean environment: no .env, no developer's DOCKER_CONFIG or COMPOSE_* settings
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "DOCKER_CONFIG": str(home / "docker"), "DOCKER_HOST": podman.docker_host,
            "DEPLOY_TEST_CA_BUNDLE": str(ca_bundle), **secrets,
        }
        self.compose_binary = str(Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv"))
                                  / "bin" / "docker-compose")
        self.pump = HealthPump(podman)
        self.logs = podman.state / "logs"

    def compose_command(self) -> list[str]:
        files = [arg for path in COMPOSE_FILES for arg in ("-f", str(path))]
        empty_env = self.podman.state / "home" / "empty.env"
        empty_env.touch()
        return [self.compose_binary, *files, "--env-file", str(empty_env)]

    def compose(self, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        return run([*self.compose_command(), *args], env=self.env, cwd=REPO, **options)

    def images(self) -> list[str]:
        """The images of the services compose starts (default profile), the project's own
        excepted: those that need a stand-in."""
        config = json.loads(self.compose("config", "--format", "json", quiet=True).stdout)
        return sorted({s["image"] for s in config["services"].values() if "build" not in s})

    def project_image(self) -> str:
        config = json.loads(self.compose("config", "--format", "json", quiet=True).stdout)
        (image,) = {s["image"] for s in config["services"].values() if "build" in s}
        return image

    def check_ports_free(self) -> None:
        for port in PUBLISHED_PORTS:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise RuntimeError(f"port {port} is taken on this host: compose publishes "
                                       "it; stop what listens there first")

    def up(self, timeout: float) -> None:
        """`docker compose up -d` (never building or pulling: the images are here), watched
        while it waits for the dependencies' healthchecks, then every service healthy and the
        migration exited 0."""
        if not self.pump.is_alive():
            self.pump.start()
        up_log = self.logs / "compose-up.log"
        command = [*self.compose_command(), "up", "-d", "--no-build", "--pull", "never"]
        log.info("$ %s", shlex.join(command))
        with up_log.open("w") as output:
            process = subprocess.Popen(command, env=self.env, cwd=REPO, stdout=output,
                                       stderr=subprocess.STDOUT)
            try:
                self.wait_healthy(timeout, compose_up=process, up_log=up_log)
            finally:
                if process.poll() is None:
                    process.terminate()
                    process.wait()

    def seed_data(self, host_data: Path, image: str) -> None:
        """Copy MNIST and the evaluation classifier that `make setup` verified and trained on
        this host into the `data` volume, as the image's user, before the first start: the
        worker then starts in seconds instead of fetching MNIST and training the classifier
        (minutes on a CPU). `docker compose up --no-start` creates the volume first."""
        seeds = [host_data / name for name in SEEDS if (host_data / name).is_dir()]
        if not seeds:
            log.info("nothing to seed the data volume with in %s", host_data)
            return
        self.compose("up", "--no-start", "--no-build", "--pull", "never", timeout=300)
        mounts = [arg for seed in seeds for arg in ("-v", f"{seed}:/seed/{seed.name}:ro")]
        self.podman("run", "--rm", "--network", "none", "-v", f"{PROJECT}_data:/data", *mounts,
                    image, "cp", "-R", *(f"/seed/{seed.name}" for seed in seeds), "/data/",
                    timeout=300)
        log.info("data volume seeded with %s from %s", ", ".join(SEEDS), host_data)

    def wait_healthy(self, timeout: float, services: set[str] | None = None,
                     compose_up: subprocess.Popen[bytes] | None = None,
                     up_log: Path | None = None) -> None:
        last = ""
        states: dict[str, str] = {}

        def healthy() -> bool:
            nonlocal last, states
            done = compose_up is None or compose_up.poll() is not None
            if compose_up is not None and done and compose_up.returncode != 0:
                tail = "\n".join(up_log.read_text().splitlines()[-15:]) if up_log else ""
                raise RuntimeError(f"docker compose up exited {compose_up.returncode}:\n{tail}")
            listed = [c for c in containers(self.podman)
                      if services is None or service_of(c) in services]
            states = {service_of(c): health(c) for c in listed}
            failed = [c for c in listed if c["State"] == "exited" and c.get("ExitCode", 0) != 0]
            if failed:
                names = ", ".join(f"{service_of(c)} (exit {c.get('ExitCode')})" for c in failed)
                raise RuntimeError(f"exited with an error: {names}")
            summary = ", ".join(f"{name} {state}" for name, state in sorted(states.items()))
            if summary != last:
                log.info("  %s", summary)
                last = summary
            return done and bool(listed) and all(
                s in ("healthy", "exited") for s in states.values()
            )

        try:
            wait_for(healthy, timeout, "every service to be healthy", interval=2)
        except TimeoutError:
            waiting = sorted(n for n, s in states.items() if s not in ("healthy", "exited"))
            raise RuntimeError(f"not healthy after {timeout:.0f} s: {', '.join(waiting)}") from None

    def exec(self, service: str, *command: str, **options: Any) -> str:
        return self.compose("exec", "-T", service, *command, **options).stdout

    def save_logs(self, name: str) -> Path:
        path = self.logs / f"compose-logs-{name}.log"
        try:
            self.compose("logs", "--no-color", "--timestamps", check=False, quiet=True,
                         log_file=path, timeout=120)
        except CommandFailed:
            log.warning("could not save the compose logs")
        return path

    def down(self, volumes: bool) -> None:
        args = ["down", "--remove-orphans", "--timeout", "100"]
        self.compose(*args, *(["--volumes"] if volumes else []), timeout=600)

    def teardown(self) -> None:
        """Whatever happened: the stack and its volumes and network gone, the pump stopped, and
        a check that the engine holds nothing of the project any more."""
        try:
            self.down(volumes=True)
        except Exception as error:  # noqa: BLE001 - forced removal follows
            log.error("docker compose down failed: %s", error)
        finally:
            if self.pump.is_alive():
                self.pump.stop()
        leftovers = remove_leftovers(self.podman)
        if leftovers:
            raise RuntimeError(f"compose down left behind {', '.join(leftovers)} "
                               "(removed by force)")


def remove_leftovers(podman: Podman) -> list[str]:
    """Remove (by force) and name whatever of the project is still in the engine."""
    found = []
    for kind, listing in (("container", ["ps", "-a", "--filter", PROJECT_LABEL]),
                          ("volume", ["volume", "ls", "--filter", PROJECT_LABEL]),
                          ("network", ["network", "ls", "--filter", PROJECT_LABEL])):
        names = podman(*listing, "--format", "{{.Name}}" if kind != "container" else
                       "{{.Names}}", quiet=True, check=False).stdout.split()
        for name in names:
            found.append(f"{kind} {name}")
            remove = {"container": ["rm", "-f", "-v"], "volume": ["volume", "rm", "-f"],
                      "network": ["network", "rm", "-f"]}[kind]
            podman(*remove, name, check=False, quiet=True)
    return found
