"""Requests that must not reach a 500 or store what a database refuses: text that PostgreSQL
cannot keep, ids in other scripts or with a trailing newline, and parameters training would
fail on — the same 4xx on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.conftest import make_settings, train_run
from tests.support.databases import postgres_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client(request, tmp_path_factory, mnist_small) -> Iterator[TestClient]:
    tmp_path = tmp_path_factory.mktemp(request.param)
    if request.param == "postgresql":
        with postgres_database() as url:
            yield from _client(make_settings(tmp_path, DCGAN_DATABASE_URL=url), mnist_small)
    else:
        yield from _client(make_settings(tmp_path), mnist_small)


def _client(settings, mnist_small) -> Iterator[TestClient]:
    train_run(settings, "run", mnist_small)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(("note", "says"), [
    (r"a\u0000b", "NUL"),
    (r"\ud800", "surrogate"),  # half a pair: JSON can say it, UTF-8 cannot
])
def test_text_a_database_refuses_is_a_422(client, note, says):
    before = client.get("/serving").json()["pin"]
    body = f'{{"model": "run:2", "note": "{note}"}}'.encode()
    reply = client.put("/serving/pin", content=body,
                       headers={"content-type": "application/json"})
    assert reply.status_code == 422 and says in reply.json()["detail"], reply.text
    model = client.put("/serving/pin", json={"model": "run:2\x00"})
    assert model.status_code == 422 and "NUL" in model.json()["detail"]
    assert client.get("/serving").json()["pin"] == before  # nothing stored
    kept = client.put("/serving/pin", json={"model": "run:2", "note": "é ok 中文 🙂"})
    assert kept.status_code == 200 and kept.json()["pin"]["note"] == "é ok 中文 🙂"


@pytest.mark.parametrize("model", ["run:２", "run:\u0662", "run:2\n", "run\n", "ｒｕｎ:2"])
def test_model_ids_are_ascii_and_whole(client, model):
    for reply in (client.get("/generate", params={"model": model, "n": 1}),
                  client.get(f"/models/{quote(model, safe=':')}"),
                  client.put("/serving/pin", json={"model": model})):
        assert reply.status_code in (404, 422), (model, reply.status_code, reply.text)
        assert "not a model id" in reply.json()["detail"] or reply.status_code == 422


def test_a_job_training_would_refuse_is_refused_when_submitted(client):
    reply = client.post("/jobs", json={"iterations": 5, "batch_size": 1})
    assert reply.status_code == 422
    assert "batch_size: Input should be greater than or equal to 2" in reply.json()["detail"]
