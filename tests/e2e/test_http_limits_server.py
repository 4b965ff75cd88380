"""Greedy and hostile clients against a real ``dcgan serve`` (uvicorn), on raw sockets: a
request head that grows past its bound, one that trickles in (slowloris), a connection that
sends nothing, a body that stalls. Each is cut off, and the server goes on serving. The
timeouts are set to 1 s; the tests wait for the server to close the connection, with a
generous deadline, and assert no timing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dcgan_cli.waiting import free_port, stop_process, wait_for
from tests.conftest import REPO

pytestmark = pytest.mark.processes

PATIENCE_S = 30  # how long a test waits for the server to close a connection


class Server:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.log = root / "serve.log"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("DCGAN_") and k != "REDIS_URL"}
        env.update(DCGAN_DATA_DIR=str(root / "data"), DCGAN_RUNS_DIR=str(root / "runs"),
                   DCGAN_HEADER_TIMEOUT_SECONDS="1", DCGAN_BODY_TIMEOUT_SECONDS="1",
                   DCGAN_LOG_FORMAT="text", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dcgan_cli.main", "serve", "--port", str(self.port)],
                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"dcgan serve exited: {self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/livez", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=PATIENCE_S)

    def stop(self) -> None:
        stop_process(self.process, 30)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("http-limits"))
    try:
        wait_for(running.alive, 60, "dcgan serve to answer /livez")
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def still_serving(server):
    yield
    assert server.alive(), server.log.read_text()[-3000:]


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset ends it too)."""
    received = b""
    with sock:
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return received
            if not data:
                return received
            received += data


def test_an_incomplete_head_past_its_bound_is_answered_431_and_closed(server):
    sock = server.connect()
    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 32_768)
    reply = until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert reply.endswith(b'{"detail":"request head larger than 16384 bytes"}')


def test_a_head_of_100_megabytes_is_cut_off_long_before_its_end(server):
    sock = server.connect()
    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
    chunk, sent = b"a" * 2**20, 0
    # the server closed the connection (a reset, a broken pipe; not a timeout: it stopped
    # reading without closing)
    with pytest.raises(ConnectionError):
        while sent < 100 * 2**20:
            sock.sendall(chunk)
            sent += len(chunk)
    sock.close()


def test_a_head_that_trickles_in_is_answered_408_and_closed(server):
    sock = server.connect()
    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: localhost\r\n")
    deadline = time.monotonic() + PATIENCE_S
    try:
        while time.monotonic() < deadline:  # a header line every 0.2 s, never the blank line
            sock.sendall(b"X-Slow: 1\r\n")
            time.sleep(0.2)
    except OSError:
        pass  # closed while sending
    reply = until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert reply.endswith(b'{"detail":"request head not complete within 1 s"}')


def test_a_connection_that_sends_nothing_is_closed(server):
    assert until_closed(server.connect()) == b""


def test_a_body_that_stalls_is_answered_408_and_closed(server):
    sock = server.connect()
    sock.sendall(b"POST /jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{")
    reply = until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert reply.endswith(b'{"detail":"request body not received within 1 s"}')


def test_requests_on_one_connection_are_served_as_before(server):
    sock = server.connect()
    request = b"GET /livez HTTP/1.1\r\nHost: localhost\r\n\r\n"
    sock.sendall(request + request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    reply = until_closed(sock)
    assert reply.count(b"HTTP/1.1 200 OK") == 2, reply
