"""Loading models on demand: off the event loop, once however many requests want the same
model at the same moment, and a model cache on disk keyed by the artifact's SHA-256."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.conftest import make_settings, train_run


def test_concurrent_requests_for_one_model_share_one_load_off_the_event_loop(
    tmp_path, mnist_small, caplog
):
    settings = make_settings(tmp_path)
    train_run(settings, "older", mnist_small, seed=5)
    train_run(settings, "newer", mnist_small, seed=6)
    caplog.set_level(logging.INFO, logger="service.model_loader")
    with TestClient(create_app(settings)) as client:
        loader = client.app.state.model_server.loader
        assert client.get("/models").json()["served"] == "newer:2"
        loads_before = loader.loads
        params = {"model": "older:2", "n": 4, "seed": 1}
        with ThreadPoolExecutor(max_workers=8) as pool:
            replies = list(pool.map(lambda _: client.get("/generate", params=params), range(8)))
        assert {reply.status_code for reply in replies} == {200}
        assert len({reply.content for reply in replies}) == 1
        assert loader.loads == loads_before + 1  # eight requests, one load
    loads = [record for record in caplog.records if record.getMessage().startswith("loaded model")]
    assert loads and all(record.threadName.startswith("model-load") for record in loads)


def test_a_remote_artifact_is_downloaded_once_into_a_cache_named_by_its_hash(
    tmp_path, mnist_small, s3_bucket
):
    settings = make_settings(tmp_path, DCGAN_STORE_URL=f"s3://{s3_bucket}/models")
    train_run(settings, "run", mnist_small)
    with TestClient(create_app(settings)) as client:
        served = client.get("/models").json()["models"][0]
        assert served["status"] == "served"
        cached = settings.model_cache_dir / served["sha256"]
        assert sorted(path.name for path in cached.iterdir()) == ["config.json",
                                                                 "model.safetensors"]
        first = client.get("/generate", params={"n": 4, "seed": 2}).content
    # a second start finds the cache; a damaged cached copy is fetched again, not served
    weights = cached / "model.safetensors"
    weights.write_bytes(b"\0" * weights.stat().st_size)
    with TestClient(create_app(settings)) as client:
        assert client.get("/models").json()["models"][0]["status"] == "served"
        assert client.get("/generate", params={"n": 4, "seed": 2}).content == first
