"""A client generated from /openapi.json (openapi-python-client) drives a job against a real
uvicorn, as is: typed models, enums, datetimes, the bearer token where the server asks for it.
And the document declares that token only where and when the server enforces it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.conftest import make_settings, train_run
from tests.support.app_server import AppServer

TOKEN = "client-token"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
# the generator knows no image/png: it is told to treat it as bytes (a File)
CONFIG = "content_type_overrides:\n  image/png: application/octet-stream\n"


def generate_client(document: dict, folder: Path):
    (folder / "openapi.json").write_text(json.dumps(document))
    (folder / "config.yml").write_text(CONFIG)
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(folder / "openapi.json"), "--meta", "none",
         "--output-path", str(folder / "dcgan_client"), "--config", str(folder / "config.yml")],
        capture_output=True, text=True, timeout=300,
        env={"PATH": f"{GENERATOR.parent}:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module("dcgan_client")
    finally:
        sys.path.remove(str(folder))


@pytest.fixture
def token_settings(tmp_path):
    return make_settings(tmp_path, DCGAN_API_TOKEN=TOKEN)


def test_a_generated_client_drives_a_job_as_is(tmp_path, token_settings, mnist_small):
    train_run(token_settings, "ready", mnist_small)
    app = create_app(token_settings)
    with AppServer(app) as server:
        document = httpx.get(f"{server.url}/openapi.json").json()
        client_package = generate_client(document, tmp_path)
        from dcgan_client import AuthenticatedClient, Client

        assert client_package.__name__ == "dcgan_client"
        with AuthenticatedClient(base_url=server.url, token=TOKEN) as client, \
                Client(base_url=server.url) as anonymous:
            drive_a_job(client, anonymous)


def drive_a_job(client, anonymous) -> None:
    """Submit, read, list, cancel and delete a job; list models, draw, pin: all typed."""
    from dcgan_client.api.generate import generate
    from dcgan_client.api.jobs import cancel_job, delete_job, get_job, list_jobs, submit_job
    from dcgan_client.api.models import list_models
    from dcgan_client.api.serving import pin_model
    from dcgan_client.models import JobSpec, JobState, PinRequest, Problem, Reason

    refused = submit_job.sync_detailed(client=anonymous, body=JobSpec(iterations=5))
    assert refused.status_code == 401 and isinstance(refused.parsed, Problem)

    job = submit_job.sync(client=client, body=JobSpec(iterations=5, batch_size=8))
    assert job.state is JobState.QUEUED and job.params.iterations == 5
    assert isinstance(job.created_at, datetime) and job.created_at.tzinfo is not None
    assert abs((datetime.now(UTC) - job.created_at).total_seconds()) < 60
    assert job.progress.step == 0 and job.progress.total == 5
    page = list_jobs.sync(client=anonymous)
    assert page.total == 1 and page.jobs[0].id == job.id
    assert get_job.sync(client=anonymous, job_id=job.id).params.batch_size == 8
    cancelled = cancel_job.sync(client=client, job_id=job.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.cancel_requested
    assert delete_job.sync_detailed(client=client, job_id=job.id).status_code == 204
    gone = get_job.sync_detailed(client=anonymous, job_id=job.id)
    assert gone.status_code == 404 and "no job with id" in gone.parsed.detail

    models = list_models.sync(client=anonymous)
    assert models.served == "ready:2" and models.serving.reason is Reason.PROVISIONAL
    png = generate.sync(client=anonymous, n=4, seed=1, model="ready:2")
    assert png.payload.read().startswith(b"\x89PNG\r\n\x1a\n")
    pinned = pin_model.sync(client=client, body=PinRequest(model="ready:2", note="client"))
    assert pinned.reason is Reason.PINNED and pinned.pin.note == "client"


def test_the_token_is_declared_only_where_and_when_it_is_enforced(tmp_path):
    guarded = {("post", "/jobs"), ("post", "/jobs/{job_id}/cancel"), ("delete", "/jobs/{job_id}"),
               ("put", "/serving/pin"), ("delete", "/serving/pin"),
               ("post", "/serving/rollback"), ("post", "/models"), ("delete", "/models/{model_id}"),
               ("post", "/sweeps"), ("post", "/sweeps/{sweep_id}/cancel"),
               ("delete", "/sweeps/{sweep_id}")}
    for token in (None, "secret"):
        overrides = {"DCGAN_API_TOKEN": token} if token else {}
        with TestClient(create_app(make_settings(tmp_path / str(token), **overrides))) as app:
            document = app.get("/openapi.json").json()
        secured = {(method, path) for path, operations in document["paths"].items()
                   for method, operation in operations.items() if "security" in operation}
        answers = {(method, path) for path, operations in document["paths"].items()
                   for method, operation in operations.items()
                   if "401" in operation["responses"]}
        schemes = document.get("components", {}).get("securitySchemes", {})
        if token:
            assert secured == answers == guarded
            assert schemes == {"HTTPBearer": {"type": "http", "scheme": "bearer",
                                              "description": "the service's DCGAN_API_TOKEN"}}
        else:
            assert secured == answers == set() and schemes == {}
        operation_ids = [operation["operationId"] for operations in document["paths"].values()
                         for operation in operations.values()]
        assert len(set(operation_ids)) == len(operation_ids)
        assert {"submit_job", "cancel_job", "delete_job", "generate", "pin_model"} <= set(
            operation_ids)
        for operations in document["paths"].values():
            for method, operation in operations.items():
                assert {"400", "431", "500"} <= set(operation["responses"])
                # a browser's cross-site request is refused where something would change
                assert ("403" in operation["responses"]) == (method in ("post", "put",
                                                                        "delete"))
        assert document["components"]["schemas"]["JobState"]["enum"] == [
            "queued", "running", "succeeded", "failed", "cancelled"]
        view = document["components"]["schemas"]["JobView"]["properties"]
        assert view["created_at"] == {"type": "string", "format": "date-time",
                                      "title": "Created At"}
        assert view["params"] == {"$ref": "#/components/schemas/JobSpec"}
        assert view["progress"] == {"$ref": "#/components/schemas/JobProgress"}
