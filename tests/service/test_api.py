"""The API in-process (lifespan included), with a real job store, real checkpoints and Redis."""

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from importlib.metadata import version

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from dcgan_cli.waiting import wait_for
from jobs.states import JobState
from service.app import create_app
from shared_models.checkpoint import load_checkpoint
from shared_models.generator_io import generator_from_state
from shared_models.grids import grid_png
from shared_models.networks import Generator
from shared_models.sampling import generate, grid_inputs
from tests.conftest import TINY_D, TINY_G
from tests.service.conftest import make_settings, train_run
from worker.context import WorkerContext


def wait_served(client, model_id, timeout=10.0):
    wait_for(lambda: client.get("/models").json()["served"] == model_id, timeout,
             f"{model_id} to be served", failure=lambda: client.get("/models").json())


def test_generate_without_a_model_says_how_to_train_one(client):
    reply = client.get("/generate")
    assert reply.status_code == 503
    assert "POST /jobs" in reply.json()["detail"]
    assert client.get("/readyz").json() == {
        "status": "ready", "model": None, "broker": "embedded (SQLite)",
    }


def test_a_checkpoint_written_while_running_is_picked_up_and_served(client, settings, mnist_small):
    train_run(settings, "first", mnist_small)
    wait_served(client, "first:2")
    reply = client.get("/generate", params={"n": 3, "nrow": 3, "padding": 1, "seed": 4})
    assert reply.status_code == 200 and reply.headers["X-Model-Version"] == "first:2"
    assert Image.open(io.BytesIO(reply.content)).size == (3 * 29 + 1, 29 + 1)
    named = client.get("/generate", params={"n": 3, "nrow": 3, "padding": 1, "seed": 4,
                                            "model": "first"})
    assert named.content == reply.content


def test_a_corrupt_newest_model_is_reported_and_the_previous_keeps_serving(
    client, settings, mnist_small
):
    train_run(settings, "good", mnist_small)
    wait_served(client, "good:2")
    # the newest model's weights no longer match the hash in its models row
    staging = make_settings(settings.runs_dir.parent / "staging")
    train_run(staging, "bad", mnist_small)
    weights = staging.runs_dir / "bad" / "models" / "step_0000002" / "model.safetensors"
    payload = bytearray(weights.read_bytes())
    payload[len(payload) // 2] ^= 0xFF  # flip one byte
    weights.write_bytes(bytes(payload))
    (staging.runs_dir / "bad").rename(settings.runs_dir / "bad")
    [row] = WorkerContext(staging).models.of_job("bad")
    WorkerContext(settings).models.add(row)
    def listed() -> dict:
        return {m["id"]: m for m in client.get("/models").json()["models"]}

    models = wait_for(lambda: found if (found := listed()).get("bad:2", {}).get("status")
                      == "invalid" else None, 10, "bad:2 to be listed invalid", failure=listed)
    assert "sha256" in models["bad:2"]["error"].lower()
    assert models["good:2"]["status"] == "served"
    assert client.get("/generate", params={"n": 2}).headers["X-Model-Version"] == "good:2"
    asked = client.get("/generate", params={"model": "bad:2"})
    assert asked.status_code == 409 and "invalid" in asked.json()["detail"]


def test_model_ids_cannot_leave_the_runs_folder(client, settings, mnist_small):
    train_run(settings, "run", mnist_small)
    for model in ("../run", "run/../run", "/etc/passwd", "run:2/../..", ".hidden"):
        reply = client.get("/generate", params={"model": model})
        assert reply.status_code == 404, model
        assert "not a model id" in reply.json()["detail"]


def test_mutating_endpoints_need_the_token_when_one_is_set(tmp_path):
    settings = make_settings(tmp_path, DCGAN_API_TOKEN="s3cret")
    with TestClient(create_app(settings)) as client:
        missing = client.post("/jobs", json={"iterations": 5})
        assert missing.status_code == 401 and "Bearer" in missing.json()["detail"]
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = client.post("/jobs", json={"iterations": 5}, headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 403 and wrong.json() == {"detail": "wrong API token"}
        right = client.post(
            "/jobs", json={"iterations": 5}, headers={"Authorization": "Bearer s3cret"}
        )
        assert right.status_code == 202
        job = right.json()["id"]
        assert client.post(f"/jobs/{job}/cancel").status_code == 401
        token = {"Authorization": "Bearer s3cret"}
        cancelled = client.post(f"/jobs/{job}/cancel", headers=token)
        assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
        assert client.get(f"/jobs/{job}").status_code == 200  # reading needs no token
        for method, path in (("DELETE", f"/jobs/{job}"), ("PUT", "/serving/pin"),
                             ("DELETE", "/serving/pin"), ("POST", "/serving/rollback")):
            refused = client.request(method, path, json={"model": "x:1"})
            assert refused.status_code == 401, (method, path)
        assert client.delete(f"/jobs/{job}", headers=token).status_code == 204
        assert client.get(f"/jobs/{job}").status_code == 404


def test_request_bodies_are_limited(client):
    big = b'{"iterations": 5, "pad": "' + b"x" * 20_000 + b'"}'
    reply = client.post("/jobs", content=big, headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "larger than 16384 bytes" in reply.json()["detail"]


def test_the_active_job_cap_answers_429(tmp_path):
    settings = make_settings(tmp_path, DCGAN_MAX_ACTIVE_JOBS=2)
    with TestClient(create_app(settings)) as client:
        for _ in range(2):
            assert client.post("/jobs", json={"iterations": 5}).status_code == 202
        full = client.post("/jobs", json={"iterations": 5})
        assert full.status_code == 429 and full.headers["Retry-After"]
        assert "2 jobs are already queued or running" in full.json()["detail"]


def test_an_unreachable_broker_answers_503_and_records_the_failure(tmp_path):
    settings = make_settings(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings)) as client:
        reply = client.post("/jobs", json={"iterations": 5})
        assert reply.status_code == 503 and "unreachable" in reply.json()["detail"]
        [job] = client.get("/jobs").json()["jobs"]
        assert job["state"] == "failed" and "could not reach the job queue" in job["error"]


def test_cancel_then_delete_a_job_and_its_resource_is_gone(client):
    job = client.post("/jobs", json={"iterations": 5}).json()
    assert job["state"] == "queued" and job["created_at"].endswith("Z")
    running = client.delete(f"/jobs/{job['id']}")
    assert running.status_code == 409 and "cancel it first" in running.json()["detail"]
    assert client.post(f"/jobs/{job['id']}/cancel").json()["state"] == "cancelled"
    again = client.post(f"/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    deleted = client.delete(f"/jobs/{job['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(f"/jobs/{job['id']}").status_code == 404
    assert client.delete(f"/jobs/{job['id']}").status_code == 404
    assert client.get("/jobs").json()["total"] == 0


def test_a_deleted_job_takes_its_checkpoints_and_artifacts_but_never_the_served_model(
    client, settings, mnist_small
):
    store = client.app.state.jobs
    served, other = (store.submit({"iterations": 2}, 2, settings.queue, 10) for _ in range(2))
    for record in (served, other):
        train_run(settings, record.id, mnist_small)
        store.claim(record.id, "w", 30, 3)
        store.finish(record.id, "w", JobState.SUCCEEDED)
    wait_served(client, f"{other.id}:2")
    refused = client.delete(f"/jobs/{other.id}")
    assert refused.status_code == 409 and "being served" in refused.json()["detail"]
    assert (settings.runs_dir / served.id / "models").is_dir()
    assert client.delete(f"/jobs/{served.id}").status_code == 204
    assert not (settings.runs_dir / served.id).exists()
    assert client.get("/generate", params={"model": f"{served.id}:2"}).status_code == 404
    assert {m["job"] for m in client.get("/models").json()["models"]} == {other.id}


def test_openapi_and_docs_are_served(client):
    schema = client.get("/openapi.json").json()
    assert {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/cancel", "/generate", "/models",
            "/serving", "/serving/pin", "/serving/rollback", "/livez", "/readyz"} <= set(
        schema["paths"]
    )
    assert schema["info"]["version"] == version("dcgan-service")
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        assert client.get(f"/docs-assets/{asset}").status_code == 200
    assert client.get("/redoc").status_code == 404  # ReDoc would load its logo from a CDN


def test_metrics_expose_latency_renders_models_and_jobs(client, settings, mnist_small):
    train_run(settings, "run", mnist_small)
    wait_served(client, "run:2")
    assert client.get("/generate", params={"n": 2, "seed": 1}).status_code == 200
    client.post("/jobs", json={"iterations": 5})
    text = client.get("/metrics").text
    latency = "dcgan_http_request_duration_seconds_count"
    assert f'{latency}{{method="GET",route="/generate",status="200"}} 1.0' in text
    assert "dcgan_renders_in_flight 0.0" in text and "dcgan_renders_waiting 0.0" in text
    assert 'dcgan_served_model_step{model="run:2"' in text
    assert 'dcgan_model_reloads_total{result="success"} 1.0' in text
    assert 'dcgan_jobs{state="queued"} 1.0' in text
    for runtime in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                    "process_open_fds", "python_gc_objects_collected_total"):
        assert f"\n{runtime}" in text, runtime


def test_digits_on_conditional_models_and_clear_422s_otherwise(client, settings, mnist_small):
    train_run(settings, "cond", mnist_small, generator_config=replace(TINY_G, num_classes=10),
              discriminator_config=replace(TINY_D, num_classes=10))
    train_run(settings, "plain", mnist_small)
    wait_served(client, "plain:2")  # the newer final model
    models = {m["id"]: m for m in client.get("/models").json()["models"]}
    assert models["plain:2"]["ema_decay"] == models["cond:2"]["ema_decay"] == 0.0
    assert models["plain:2"]["served_weights"].startswith("the live weights")
    sevens = client.get("/generate", params={"model": "cond", "digit": 7, "n": 4, "seed": 1})
    twos = client.get("/generate", params={"model": "cond", "digit": 2, "n": 4, "seed": 1})
    assert sevens.status_code == 200 and twos.status_code == 200
    assert sevens.content != twos.content  # the label changes the picture, same noise
    too_big = client.get("/generate", params={"model": "cond", "digit": 10})
    assert too_big.status_code == 422
    assert "digit: Input should be less than or equal to 9" in too_big.json()["detail"]
    unconditional = client.get("/generate", params={"digit": 3})
    assert unconditional.status_code == 422
    assert "plain:2 is not conditional" in unconditional.json()["detail"]


def test_a_model_that_keeps_a_weight_average_serves_the_average(
    client, settings, mnist_small, short_average_window
):
    result = train_run(settings, "averaged", mnist_small, iterations=40, ema_decay=0.9)
    wait_served(client, "averaged:40")
    reply = client.get("/generate", params={"n": 16, "nrow": 4, "seed": 9})
    assert reply.status_code == 200
    state, _ = load_checkpoint(result.checkpoint)

    def pixels(png: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(png)), dtype=np.int16)

    def grid(generator: Generator) -> np.ndarray:
        return pixels(grid_png(generate(generator, grid_inputs(generator, 16, seed=9)), nrow=4))

    served = pixels(reply.content)
    average = grid(generator_from_state(state))
    live = grid(generator_from_state(state, averaged=False))
    assert np.abs(served - average).max() <= 1  # the same picture, up to rounding
    assert np.abs(served - live).max() > 4  # not the live weights' picture: beyond rounding
    models = {m["id"]: m for m in client.get("/models").json()["models"]}
    assert models["averaged:40"]["ema_decay"] == 0.9
    assert models["averaged:40"]["served_weights"].startswith(
        "the weight average (ema_decay 0.9) over about the last 10 of 40 iterations"
    )


def test_interpolation_strips_are_deterministic_pngs(client, settings, mnist_small):
    train_run(settings, "run", mnist_small)
    wait_served(client, "run:2")
    strip = client.get("/interpolate", params={"seed_a": 1, "seed_b": 2, "steps": 5})
    assert strip.status_code == 200 and strip.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(strip.content)).size == (5 * 30 + 2, 30 + 2)
    again = client.get("/interpolate", params={"seed_a": 1, "seed_b": 2, "steps": 5})
    assert again.content == strip.content
    first_digit = client.get("/generate", params={"seed": 1, "n": 1})
    strip_pixels = np.asarray(Image.open(io.BytesIO(strip.content)))
    assert np.array_equal(strip_pixels[2:30, 2:30], np.asarray(Image.open(io.BytesIO(
        first_digit.content))))
    bad = client.get("/interpolate", params={"seed_a": 1, "seed_b": 2, "steps": 1})
    assert bad.status_code == 422 and "steps" in bad.json()["detail"]
    missing = client.get("/interpolate", params={"seed_a": 1})
    assert missing.status_code == 422 and "seed_b: Field required" in missing.json()["detail"]


def test_concurrent_requests_share_forward_passes_and_get_the_same_bytes(
    client, settings, mnist_small
):
    train_run(settings, "run", mnist_small)
    wait_served(client, "run:2")
    params = [{"n": 1 + seed % 8, "seed": seed, "model": "run:2"} for seed in range(24)]
    alone = [client.get("/generate", params=p).content for p in params]
    batcher = client.app.state.batcher
    before = batcher.batches
    with ThreadPoolExecutor(max_workers=12) as pool:
        together = list(pool.map(lambda p: client.get("/generate", params=p).content, params))
    assert together == alone
    assert batcher.batches - before < len(params)  # some requests shared a forward pass
    assert "dcgan_render_batches_total" in client.get("/metrics").text
