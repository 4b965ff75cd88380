"""The HTTP stub: its status on its path, 404 elsewhere, and nothing listening once closed."""

from __future__ import annotations

import http.client

import pytest

from tests.support.http_stub import http_server


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("status", [200, 503])
def test_the_stub_answers_its_status_on_its_path_only(status):
    with http_server(status, "/readyz") as port:
        assert get(port, "/readyz") == (status, b"OK")
        assert get(port, "/readyz") == (status, b"OK"), "it answers more than once"
        assert get(port, "/") == (404, b"OK")
        assert get(port, "/readyz/") == (404, b"OK")
        assert get(port, "/readyz?full=1") == (404, b"OK")


def test_two_stubs_listen_on_ports_of_their_own():
    with http_server(200, "/a") as first, http_server(503, "/a") as second:
        assert first != second
        assert get(first, "/a")[0] == 200 and get(second, "/a")[0] == 503


def test_nothing_listens_on_the_port_once_the_stub_is_closed():
    with http_server(200, "/healthcheck") as port:
        assert get(port, "/healthcheck")[0] == 200
    with pytest.raises(ConnectionRefusedError):
        get(port, "/healthcheck")
