"""An S3 server for tests and benchmarks: moto's server mode as its own process on a free port.

``moto_server`` keeps objects in memory and speaks the S3 REST API, so s3fs talks to it exactly
as to any S3-compatible service, found through the standard ``AWS_ENDPOINT_URL`` variable.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dcgan_cli.waiting import free_port, stop_process, wait_for

MOTO_SERVER = Path(sys.executable).parent / "moto_server"
REGION = "us-east-1"


def answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def moto_server(startup_seconds: float = 30.0) -> Iterator[str]:
    """Start moto's S3 server, wait until it answers, yield its endpoint URL, stop it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def up() -> bool:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"moto_server exited with {process.returncode}: {error}")
            return answers(endpoint)

        wait_for(up, startup_seconds, f"moto_server on {endpoint}")
        yield endpoint
    finally:
        stop_process(process, 10)
        if process.stderr:
            process.stderr.close()
