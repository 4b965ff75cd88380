"""Running jobs without Celery: success, cancel, hand-back on shutdown, limits, disk errors."""

import resource
import threading
import time

import pytest

from shared_models.checkpoint import iter_manifests, load_checkpoint
from worker.job_runner import run_job
from worker.job_store import JobState, JobStore
from worker.settings import Settings

SMALL = {"batch_size": 16, "seed": 3}


@pytest.fixture
def settings(tmp_path, data_dir) -> Settings:
    return Settings(
        DCGAN_DATA_DIR=data_dir, DCGAN_RUNS_DIR=tmp_path / "runs", DCGAN_HEARTBEAT_SECONDS=0.1,
        DCGAN_LEASE_SECONDS=5,
    )


@pytest.fixture
def store(settings) -> JobStore:
    return JobStore(settings.jobs_db)


def when_step_reaches(store, job_id, step, action):
    """Run ``action`` in a thread once the job has reported ``step``."""

    def watch():
        while True:
            record = store.get(job_id)
            if record.progress.get("step", 0) >= step or record.finished:
                action()
                return
            threading.Event().wait(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_job_runs_to_success_with_one_final_model(store, settings):
    job = store.create({**SMALL, "iterations": 4, "checkpoint_every": 2}, total=4).id
    assert run_job(store, settings, job, "w1") == JobState.SUCCEEDED
    record = store.get(job)
    assert record.state is JobState.SUCCEEDED and record.lease_owner is None
    assert record.progress["step"] == 4 and record.progress["device"].startswith("cpu")
    manifests = list(iter_manifests(settings.runs_dir / job))
    assert [(m.step, m.final) for m in manifests] == [(2, False), (4, True)]
    # a duplicate delivery of a finished job does nothing
    assert run_job(store, settings, job, "w2") == "already succeeded"


def test_a_job_can_keep_a_weight_average_of_its_generator(store, settings):
    job = store.create({**SMALL, "iterations": 3, "ema_decay": 0.99}, total=3).id
    assert run_job(store, settings, job, "w1") == JobState.SUCCEEDED
    [final] = [m for m in iter_manifests(settings.runs_dir / job) if m.final]
    state, _ = load_checkpoint(final.path)
    assert state["train_config"]["ema_decay"] == 0.99
    assert state["generator_average"]["decay"] == 0.99
    assert state["generator_average"]["updates"] == 3


def test_cancel_stops_at_the_next_iteration_with_a_checkpoint(store, settings):
    job = store.create({**SMALL, "iterations": 10_000, "checkpoint_every": 0}, total=10_000).id
    when_step_reaches(store, job, 2, lambda: store.request_cancel(job))
    assert run_job(store, settings, job, "w1") == JobState.CANCELLED
    record = store.get(job)
    [manifest] = iter_manifests(settings.runs_dir / job)
    assert record.state is JobState.CANCELLED
    assert manifest.extra["stopped"] and manifest.step == record.progress["step"] >= 2


def test_worker_shutdown_checkpoints_and_hands_the_job_back(store, settings):
    job = store.create({**SMALL, "iterations": 12, "checkpoint_every": 0}, total=12).id
    when_step_reaches(store, job, 3, lambda: store.set_worker_stopping("w1"))
    assert run_job(store, settings, job, "w1") == JobState.QUEUED
    record = store.get(job)
    assert record.state is JobState.QUEUED and record.lease_owner is None
    assert record.attempts == 0  # handing back is not a failed delivery
    assert [r.id for r in store.stale_queued(older_than=time.time())] == [job]
    stopped_at = record.progress["step"]
    assert 3 <= stopped_at < 12

    # the next worker resumes from that checkpoint and finishes once
    assert run_job(store, settings, job, "w2") == JobState.SUCCEEDED
    record = store.get(job)
    assert record.attempts == 1 and record.progress["resumed_from"] == stopped_at
    finals = [m for m in iter_manifests(settings.runs_dir / job) if m.final]
    assert [m.step for m in finals] == [12]
    state, _ = load_checkpoint(finals[0].path)
    assert state["loss_history"].shape == (12, 2)


def test_the_time_limit_fails_the_job_and_keeps_its_checkpoint(store, tmp_path, data_dir):
    settings = Settings(
        DCGAN_DATA_DIR=data_dir, DCGAN_RUNS_DIR=tmp_path / "runs", DCGAN_HEARTBEAT_SECONDS=0.1,
        DCGAN_MAX_JOB_SECONDS=1,
    )
    job = store.create({**SMALL, "iterations": 100_000}, total=100_000).id
    assert run_job(store, settings, job, "w1") == JobState.FAILED
    record = store.get(job)
    assert "exceeded DCGAN_MAX_JOB_SECONDS (1s)" in record.error
    assert [m.extra.get("stopped") for m in iter_manifests(settings.runs_dir / job)] == [True]


def test_bad_parameters_fail_with_their_message(store, settings):
    job = store.create({**SMALL, "iterations": 3, "batch_size": 100_000}, total=3).id
    assert run_job(store, settings, job, "w1") == JobState.FAILED
    assert "batch size 100000 is larger than the data set" in store.get(job).error


def test_a_full_disk_fails_the_job_clearly_and_keeps_the_previous_checkpoint(store, settings):
    """File writes beyond RLIMIT_FSIZE fail with EFBIG, as on a full disk, even for root."""
    job = store.create({**SMALL, "iterations": 6, "checkpoint_every": 2}, total=6).id
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def fill_disk(job_id, manifest):
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 1024 * 1024, hard))

    try:
        state = run_job(store, settings, job, "w1", on_checkpoint=fill_disk)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    record = store.get(job)
    assert state == JobState.FAILED
    assert "could not write checkpoint" in record.error and "step 4" in record.error
    assert "the previous checkpoint is intact" in record.error
    [previous] = iter_manifests(settings.runs_dir / job)
    assert previous.step == 2
    load_checkpoint(previous.path)  # still verifies and loads
    assert not list((settings.runs_dir / job / "checkpoints").glob(".*.tmp-*"))
