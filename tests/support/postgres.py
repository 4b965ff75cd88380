"""A PostgreSQL server of a test's own, on a free port, that the test may stop and restart.

initdb refuses to run as root, so the cluster lives in a folder of its own under the system's
temporary directory (pytest's folders are private to root), owned by the ``postgres`` user,
and the server runs as that user (``runuser``), listening on 127.0.0.1 with trust auth.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dcgan_cli.waiting import free_port, wait_for

BIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dcgan-test-postgres-"))
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        shutil.chown(self.folder, "postgres", "postgres")
        os.chmod(self.folder, 0o700)
        self._as_postgres(str(BIN / "initdb"), "-D", str(self.folder), "-A", "trust",
                          "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(str(BIN / "pg_ctl"), "-D", str(self.folder), "-o", options,
                          "-l", str(self.folder / "log"), "-w", "start")
        self._wait_accepting()

    def stop(self) -> None:
        if (self.folder / "postmaster.pid").exists():
            self._as_postgres(str(BIN / "pg_ctl"), "-D", str(self.folder), "-m", "fast",
                              "-w", "stop")

    def remove(self) -> None:
        """Stop the server and delete its cluster."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def _wait_accepting(self, timeout: float = 30) -> None:
        def ready() -> bool:
            done = subprocess.run(
                [str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True, check=False,
            )
            return done.returncode == 0

        wait_for(ready, timeout, f"PostgreSQL on port {self.port}", interval=0.1)

    @staticmethod
    def _as_postgres(*command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True,
                       capture_output=True)
