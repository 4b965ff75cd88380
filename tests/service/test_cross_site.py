"""Cross-site requests and DNS rebinding, without a token: a browser's request that changes
state from another origin is refused (403), and so is any request for a Host name the
service does not know (400); clients that are not browsers, the dashboard's same-origin
requests and the names the shipped deployments use are served as before."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.allowed_hosts import HostPatterns, split_host
from service.app import create_app
from service.settings import ServiceSettings
from tests.service.conftest import make_settings

# with no model served, a rollback that gets through answers 409: the app ran
ROLLBACK = "/serving/rollback"


def test_host_names_are_split_from_their_ports():
    assert split_host("Example.COM.:8000") == ("example.com", 8000)
    assert split_host("[::1]:8000") == ("::1", 8000)
    assert split_host("[::1]") == ("::1", None)
    assert split_host("localhost") == ("localhost", None)
    assert split_host("localhost:http") == ("localhost", None)


def test_the_default_hosts_are_the_local_names_the_test_client_and_any_ip_literal():
    defaults = HostPatterns(ServiceSettings.model_construct().allowed_hosts)
    for host in ("localhost", "localhost:8000", "LOCALHOST.:8000", "app.localhost:8000",
                 "127.0.0.1:8000", "[::1]:8000", "0.0.0.0:8000", "10.244.1.17:8000",
                 "[fd00::17]:8000", "testserver"):
        assert defaults.allows(host), host
    for host in ("evil.example", "localhost.evil.example:8000", "127.0.0.1.nip.io:8000",
                 "api:8000", "0x7f.1:8000", "localhostx", ""):
        assert not defaults.allows(host), host


def test_patterns_name_hosts_and_the_hosts_under_a_domain():
    patterns = HostPatterns(["dcgan.example.com", "*.svc.cluster.local"])
    assert patterns.allows("dcgan.example.com:443")
    assert patterns.allows("dcgan-api.ml.svc.cluster.local:8000")
    assert not patterns.allows("svc.cluster.local")
    assert not patterns.allows("evil.example.com")
    assert not patterns.allows("localhost")  # the list replaces the defaults
    assert HostPatterns(["*"]).allows("anything.example")


def test_an_unknown_host_is_refused_on_every_route(client):
    for method, path in (("GET", "/livez"), ("GET", "/generate"), ("POST", ROLLBACK)):
        reply = client.request(method, path, headers={"host": "rebound.evil.example"})
        assert reply.status_code == 400, (method, path)
        assert reply.json() == {"detail": "Host 'rebound.evil.example' is not served here: "
                                          "add its name to DCGAN_ALLOWED_HOSTS"}
    assert client.get("/livez", headers={"host": "127.0.0.1:8000"}).status_code == 200


def test_the_host_list_is_a_setting(tmp_path):
    settings = make_settings(tmp_path, DCGAN_ALLOWED_HOSTS="dcgan.example.com, *.internal")
    with TestClient(create_app(settings), base_url="http://dcgan.example.com") as client:
        assert client.get("/livez").status_code == 200
        assert client.get("/livez", headers={"host": "api.internal:8000"}).status_code == 200
        assert client.get("/livez", headers={"host": "localhost"}).status_code == 400


@pytest.mark.parametrize("headers", [
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},  # another origin of the same site: another port, say
    {"origin": "http://evil.example"},
    {"origin": "http://testserver:8080"},
    {"origin": "https://testserver.evil.example"},
    {"origin": "null"},
    {"origin": "http://testserver", "sec-fetch-site": "cross-site"},
], ids=lambda headers: ",".join(f"{k}={v}" for k, v in headers.items()))
def test_a_browsers_cross_site_request_that_changes_state_is_refused(client, headers):
    reply = client.post(ROLLBACK, headers=headers)
    assert reply.status_code == 403
    assert reply.json()["detail"].startswith("cross-site request refused: ")


def test_every_method_that_changes_state_is_guarded_and_reading_is_not(client):
    cross = {"origin": "http://evil.example", "sec-fetch-site": "cross-site"}
    for method, path in (("POST", "/jobs"), ("POST", "/jobs/x/cancel"), ("DELETE", "/jobs/x"),
                         ("PUT", "/serving/pin"), ("DELETE", "/serving/pin"),
                         ("PATCH", "/jobs/x")):
        assert client.request(method, path, headers=cross).status_code == 403, (method, path)
    assert client.get("/livez", headers=cross).status_code == 200
    assert client.get("/jobs", headers=cross).status_code == 200


@pytest.mark.parametrize("headers", [
    {},  # curl, the Python client, the CLI
    {"sec-fetch-site": "same-origin", "origin": "http://testserver"},  # the dashboard
    {"sec-fetch-site": "none"},  # what the user typed
    {"origin": "http://testserver:80"},
], ids=lambda headers: ",".join(f"{k}={v}" for k, v in headers.items()) or "no-headers")
def test_same_origin_and_non_browser_requests_are_served(client, headers):
    reply = client.post(ROLLBACK, headers=headers)
    assert reply.status_code == 409 and reply.json() == {"detail": "no model is served yet"}


def test_origins_behind_a_proxy_are_compared_by_name_and_default_port(tmp_path):
    settings = make_settings(tmp_path, DCGAN_ALLOWED_HOSTS="dcgan.example.com")
    with TestClient(create_app(settings)) as client:
        host = {"host": "dcgan.example.com"}
        same = client.post(ROLLBACK, headers={**host, "origin": "https://dcgan.example.com"})
        assert same.status_code == 409
        other_port = client.post(
            ROLLBACK, headers={**host, "origin": "https://dcgan.example.com:8443"})
        assert other_port.status_code == 403


def test_the_guard_comes_before_the_token(tmp_path):
    settings = make_settings(tmp_path, DCGAN_API_TOKEN="s3cret")
    with TestClient(create_app(settings)) as client:
        token = {"authorization": "Bearer s3cret"}
        reply = client.post(ROLLBACK, headers={**token, "origin": "http://evil.example"})
        assert reply.status_code == 403 and "cross-site" in reply.json()["detail"]
        assert client.post(ROLLBACK, headers=token).status_code == 409
