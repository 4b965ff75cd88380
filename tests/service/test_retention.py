"""Retention in the API: finished jobs lose their rolling checkpoints, the finished jobs beyond
the newest N their models, and the served model stays whatever its age."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from dcgan_cli.waiting import wait_for
from jobs.states import JobState
from service.app import create_app
from tests.service.conftest import make_settings, train_run


def test_the_api_prunes_finished_jobs_but_never_the_served_model(tmp_path, mnist_small):
    settings = make_settings(tmp_path, DCGAN_KEEP_FINISHED_JOBS=1,
                             DCGAN_RETENTION_INTERVAL_SECONDS=0.2)
    with TestClient(create_app(settings)) as client:
        store, models = client.app.state.jobs, client.app.state.models
        jobs = []
        for _ in range(3):
            record = store.submit({"iterations": 4}, 4, settings.queue, 10)
            train_run(settings, record.id, mnist_small, iterations=4, checkpoint_every=1)
            jobs.append(record.id)
        served = jobs[0]
        pinned = client.put("/serving/pin", json={"model": f"{served}:4"})  # the oldest job's model
        assert pinned.status_code == 200, pinned.text
        running = store.submit({"iterations": 4}, 4, settings.queue, 10).id
        train_run(settings, running, mnist_small, iterations=4, checkpoint_every=1)
        store.claim(running, "w", 30, 3)
        for job in jobs:
            store.claim(job, "w", 30, 3)
            store.finish(job, "w", JobState.SUCCEEDED)
            time.sleep(0.01)
        # the running job keeps everything (three rolling checkpoints and its final one)
        expected = {f"{served}:4", f"{jobs[2]}:4", *(f"{running}:{step}" for step in (1, 2, 3, 4))}
        roles = {f"{served}:4": "served", f"{jobs[1]}:4": "older", f"{jobs[2]}:4": "newest"}
        older_files = settings.runs_dir / jobs[1]

        def pruned() -> bool:  # rows go first, then their objects: wait for both
            rows = {m.id for m in models.page(0, 100)[0]}
            return rows == expected and not any(p.is_file() for p in older_files.rglob("*"))

        wait_for(pruned, 20, "retention to prune the older job's rows and files",
                 failure=lambda: ([roles.get(m.id, m.id) for m in models.page(0, 100)[0]],
                                  sorted(str(p.relative_to(older_files))
                                         for p in older_files.rglob("*") if p.is_file())))
        assert client.get("/generate", params={"n": 1}).headers["X-Model-Version"] == (
            f"{served}:4")
        assert client.get(f"/jobs/{jobs[1]}").status_code == 200  # the record stays
