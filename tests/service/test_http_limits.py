"""What one request may cost before the app answers it, through the app: the size and header
count of its head (431), its body's size, per route (413), and the time its body may take
(408). Every answer is JSON with a detail that names the bound. (Heads that grow or trickle
on a real connection: tests/e2e/test_http_limits_server.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from service.app import create_app
from service.body_limit import larger_body
from tests.service.conftest import make_settings

UPLOAD_BOUND = 64 * 1024


@pytest.fixture
def app(settings):
    """The service with one more route, which takes bodies up to UPLOAD_BOUND and says how
    many bytes it read."""
    service = create_app(settings)

    @service.post("/test-upload", openapi_extra=larger_body(UPLOAD_BOUND))
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return service


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


def assert_refused(reply: httpx.Response, status: int, detail: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    assert detail in reply.json()["detail"]


def test_a_head_with_too_many_headers_is_refused(client):
    # TestClient sends five of its own (host, accept, accept-encoding, connection, user-agent)
    many = {f"x-test-{i}": "1" for i in range(96)}
    assert_refused(client.get("/livez", headers=many), 431, "at most 100 are accepted")
    del many["x-test-0"]
    assert client.get("/livez", headers=many).status_code == 200


def test_a_head_larger_than_the_bound_is_refused(client):
    reply = client.get("/livez", headers={"x-big": "a" * 16_384})
    assert_refused(reply, 431, "request head larger than 16384 bytes")
    assert reply.headers["connection"] == "close"
    assert client.get("/livez", headers={"x-big": "a" * 15_000}).status_code == 200


def test_the_head_bounds_are_settings(tmp_path):
    settings = make_settings(tmp_path, DCGAN_MAX_HEADER_BYTES=2048, DCGAN_MAX_HEADER_COUNT=8)
    with TestClient(create_app(settings)) as client:
        reply = client.get("/livez", headers={"x-big": "a" * 2048})
        assert_refused(reply, 431, "larger than 2048 bytes")
        many = {f"x-test-{i}": "1" for i in range(4)}
        assert_refused(client.get("/livez", headers=many), 431, "at most 8")


def test_a_route_may_declare_a_larger_body_bound(client):
    reply = client.post("/test-upload", content=b"x" * 40_000)
    assert reply.status_code == 200 and reply.json() == {"bytes": 40_000}
    reply = client.post("/test-upload", content=b"x" * (UPLOAD_BOUND + 1))
    assert_refused(reply, 413, f"request body larger than {UPLOAD_BOUND} bytes")
    assert reply.headers["connection"] == "close"
    # every other route keeps the default
    big = b'{"iterations": 5, "pad": "' + b"x" * 40_000 + b'"}'
    reply = client.post("/jobs", content=big, headers={"content-type": "application/json"})
    assert_refused(reply, 413, "request body larger than 16384 bytes")


def test_a_body_without_a_length_is_counted_as_it_arrives(client):
    def chunks(total: int):
        for _ in range(total // 1000):
            yield b"x" * 1000

    reply = client.post("/test-upload", content=chunks(UPLOAD_BOUND + 1000))
    assert_refused(reply, 413, f"larger than {UPLOAD_BOUND} bytes")
    assert client.post("/test-upload", content=chunks(30_000)).json() == {"bytes": 30_000}


def test_the_openapi_document_names_each_routes_body_bound(client):
    paths = client.get("/openapi.json").json()["paths"]
    upload = paths["/test-upload"]["post"]
    assert f"larger than {UPLOAD_BOUND} bytes" in upload["responses"]["413"]["description"]
    assert "x-dcgan-max-body-bytes" not in upload
    for path, method in (("/jobs", "post"), ("/serving/pin", "put")):
        answers = paths[path][method]["responses"]
        assert "larger than 16384 bytes" in answers["413"]["description"], path
        assert "within 30 s" in answers["408"]["description"], path
    assert not {"408", "413"} & set(paths["/livez"]["get"]["responses"])


async def post_slowly(app, first: bytes) -> httpx.Response:
    """POST ``first``, then nothing more of a body that says there is more: a client that
    stalls. The app runs in this event loop, as under uvicorn."""

    async def stalled() -> AsyncIterator[bytes]:
        yield first
        await asyncio.sleep(3600)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post("/test-upload", content=stalled())


def test_a_body_that_stalls_is_answered_408_after_the_body_timeout(tmp_path):
    service = create_app(make_settings(tmp_path, DCGAN_BODY_TIMEOUT_SECONDS=0.3))

    @service.post("/test-upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    reply = asyncio.run(post_slowly(service, b"x" * 100))
    assert_refused(reply, 408, "request body not received within 0.3 s")
    assert reply.headers["connection"] == "close"
