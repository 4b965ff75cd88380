"""POST /models and DELETE /models/{id}: exported models brought into another deployment,
served byte for byte as where they were trained, and removed again."""

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.conftest import TINY_D, TINY_G
from tests.service.conftest import make_settings, train_run

ZIP = {"Content-Type": "application/zip"}


@pytest.fixture
def other(tmp_path):
    """A second deployment: its own database, store and queue."""
    settings = make_settings(tmp_path / "other")
    with TestClient(create_app(settings)) as client:
        yield client, settings


def export(client, model_id, kind="zip") -> bytes:
    reply = client.get(f"/models/{model_id}/export", params={"format": kind})
    assert reply.status_code == 200, reply.text
    return reply.content


def grid(client, model_id, **params) -> bytes:
    reply = client.get("/generate", params={"model": model_id, "seed": 3, "n": 8, **params})
    assert reply.status_code == 200, reply.text
    return reply.content


def test_an_export_imported_elsewhere_serves_the_same_bytes(client, settings, other,
                                                            mnist_small):
    train_run(settings, "trained", mnist_small)
    scored = {"n": 300, "seed": 0, "frechet_distance": 123.4567, "inception_score": 1.2345,
              "classes_covered": 3}
    client.app.state.models.set_metrics("trained:2", scored)
    there, there_settings = other
    reply = there.post("/models", content=export(client, "trained:2"), headers=ZIP,
                       params={"source": "https://first.example/models/trained:2"})
    assert reply.status_code == 201, reply.text
    model = reply.json()
    assert model["id"].startswith("imported-") and reply.headers["location"] == (
        f"/models/{model['id']}")
    assert model["job"] is None and model["final"] and model["step"] == 2
    assert model["provenance"]["source"] == "https://first.example/models/trained:2"
    here = client.get("/models/trained:2").json()
    assert model["sha256"] == here["sha256"]
    assert model["metrics"] is None and not model["promotable"]  # not scored here yet
    # its card's figures, as the card shows them, kept to read
    assert model["provenance"]["card"] == {**scored, "frechet_distance": 123.5,
                                           "inception_score": 1.234}
    assert grid(there, model["id"]) == grid(client, "trained:2")

    # the same weights again, as a tar.gz: the model that exists, not a copy
    again = there.post("/models", content=export(client, "trained:2", "tar.gz"),
                       headers={"Content-Type": "application/gzip"})
    assert again.status_code == 200 and again.json()["id"] == model["id"]
    assert there.get("/models").json()["total"] == 1
    # brought back where it was trained: the job's own model
    home = client.post("/models", content=export(there, model["id"]), headers=ZIP)
    assert home.status_code == 200 and home.json()["id"] == "trained:2"

    # an imported model is pinned, exported and compared like any other
    pinned = there.put("/serving/pin", json={"model": model["id"], "note": "from the lab"})
    assert pinned.status_code == 200 and pinned.json()["model"] == model["id"]
    assert there.get("/generate", params={"seed": 3, "n": 8}).content == grid(client, "trained:2")
    compared = there.get("/compare", params={"models": model["id"], "seed": 3})
    assert compared.status_code == 200
    stored = list((there_settings.runs_dir / "imported" / model["id"]).iterdir())
    assert sorted(path.name for path in stored) == ["config.json", "model.safetensors"]


def test_a_conditional_model_draws_the_same_digits_after_import(client, settings, other,
                                                                  mnist_small):
    train_run(settings, "cond", mnist_small, generator_config=replace(TINY_G, num_classes=10),
              discriminator_config=replace(TINY_D, num_classes=10))
    there, _ = other
    model = there.post("/models", content=export(client, "cond:2"), headers=ZIP).json()
    assert model["conditional"]
    assert grid(there, model["id"], digit=7) == grid(client, "cond:2", digit=7)


def test_what_is_not_an_exported_model_is_refused_in_words(client, settings, mnist_small):
    train_run(settings, "run", mnist_small)
    archive = export(client, "run:2")
    cases = [
        ({"Content-Type": "application/json"}, archive, 415, "application/zip"),
        ({}, archive, 415, "Content-Type"),
        (ZIP, b"PK\x03\x04 not really a zip", 422, "not an exported model"),
        (ZIP, archive[: len(archive) // 2], 422, "not an exported model"),
        ({"Content-Type": "application/gzip"}, archive, 422, "not an exported model"),
    ]
    for headers, body, code, words in cases:
        reply = client.post("/models", content=body, headers=headers)
        assert reply.status_code == code, (headers, reply.text)
        assert words in reply.json()["detail"], reply.json()
        assert "/tmp" not in reply.json()["detail"]  # no server path
    assert client.get("/models").json()["total"] == 1


def test_state_changes_need_the_token(tmp_path, mnist_small):
    settings = make_settings(tmp_path, DCGAN_API_TOKEN="secret-token-123")
    with TestClient(create_app(settings)) as client:
        assert client.post("/models", content=b"x", headers=ZIP).status_code == 401
        assert client.delete("/models/anything:1").status_code == 401


def test_deleting_a_model_removes_its_row_and_files_but_not_a_served_or_pinned_one(
    client, settings, other, mnist_small
):
    train_run(settings, "first", mnist_small)
    train_run(settings, "second", mnist_small, seed=11)
    there, there_settings = other
    first = there.post("/models", content=export(client, "first:2"), headers=ZIP).json()["id"]
    second = there.post("/models", content=export(client, "second:2"), headers=ZIP).json()["id"]
    assert there.put("/serving/pin", json={"model": first}).status_code == 200
    refused = there.delete(f"/models/{first}")
    assert refused.status_code == 409 and "pinned" in refused.json()["detail"]

    assert there.delete(f"/models/{second}").status_code == 204
    assert there.get(f"/models/{second}").status_code == 404
    assert not (there_settings.runs_dir / "imported" / second).exists() or not any(
        (there_settings.runs_dir / "imported" / second).iterdir())
    assert there.delete(f"/models/{second}").status_code == 404
    assert there.delete("/models/bad..id").status_code in (404, 422)
    # a finished job's checkpoint, where it was trained
    assert client.delete("/models/first:2").status_code == 204
    assert client.get("/models/first:2").status_code == 404
