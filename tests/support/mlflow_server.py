"""An MLflow tracking server for tests: ``mlflow server`` (the dev extra's full mlflow) as a
process of its own on a free port, its runs in SQLite and its artifacts in a folder, both
under the folder it is given."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dcgan_cli.waiting import free_port, stop_process, wait_for
from tests.support.tools import installed_tool


def answers(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=1) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def mlflow_server(folder: Path, startup_seconds: float = 120.0) -> Iterator[str]:
    """Start ``mlflow server``, wait until its health endpoint answers, yield its URI, stop
    it (and its uvicorn child: the server runs in a process group of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"http://127.0.0.1:{free_port()}"
    log_path = folder / "server.log"
    environment = {
        # not the project's code: coverage's tracer would only slow its start
        **{name: value for name, value in os.environ.items()
           if name != "COVERAGE_PROCESS_CONFIG"},
        # the background job runner (a handful of huey processes) serves features the tests
        # do not use, and would take the cores the tests need
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    with log_path.open("wb") as server_log:
        process = subprocess.Popen(
            [installed_tool("mlflow"), "server", "--host", "127.0.0.1",
             "--port", uri.rsplit(":", 1)[1], "--workers", "1",
             "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts")],
            stdout=server_log, stderr=subprocess.STDOUT, env=environment,
            start_new_session=True,
        )
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {process.returncode}: "
                                   f"{log_path.read_text()[-2000:]}")
            return answers(uri)

        wait_for(up, startup_seconds, f"mlflow server on {uri}", interval=0.1,
                 failure=lambda: log_path.read_text()[-2000:])
        yield uri
    finally:
        stop_process(process, 10, group=True)
