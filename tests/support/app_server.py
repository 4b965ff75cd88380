"""The app in a real uvicorn (the server ``dcgan serve`` runs), on a free port, in a thread of
the test's process: for what only a real HTTP server shows (streams, a generated client)."""

from __future__ import annotations

import socket
import threading

import uvicorn

from dcgan_cli.waiting import wait_for
from service.http_server import Server


class AppServer:
    def __init__(self, app, graceful_timeout: int | None = None) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = Server(uvicorn.Config(
            app, log_level="warning", timeout_graceful_shutdown=graceful_timeout,
        ))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]})

    def __enter__(self) -> AppServer:
        self.thread.start()

        def started() -> bool:
            assert self.thread.is_alive(), "uvicorn stopped before it started"
            return self.server.started

        wait_for(started, 60, "uvicorn to start")
        return self

    def stop(self, timeout: float = 30) -> None:
        """Shut down as on SIGTERM and wait for the server to end."""
        self.server.should_exit = True
        self.thread.join(timeout)

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.socket.close()
