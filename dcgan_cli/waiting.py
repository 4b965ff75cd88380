"""Waiting for other processes: a free port to give one, polling until it is ready, and
stopping it.

``dcgan up`` waits for the API it starts; the tests, benchmarks and the deployment test wait
for the servers and jobs they start the same way.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def stop_process(
    process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float, group: bool = False
) -> bool:
    """SIGTERM, then SIGKILL (to its process group when ``group``) if it has not exited within
    ``timeout`` seconds; False when it had to be killed."""
    if process.poll() is not None:
        return True
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.05,
    failure: Callable[[], object] | None = None,
) -> T:
    """Call ``condition`` until it returns something true, and return that; TimeoutError
    (naming ``what``, and what ``failure()`` says of the state then) after ``timeout``
    seconds. ``condition`` may raise to give up early."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            found = f": {failure()}" if failure is not None else ""
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}{found}")
        time.sleep(interval)
