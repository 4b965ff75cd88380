"""GET /models/{id} and GET /models/{id}/export: a model described, and downloaded as what
the service serves; loaded back with from_pretrained it draws the service's bytes."""

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from shared_models import Generator, export_model, load_generator, sample_images, save_grid
from tests.service.conftest import make_settings, train_run

EXPORTED = ["README.md", "config.json", "model.safetensors", "samples.png"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mnist_small):
    """One job with checkpoints at steps 2 and 4, and a newer one whose weights were damaged
    after they were published."""
    settings = make_settings(tmp_path_factory.mktemp("model-files"))
    train_run(settings, "kept", mnist_small, iterations=4, checkpoint_every=2, seed=5)
    train_run(settings, "broken", mnist_small, seed=6)
    weights = settings.runs_dir / "broken" / "models" / "step_0000002" / "model.safetensors"
    payload = bytearray(weights.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    weights.write_bytes(bytes(payload))
    with TestClient(create_app(settings)) as client:
        yield settings, client


def archive_files(reply) -> dict[str, bytes]:
    """Name -> bytes of an export archive, checking that it has one top folder."""
    if reply.headers["content-type"] == "application/zip":
        with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
            files = {info.filename: archive.read(info) for info in archive.infolist()}
    else:
        with tarfile.open(fileobj=io.BytesIO(reply.content), mode="r:gz") as archive:
            files = {member.name: archive.extractfile(member).read() for member in archive}
    [top] = {name.split("/")[0] for name in files}
    return {name.split("/", 1)[1]: payload for name, payload in files.items()}


def test_a_model_is_described_with_its_status_and_its_artifacts_config(stack):
    _, client = stack
    reply = client.get("/models/kept:4")
    assert reply.status_code == 200
    body = reply.json()
    assert body["id"] == "kept:4" and body["job"] == "kept" and body["step"] == 4
    assert body["status"] == "served" and body["final"] is True
    assert body["config"]["sha256"] == body["sha256"] and body["config"]["step"] == 4
    assert body["config"]["train_config"]["seed"] == 5
    assert body["export"] == "/models/kept:4/export"
    assert client.get("/models/kept%3A4").json() == body  # the colon, escaped
    assert client.get("/models/kept").json()["id"] == "kept:4"  # a job: its newest
    assert client.get("/models/kept:2").json()["status"] == "available"


def test_unknown_and_malformed_ids_are_404(stack):
    _, client = stack
    for path in ("/models/nope:2", "/models/kept:3", "/models/nope", "/models/a%20b:2",
                 "/models/kept:3/export", "/models/..%2Fkept:2/export"):
        reply = client.get(path)
        assert reply.status_code == 404, (path, reply.text)
        assert reply.json()["detail"]


@pytest.mark.parametrize(("kind", "media", "suffix"), [
    ("zip", "application/zip", ".zip"), ("tar.gz", "application/gzip", ".tar.gz"),
])
def test_the_export_archive_holds_the_served_artifact_and_its_card(stack, kind, media, suffix):
    settings, client = stack
    reply = client.get("/models/kept:4/export", params={"format": kind})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == media
    assert reply.headers["content-disposition"] == (
        f'attachment; filename="kept-step_0000004{suffix}"')
    row = client.get("/models/kept:4").json()
    assert reply.headers["X-Model-Sha256"] == row["sha256"]
    files = archive_files(reply)
    assert sorted(files) == EXPORTED
    assert hashlib.sha256(files["model.safetensors"]).hexdigest() == row["sha256"]
    stored = settings.runs_dir / "kept" / "models" / "step_0000004"
    assert files["config.json"] == (stored / "config.json").read_bytes()
    card = files["README.md"].decode()
    assert "| model | `kept:4` |" in card and "scored no checkpoints" in card
    assert files["samples.png"].startswith(b"\x89PNG")
    assert not list(settings.model_cache_dir.glob(".export-*"))  # removed once sent


def test_the_card_shows_the_models_table_figures(stack):
    _, client = stack
    client.app.state.models.set_metrics("kept:2", {
        "step": 2, "n": 1000, "frechet_distance": 123.4567, "inception_score": 1.2345,
        "classes_covered": 3, "label_accuracy": None, "per_class_accuracy": None})
    card = archive_files(client.get("/models/kept:2/export"))["README.md"].decode()
    assert "| 123.5 |" in card and "| 3/10 |" in card and "On 1000 samples" in card


def test_an_invalid_model_is_409_and_an_unknown_format_422(stack):
    _, client = stack
    reply = client.get("/models/broken:2/export")
    assert reply.status_code == 409 and "invalid" in reply.json()["detail"]
    assert client.get("/models/broken:2").json()["status"] == "invalid"
    bad = client.get("/models/kept:4/export", params={"format": "rar"})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    "text", [b"[" * 100_000 + b"]" * 100_000, b'{"sha256": NaN}', b'{"a": 1e999}', b"[]"]
)
def test_a_config_json_no_manifest_reader_takes_is_described_as_null(stack, text):
    settings, client = stack
    config = settings.runs_dir / "broken" / "models" / "step_0000002" / "config.json"
    written = config.read_bytes()
    try:
        config.write_bytes(text)
        reply = client.get("/models/broken:2")
        assert reply.status_code == 200 and reply.json()["config"] is None
    finally:
        config.write_bytes(written)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_the_exported_model_draws_the_services_bytes_for_a_seed(stack, tmp_path, kind):
    settings, client = stack
    params = {"n": 40, "nrow": 8, "padding": 2, "seed": 11, "model": "kept:4"}
    served = client.get("/generate", params=params)
    assert served.status_code == 200 and served.headers["X-Model-Version"] == "kept:4"
    archive = tmp_path / f"kept{'.zip' if kind == 'zip' else '.tar.gz'}"
    archive.write_bytes(client.get("/models/kept:4/export", params={"format": kind}).content)
    # the archive as downloaded, and `dcgan export` of the run folder
    exported = export_model(settings.runs_dir / "kept", tmp_path / "exported", eval_samples=0)
    for source in (archive, exported.folder):
        generator = Generator.from_pretrained(source)
        grid = save_grid(sample_images(generator, n=40, seed=11), tmp_path / "grid.png",
                         nrow=8, padding=2)
        assert Path(grid).read_bytes() == served.content, source
    # and the Python API's load_generator on the run folder itself
    images = sample_images(load_generator(settings.runs_dir / "kept"), n=40, seed=11)
    save_grid(images, tmp_path / "run.png")
    assert (tmp_path / "run.png").read_bytes() == served.content


def test_the_endpoints_are_in_the_openapi_schema(stack):
    _, client = stack
    paths = client.get("/openapi.json").json()["paths"]
    export = paths["/models/{model_id}/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"application/zip", "application/gzip"}
    assert {"404", "409", "422"} <= set(export["responses"])
    assert "/models/{model_id}" in paths
    assert json.dumps(paths)  # serialisable
