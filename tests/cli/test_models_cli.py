"""``dcgan models import PATH`` against a real uvicorn: a run folder, an exported folder and an
archive come in as the same model; what cannot come in is one line."""

from __future__ import annotations

import zipfile

import pytest

from core.database import make_engine
from dcgan_cli.models_command import packed
from registry.model_records import ModelRecords
from service.app import create_app
from shared_models.pretrained import write_archive
from tests.cli.run import assert_one_line_error, dcgan
from tests.service.conftest import make_settings, train_run
from tests.support.app_server import AppServer

TOKEN = "models-cli-token-1"


@pytest.fixture
def api(tmp_path):
    settings = make_settings(tmp_path / "api", DCGAN_API_TOKEN=TOKEN)
    with AppServer(create_app(settings)) as server:
        yield server.url


def test_a_run_its_export_and_their_archive_come_in_as_one_model(tmp_path, api, mnist_small):
    lab = make_settings(tmp_path / "lab")
    train_run(lab, "lab", mnist_small)
    trained = ModelRecords(make_engine(lab.database_url)).get("lab:2")
    token = {"DCGAN_API_TOKEN": TOKEN}

    first = dcgan("models", "import", str(lab.runs_dir / "lab"), "--url", api, env=token)
    assert first.returncode == 0, first.stderr
    assert "imported as imported-" in first.stdout
    assert f"(weights sha256 {trained.sha256})" in first.stdout  # the weights served there
    model_id = first.stdout.split("imported as ")[1].split()[0]

    exported = tmp_path / "exported"
    assert dcgan("export", str(lab.runs_dir / "lab"), "--out", str(exported),
                 "--eval-samples", "0").returncode == 0
    again = dcgan("models", "import", str(exported), "--url", api, "--token", TOKEN)
    assert again.returncode == 0 and f"already there as {model_id}" in again.stdout
    # an exported folder goes with its model card, whose figures the service keeps
    (tmp_path / "pack").mkdir()
    with zipfile.ZipFile(packed(exported, tmp_path / "pack")) as zipped:
        assert sorted(zipped.namelist()) == [
            "model/README.md", "model/config.json", "model/model.safetensors"]
    archive = write_archive({name: exported / name for name in ("config.json",
                                                                "model.safetensors")},
                            tmp_path / "model.tar.gz", "tar.gz", root="model")
    from_archive = dcgan("models", "import", str(archive), "--url", api, env=token)
    assert from_archive.returncode == 0 and f"already there as {model_id}" in from_archive.stdout


def test_what_cannot_come_in_is_one_line(tmp_path, api):
    missing = dcgan("models", "import", str(tmp_path / "nothing"), "--url", api)
    assert_one_line_error(missing, 2, "no such file or folder")
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"not a zip")
    refused = dcgan("models", "import", str(fake), "--url", api, "--token", TOKEN)
    assert_one_line_error(refused, 2, "the API refused it (422): not an exported model")
    no_token = dcgan("models", "import", str(fake), "--url", api)
    assert_one_line_error(no_token, 2, "the API refused it (401)")
