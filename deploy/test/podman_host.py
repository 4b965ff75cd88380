"""Podman as this test's private container engine: the Debian packages it needs, a
configuration of its own (storage, networks, runtime) in the state folder, and its Docker API
on a private socket for the `docker` client and Compose.

Everything lives under the state folder: the images built here (stand-ins included) are never
seen by the host's own podman or docker, and the images stay there between runs as a cache."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from commands import run

from dcgan_cli.waiting import stop_process, wait_for

log = logging.getLogger("deploy-test.podman")

# Debian's podman with runc (its default crun cannot manage cgroups v1 in hybrid mode),
# catatonit for `init: true`, iptables for the bridge network's NAT, mmdebstrap for the
# stand-ins' root filesystem.
PACKAGES = ("podman", "runc", "catatonit", "iptables", "mmdebstrap")

CONTAINERS_CONF = """\
[containers]
# the sandbox refuses podman's default rlimits
default_ulimits = []
# no journald: plain log files, which `docker compose logs` reads
log_driver = "k8s-file"

[engine]
runtime = "runc"
# no systemd here
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{state}/events.log"

[network]
network_config_dir = "{state}/networks"
"""

STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{state}/storage"
runroot = "{state}/run"
"""


def install_missing_packages() -> None:
    missing = [
        name for name in PACKAGES
        if subprocess.run(["dpkg", "-s", name], capture_output=True, check=False).returncode
    ]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(f"missing Debian packages {' '.join(missing)}: "
                         f"as root, apt-get install {' '.join(missing)}")
    log.info("installing %s", " ".join(missing))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-q"], env=env, quiet=True)
    run(["apt-get", "install", "-y", "-q", *missing], env=env, quiet=True)


class Podman:
    """The private engine: `podman` commands with its configuration, and its API service."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.socket = state / "podman.sock"
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(state / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(state / "storage.conf"),
        }
        self.docker_host = f"unix://{self.socket}"
        self._service: subprocess.Popen[bytes] | None = None

    def configure(self) -> None:
        (self.state / "networks").mkdir(parents=True, exist_ok=True)
        (self.state / "containers.conf").write_text(CONTAINERS_CONF.format(state=self.state))
        (self.state / "storage.conf").write_text(STORAGE_CONF.format(state=self.state))

    def __call__(self, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        """`podman ARGS` on the private engine; OPTIONS as for commands.run."""
        return run(["podman", *args], env=self.env, **options)

    def output(self, *args: str) -> str:
        return self(*args, quiet=True).stdout.strip()

    def start_service(self) -> None:
        """`podman system service` on the private socket, with its log in the state folder."""
        self.socket.unlink(missing_ok=True)
        service_log = (self.state / "podman-service.log").open("ab")
        self._service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", self.docker_host],
            env=self.env, stdout=service_log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        service = self._service

        def answers() -> bool:
            if service.poll() is not None:
                raise RuntimeError(f"podman system service exited ({service.returncode});"
                                   f" see {self.state / 'podman-service.log'}")
            return self._answers()

        wait_for(answers, 60, "podman system service to answer", interval=0.5)
        log.info("podman API service (pid %d) on %s", self._service.pid, self.socket)

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        done = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env={**self.env, "DOCKER_HOST": self.docker_host}, capture_output=True, check=False,
        )
        return done.returncode == 0

    def stop_service(self) -> None:
        if self._service is None:
            return
        service, self._service = self._service, None
        stop_process(service, 30)
        log.info("podman API service stopped")
        self.socket.unlink(missing_ok=True)
