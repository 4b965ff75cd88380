"""The README's walk-through against the running stack, from the host through the published
ports: submit a job with the token, poll it to `succeeded`, draw digits, read the metrics,
open Flower and the dashboard in Chromium."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import httpx

from dcgan_cli.waiting import wait_for

log = logging.getLogger("deploy-test.walkthrough")
API = "http://127.0.0.1:8000"
FLOWER = "http://127.0.0.1:5555"
PNG = b"\x89PNG\r\n\x1a\n"
# Small jobs (the README's example asks for 1,000 iterations): minutes on a 2-core CPU.
JOB = {"iterations": 60, "batch_size": 32, "checkpoint_every": 30, "seed": 7}


class Api:
    def __init__(self, token: str) -> None:
        self.client = httpx.Client(base_url=API, timeout=60)
        self.token = token

    def close(self) -> None:
        self.client.close()

    def submit(self, **params: Any) -> str:
        unauthorised = self.client.post("/jobs", json=params)
        expect(unauthorised.status_code == 401, f"POST /jobs without the token: "
               f"{unauthorised.status_code}, not 401")
        reply = self.client.post("/jobs", json=params,
                                 headers={"Authorization": f"Bearer {self.token}"})
        expect(reply.status_code == 202, f"POST /jobs: {reply.status_code} {reply.text}")
        job = reply.json()
        log.info("submitted job %s: %s", job["id"], params)
        return job["id"]

    def job(self, job_id: str) -> dict[str, Any]:
        reply = self.client.get(f"/jobs/{job_id}")
        expect(reply.status_code == 200, f"GET /jobs/{job_id}: {reply.status_code}")
        return reply.json()

    def wait_for(self, job_id: str, done: Any, what: str, timeout: float) -> dict[str, Any]:
        """Poll the job until DONE(job) holds; fails on a failed or cancelled job."""
        last_state, last_report = None, 0.0

        def finished() -> dict[str, Any] | None:
            nonlocal last_state, last_report
            job = self.job(job_id)
            progress = job.get("progress") or {}
            if job["state"] != last_state or time.monotonic() - last_report > 30:
                log.info("  job %s: %s, step %s/%s", job_id[:8], job["state"],
                         progress.get("step"), progress.get("total"))
                last_state, last_report = job["state"], time.monotonic()
            if done(job):
                return job
            expect(job["state"] not in ("failed", "cancelled"),
                   f"job {job_id} ended {job['state']}: {job.get('error')}")
            return None

        try:
            return wait_for(finished, timeout, f"job {job_id}'s {what}", interval=1)
        except TimeoutError:
            raise AssertionError(f"job {job_id}: no {what} after {timeout:.0f} s") from None

    def generate(self, seed: int) -> httpx.Response:
        reply = self.client.get("/generate", params={"n": 64, "seed": seed})
        expect(reply.status_code == 200, f"GET /generate: {reply.status_code} {reply.text}")
        expect(reply.headers["content-type"] == "image/png", "GET /generate: not a PNG")
        expect(reply.content.startswith(PNG), "GET /generate: no PNG signature")
        return reply

    def served_model(self) -> str:
        return self.generate(seed=1).headers["X-Model-Version"]


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def train_to_success(api: Api, timeout: float) -> str:
    job_id = api.submit(**JOB)
    job = api.wait_for(job_id, lambda j: j["state"] == "succeeded", "success", timeout)
    expect(job["progress"]["step"] == JOB["iterations"], f"finished at {job['progress']}")
    return job_id


def wait_for_served_model(api: Api, model: str, timeout: float = 180) -> None:
    """The API swaps in a finished job's final model shortly after it succeeds."""
    try:
        wait_for(lambda: api.served_model() == model, timeout, f"{model} to be served",
                 interval=1)
    except TimeoutError:
        raise AssertionError(
            f"serving {api.served_model()}, not {model}, after {timeout} s"
        ) from None


def check_generate(api: Api, job_id: str, screenshots: Path) -> bytes:
    final = f"{job_id}:{JOB['iterations']}"
    wait_for_served_model(api, final)
    first, again = api.generate(seed=1), api.generate(seed=1)
    expect(first.headers["X-Model-Version"] == again.headers["X-Model-Version"] == final,
           f"served {first.headers['X-Model-Version']}, then {again.headers['X-Model-Version']}")
    expect(again.content == first.content, "same seed and model, different PNG bytes")
    expect(api.generate(seed=2).content != first.content, "another seed, the same PNG")
    (screenshots / "generate-seed-1.png").write_bytes(first.content)
    log.info("GET /generate: %d-byte PNG from %s, the same bytes for the same seed",
             len(first.content), final)
    return first.content


def check_metrics(api: Api) -> None:
    text = api.client.get("/metrics").text
    for metric in ("dcgan_http_request_duration_seconds", "dcgan_served_model_step",
                   'dcgan_jobs{state="succeeded"}'):
        expect(metric in text, f"/metrics lacks {metric}")
    log.info("GET /metrics: Prometheus text with the served model and the jobs")


def check_flower() -> None:
    with httpx.Client(base_url=FLOWER, timeout=30) as flower:
        page = flower.get("/")
        expect(page.status_code == 200 and "Flower" in page.text,
               f"Flower's page: {page.status_code}")
        workers = flower.get("/workers").text
        expect("dcgan-" in workers, "Flower lists no dcgan worker")
        expect(flower.get("/metrics").status_code == 200, "Flower's /metrics")
    log.info("Flower: its page answers and lists the worker")


def check_dashboard(job_id: str, screenshots: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        try:
            page = browser.new_page()
            page.goto(f"{API}/")
            page.wait_for_function(
                "() => document.getElementById('connection').dataset.state === 'live'",
                timeout=30_000)
            page.wait_for_function(
                "() => document.getElementById('served-model').textContent !== '—'",
                timeout=30_000)
            row = page.locator(f'tr[data-job-id="{job_id}"]')
            row.wait_for(timeout=30_000)
            expect(row.get_attribute("data-state") == "succeeded", "the dashboard's job row")
            row.click()
            page.wait_for_function("""() => {
                const img = document.getElementById("sample-image");
                return !img.hidden && img.complete && img.naturalWidth > 0;
            }""", timeout=60_000)
            page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    log.info("dashboard in Chromium: live, serving a model, the job's samples shown "
             "(screenshot: %s)", screenshots / "dashboard.png")
