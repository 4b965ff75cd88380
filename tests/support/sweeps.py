"""What a worker does with a sweep's member job, done in the test process: claimed, trained
(tiny, published), scored with the figures the test chose (on ``samples``), finished."""

from __future__ import annotations

from fastapi import FastAPI

from jobs.job_store import JobState
from jobs.sweep_spec import SCORE_SAMPLES
from service.settings import ServiceSettings
from tests.service.conftest import train_run

TINY = {"iterations": 2, "batch_size": 16, "network_size": "tiny", "checkpoint_every": 0}
# what each member's final model scores (Fréchet distance, Inception Score), by learning rate:
# the second ranks first but fails the gate's Inception Score (5), so pin_best pins the third
SCORES = {2e-4: (40.0, 6.0), 1e-4: (10.0, 3.0), 5e-5: (20.0, 7.0)}


def run_member(
    app: FastAPI, settings: ServiceSettings, job_id: str, data: object,
    samples: int = SCORE_SAMPLES,
) -> None:
    jobs = app.state.jobs
    params = jobs.get(job_id).params
    assert jobs.claim(job_id, "worker-1", lease_seconds=60, max_deliveries=3).run
    train_run(settings, job_id, data, lr=params["lr"])
    frechet, inception = SCORES[params["lr"]]
    app.state.models.set_metrics(f"{job_id}:2", {
        "frechet_distance": frechet, "inception_score": inception, "n": samples})
    jobs.finish(job_id, "worker-1", JobState.SUCCEEDED)
