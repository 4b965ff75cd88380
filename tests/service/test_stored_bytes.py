"""Stored bytes never take a replica down: a model whose config.json or weights hold anything
at all is listed invalid with the reason, the API starts and serves another model, and once
the file is fixed the model serves again without a restart."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from dcgan_cli.waiting import wait_for
from service.app import create_app
from shared_models.serving_artifact import CONFIG_FILE, WEIGHTS_FILE
from tests.service.conftest import make_settings, train_run

# what an edited config.json may hold instead of the one the worker wrote
DAMAGES = {
    "a number for the architecture": lambda config: {**config, "architecture": 7},
    "a string where a width goes": lambda config: {
        **config, "architecture": {**config["architecture"], "hidden": "wide"}},
    "a boolean where a width goes": lambda config: {
        **config, "architecture": {**config["architecture"], "channels": True}},
    "a huge width": lambda config: {
        **config, "architecture": {**config["architecture"], "hidden": 10**15}},
    "a list for the whole file": lambda config: [config],
    "no step": lambda config: {k: v for k, v in config.items() if k != "step"},
    "NaN for the decay": lambda config: {**config, "ema_decay": float("nan")},
}


def damage_config(folder, how) -> bytes:
    original = (folder / CONFIG_FILE).read_bytes()
    config = json.loads(original)
    (folder / CONFIG_FILE).write_text(json.dumps(DAMAGES[how](config)))
    return original


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_a_damaged_config_is_an_invalid_model_not_a_failed_start(tmp_path, mnist_small, how):
    settings = make_settings(tmp_path, DCGAN_INVALID_MODEL_RETRY_SECONDS=0.2)
    train_run(settings, "good", mnist_small, seed=5)
    train_run(settings, "edited", mnist_small, seed=6)  # the newer: the one the policy prefers
    folder = settings.runs_dir / "edited" / "models" / "step_0000002"
    original = damage_config(folder, how)
    with TestClient(create_app(settings)) as client:  # start-up survives it
        listing = client.get("/models").json()
        models = {model["id"]: model for model in listing["models"]}
        assert listing["served"] == "good:2"
        assert models["edited:2"]["status"] == "invalid" and models["edited:2"]["error"]
        assert str(tmp_path) not in json.dumps(listing)  # no server paths in what is served
        assert client.get("/generate", params={"n": 4}).status_code == 200
        assert client.get("/generate", params={"model": "edited:2"}).status_code == 409
        assert client.get("/models/edited:2/export").status_code == 409
        assert client.get("/models/edited:2").status_code == 200
        # fixed in the store, it is tried again and served, with no restart
        (folder / CONFIG_FILE).write_bytes(original)
        wait_for(lambda: client.get("/models").json()["served"] == "edited:2", 30,
                 "the fixed model to be served", failure=lambda: client.get("/models").json())


def test_weights_that_are_not_the_architectures_are_an_invalid_model(tmp_path, mnist_small):
    settings = make_settings(tmp_path)
    train_run(settings, "only", mnist_small)
    weights = settings.runs_dir / "only" / "models" / "step_0000002" / WEIGHTS_FILE
    weights.write_bytes(b"\x00" * 8)
    with TestClient(create_app(settings)) as client:
        model = client.get("/models").json()["models"][0]
        assert model["status"] == "invalid" and "model.safetensors" in model["error"]
        assert client.get("/generate").status_code == 503
        assert client.get("/readyz").status_code == 200
