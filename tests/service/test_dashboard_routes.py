"""The dashboard's page, its static files and GET /jobs/{id}/losses, in-process."""

import math
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from jobs.progress import JobProgress
from service.routes.dashboard import STATIC_DIR
from service.routes.losses import downsample
from shared_models.checkpoint import load_checkpoint
from tests.service.conftest import train_run
from tests.support.jobs import submit_record


class Assets(HTMLParser):
    """The scripts, stylesheets and images a page asks for, and its labelled controls."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.labels: set[str] = set()
        self.controls: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.append(attributes["id"])
        for name in ("src", "href"):
            if tag in ("script", "link", "img") and attributes.get(name):
                self.urls.append(attributes[name])
        if tag == "label":
            self.labels.add(attributes["for"])
        if tag in ("input", "select", "textarea"):
            self.controls.append(attributes["id"])


def parse_page(html: str) -> Assets:
    assets = Assets()
    assets.feed(html)
    return assets


def module_imports(source: str) -> list[str]:
    return re.findall(r'^import .* from "(\./[\w-]+\.js)";$', source, flags=re.MULTILINE)


def reported(progress: dict) -> dict:
    """The fields of a typed progress object that the worker reported (the rest are null)."""
    return {key: value for key, value in progress.items() if value is not None}


@pytest.fixture
def store(client):
    return client.app.state.jobs


# --- the page and its files ------------------------------------------------------------------


def test_the_page_is_served_at_the_root_with_a_strict_policy(client):
    reply = client.get("/")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    policy = reply.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert reply.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/static/app.js"></script>' in reply.text
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_every_form_control_has_a_label_and_ids_are_unique(client):
    page = parse_page(client.get("/").text)
    assert page.controls, "the page has no form controls"
    assert set(page.controls) <= page.labels, set(page.controls) - page.labels
    assert len(page.ids) == len(set(page.ids))
    for wanted in ("job-form", "job-table", "loss-plot", "sample-image", "eval-table",
                   "api-token", "form-message", "action-message"):
        assert wanted in page.ids


def test_everything_the_page_loads_comes_from_this_service(client):
    page = parse_page(client.get("/").text)
    local = [url for url in page.urls if url.startswith("/static/")]
    assert set(page.urls) - set(local) == {"data:,"}  # the empty favicon
    pending = list(local)
    seen: set[str] = set()
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        reply = client.get(url)
        assert reply.status_code == 200, url
        if url.endswith(".js"):
            assert reply.headers["content-type"].startswith("text/javascript"), url
            pending += [f"/static/{name[2:]}" for name in module_imports(reply.text)]
        elif url.endswith(".css"):
            assert reply.headers["content-type"].startswith("text/css"), url
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", reply.text), url
    assert {"/static/app.js", "/static/api.js", "/static/plot.js", "/static/jobs.js",
            "/static/detail.js", "/static/form.js", "/static/format.js"} <= seen
    shipped = {f"/static/{path.name}" for path in STATIC_DIR.iterdir() if path.suffix == ".js"}
    assert shipped == {url for url in seen if url.endswith(".js")}, "a module nothing imports"


def test_static_files_stay_inside_their_folder(client):
    assert client.get("/static/nothing-here.js").status_code == 404
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2e%2e/app.py").status_code == 404


# --- GET /jobs/{id}/losses -------------------------------------------------------------------


def submit(store, iterations):
    return submit_record(store, {"iterations": iterations})


def test_unknown_and_malformed_job_ids(client):
    missing = client.get("/jobs/nope/losses")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no job with id 'nope'"}
    assert client.get("/jobs/not.an.id/losses").status_code == 422


def test_a_job_without_checkpoints_has_live_progress_and_no_history(client, store):
    record = submit(store, 40)
    store.update_progress(record.id, JobProgress(step=7, d_loss=1.25, g_loss=2.5, device="cpu"))
    body = client.get(f"/jobs/{record.id}/losses").json()
    progress = body.pop("progress")
    assert body == {
        "job": record.id, "state": "queued", "checkpoint": None, "iterations": 0, "bucket": 1,
        "step": [], "d_loss": [], "g_loss": [],
    }
    assert reported(progress) == {"step": 7, "total": 40, "d_loss": 1.25, "g_loss": 2.5,
                                  "device": "cpu"}


def test_the_history_of_a_real_run_comes_back_point_for_point(client, store, settings,
                                                             mnist_small):
    record = submit(store, 5)
    run = train_run(settings, record.id, mnist_small, iterations=5, checkpoint_every=2)
    state, _ = load_checkpoint(run.checkpoint)
    expected = state["loss_history"]
    assert expected.shape == (5, 2) and torch.isfinite(expected).all()
    # the curve is recorded beside the job: it no longer needs the 100 MB training state
    shutil.rmtree(settings.runs_dir / record.id / "checkpoints")
    body = client.get(f"/jobs/{record.id}/losses").json()
    assert body["checkpoint"] == f"{record.id}:5" and body["iterations"] == 5
    assert body["bucket"] == 1 and body["step"] == [1, 2, 3, 4, 5]
    assert body["d_loss"] == pytest.approx(expected[:, 0].tolist())
    assert body["g_loss"] == pytest.approx(expected[:, 1].tolist())
    assert reported(body["progress"]) == {"step": 0, "total": 5}


def test_long_histories_are_averaged_into_buckets(client, store):
    record = submit(store, 1234)
    ramp = np.arange(1234, dtype=np.float32)
    store.save_losses(record.id, np.stack([ramp, -2 * ramp], 1))

    body = client.get(f"/jobs/{record.id}/losses").json()
    assert body["iterations"] == 1234 and body["bucket"] == 3  # ceil(1234 / 500)
    assert len(body["step"]) == 412 and body["step"][:3] == [3, 6, 9]
    assert body["step"][-2:] == [1233, 1234]  # the last bucket holds one iteration
    assert body["d_loss"][:2] == [1.0, 4.0] and body["d_loss"][-1] == 1233.0
    assert body["g_loss"][:2] == [-2.0, -8.0]

    ten = client.get(f"/jobs/{record.id}/losses", params={"max_points": 10}).json()
    assert ten["bucket"] == 124 and len(ten["step"]) == 10 and ten["step"][-1] == 1234
    assert ten["d_loss"][0] == pytest.approx(61.5)  # mean of 0..123
    for bad in (1, 5001, "x"):
        assert client.get(f"/jobs/{record.id}/losses",
                          params={"max_points": bad}).status_code == 422


def test_downsample_keeps_short_histories_and_every_iteration_counts():
    history = np.random.default_rng(0).random((7, 2))
    bucket, steps, means = downsample(history, 500)
    assert bucket == 1 and steps == list(range(1, 8)) and np.array_equal(means, history)
    bucket, steps, means = downsample(history, 3)
    assert bucket == 3 and steps == [3, 6, 7]
    weights = np.array([3.0, 3.0, 1.0])
    assert np.allclose((means * weights[:, None]).sum(0), history.sum(0))
    assert downsample(np.zeros((0, 2)), 500)[1] == []


def test_losses_that_are_not_finite_come_back_as_null(client, store):
    record = submit(store, 3)
    store.save_losses(record.id, np.array([[1.0, 2.0], [math.nan, math.inf], [0.5, 0.25]],
                                          dtype=np.float32))
    body = client.get(f"/jobs/{record.id}/losses").json()
    assert body["d_loss"] == [1.0, None, 0.5] and body["g_loss"] == [2.0, None, 0.25]


def test_a_newer_checkpoint_replaces_the_history(client, store):
    record = submit(store, 50)
    store.save_losses(record.id, np.ones((20, 2), dtype=np.float32))
    assert client.get(f"/jobs/{record.id}/losses").json()["checkpoint"] == f"{record.id}:20"
    store.save_losses(record.id, np.full((30, 2), 2.0, dtype=np.float32))
    body = client.get(f"/jobs/{record.id}/losses").json()
    assert body["checkpoint"] == f"{record.id}:30" and body["d_loss"] == [2.0] * 30
