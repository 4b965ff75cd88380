"""Running jobs without Celery: success, cancel, hand-back on shutdown, limits, disk errors.

Each test has its own embedded database and local store (the defaults: a SQLite file and the
runs folder), as ``make run`` does."""

import resource
import time

import pytest

from core.settings import Settings
from dcgan_cli.waiting import wait_for
from jobs.bootstrap import prepare_shared_state
from jobs.states import JobState
from shared_models.checkpoint import iter_manifests, load_checkpoint
from shared_models.serving_artifact import read_serving_artifact
from tests.support.gate import StepGate
from tests.support.jobs import hand_back_at_step_3, run_in_thread, submit_for_worker
from worker.context import WorkerContext
from worker.job_runner import run_job


@pytest.fixture
def settings(tmp_path, data_dir) -> Settings:
    return Settings(
        DCGAN_DATA_DIR=data_dir, DCGAN_RUNS_DIR=tmp_path / "runs", DCGAN_HEARTBEAT_SECONDS=0.1,
        DCGAN_LEASE_SECONDS=5, DCGAN_EVAL_SAMPLES=0,
    )


@pytest.fixture
def context(settings) -> WorkerContext:
    prepare_shared_state(settings)
    return WorkerContext(settings)


def test_a_job_runs_to_success_with_one_final_model(context, settings):
    job = submit_for_worker(context, iterations=4, checkpoint_every=2)
    assert run_job(context, job, "w1") == JobState.SUCCEEDED
    record = context.jobs.get(job)
    assert record.state is JobState.SUCCEEDED and record.lease_owner is None
    assert record.progress["step"] == 4 and record.progress["device"].startswith("cpu")
    manifests = list(iter_manifests(settings.runs_dir / job))
    assert [(m.step, m.final) for m in manifests] == [(2, False), (4, True)]
    # each checkpoint is in the models table with its serving artifact and loss history
    rows = context.models.of_job(job)
    assert [(row.step, row.final) for row in rows] == [(2, False), (4, True)]
    _, info = read_serving_artifact(settings.runs_dir / rows[1].artifact_key, rows[1].sha256)
    assert info.source_sha256 == manifests[1].sha256 == rows[1].checkpoint_sha256
    assert context.jobs.losses(job).shape == (4, 2)
    # a duplicate delivery of a finished job does nothing
    assert run_job(context, job, "w2") == "already succeeded"


def test_rolling_checkpoints_leave_the_table_and_the_store_together(context, settings):
    job = submit_for_worker(context, iterations=10, checkpoint_every=2)
    assert run_job(context, job, "w1") == JobState.SUCCEEDED
    rows = context.models.of_job(job)
    assert [(row.step, row.final) for row in rows] == [(4, False), (6, False), (8, False),
                                                       (10, True)]
    on_disk = sorted(path.name for path in (settings.runs_dir / job / "models").iterdir())
    assert on_disk == [f"step_{step:07d}" for step in (4, 6, 8, 10)]


def test_a_job_can_keep_a_weight_average_of_its_generator(context, settings):
    job = submit_for_worker(context, iterations=3, ema_decay=0.99)
    assert run_job(context, job, "w1") == JobState.SUCCEEDED
    [final] = [m for m in iter_manifests(settings.runs_dir / job) if m.final]
    state, _ = load_checkpoint(final.path)
    assert state["train_config"]["ema_decay"] == 0.99
    assert state["generator_average"]["decay"] == 0.99
    assert state["generator_average"]["updates"] == 3
    assert context.models.newest_of_job(job).ema_decay == 0.99


def test_cancel_stops_at_the_next_iteration_with_a_checkpoint(context, settings):
    job = submit_for_worker(context, iterations=10, checkpoint_every=0)
    with StepGate(2) as gate:
        outcome = run_in_thread(context, job, "w1")
        gate.wait_reached()
        context.jobs.request_cancel(job)
        gate.release()
        assert outcome.result(timeout=120) == JobState.CANCELLED
    record = context.jobs.get(job)
    [manifest] = iter_manifests(settings.runs_dir / job)
    assert record.state is JobState.CANCELLED
    assert manifest.extra["stopped"] and manifest.step == record.progress["step"] == 3


def test_worker_shutdown_checkpoints_and_hands_the_job_back(context, settings):
    job = submit_for_worker(context, iterations=12, checkpoint_every=0)
    hand_back_at_step_3(context, job, "w1")
    record = context.jobs.get(job)
    assert record.state is JobState.QUEUED and record.lease_owner is None
    assert record.attempts == 0  # handing back is not a failed delivery
    assert [r.id for r in context.jobs.stale_queued(0)] == [job]
    assert record.progress["step"] == 4  # the iteration under way when it was released

    # the next worker resumes from that checkpoint and finishes once
    assert run_job(context, job, "w2") == JobState.SUCCEEDED
    record = context.jobs.get(job)
    assert record.attempts == 1 and record.progress["resumed_from"] == 4
    finals = [m for m in iter_manifests(settings.runs_dir / job) if m.final]
    assert [m.step for m in finals] == [12]
    state, _ = load_checkpoint(finals[0].path)
    assert state["loss_history"].shape == (12, 2)


def test_the_time_limit_fails_the_job_and_keeps_its_checkpoint(tmp_path, data_dir):
    settings = Settings(
        DCGAN_DATA_DIR=data_dir, DCGAN_RUNS_DIR=tmp_path / "runs", DCGAN_HEARTBEAT_SECONDS=0.1,
        DCGAN_MAX_JOB_SECONDS=3600, DCGAN_EVAL_SAMPLES=0,
    )
    prepare_shared_state(settings)
    context = WorkerContext(settings)
    job = submit_for_worker(context, iterations=10, checkpoint_every=0)
    with StepGate(2) as gate:
        outcome = run_in_thread(context, job, "w1")
        gate.wait_reached()
        [monitor] = gate.monitors  # its deadline is the setting's hour from the job's start
        assert 3500 < monitor.deadline - time.monotonic() <= 3600
        monitor.deadline = time.monotonic()  # the hour is up
        gate.release()
        assert outcome.result(timeout=120) == JobState.FAILED
    record = context.jobs.get(job)
    assert "exceeded DCGAN_MAX_JOB_SECONDS (3600s)" in record.error
    assert [m.extra.get("stopped") for m in iter_manifests(settings.runs_dir / job)] == [True]


def test_bad_parameters_fail_with_their_message(context):
    job = submit_for_worker(context, iterations=3, batch_size=100_000)
    assert run_job(context, job, "w1") == JobState.FAILED
    error = context.jobs.get(job).error
    assert "batch_size" in error and "less than or equal to 1024" in error


def test_a_full_disk_fails_the_job_clearly_and_keeps_the_previous_checkpoint(context, settings):
    """File writes beyond RLIMIT_FSIZE fail with EFBIG, as on a full disk, even for root."""
    # small networks: a checkpoint (about 6 MB) is larger than the limit, the database is not
    job = submit_for_worker(context, iterations=6, checkpoint_every=2, network_size="small")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def fill_disk(job_id, saved):
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 1024 * 1024, hard))

    try:
        state = run_job(context, job, "w1", on_checkpoint=fill_disk)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    record = context.jobs.get(job)
    assert state == JobState.FAILED
    assert "could not write checkpoint" in record.error and "step 4" in record.error
    assert str(settings.runs_dir) not in record.error  # no server paths in what is served
    assert "the previous checkpoint is intact" in record.error
    [previous] = iter_manifests(settings.runs_dir / job)
    assert previous.step == 2
    load_checkpoint(previous.path)  # still verifies and loads
    assert not list((settings.runs_dir / job / "checkpoints").glob(".*.tmp-*"))
    assert [row.step for row in context.models.of_job(job)] == [2]


def test_checkpoints_are_scored_by_a_process_of_their_own(tmp_path, data_dir):
    """The training loop hands each published checkpoint to the scorer and goes on; the
    figures arrive in the models table and the job's progress afterwards."""
    settings = Settings(
        DCGAN_DATA_DIR=data_dir, DCGAN_RUNS_DIR=tmp_path / "runs", DCGAN_HEARTBEAT_SECONDS=0.1,
        DCGAN_EVAL_SAMPLES=200,
    )
    prepare_shared_state(settings)
    context = WorkerContext(settings)
    job = submit_for_worker(context, iterations=4, checkpoint_every=2)
    try:
        assert run_job(context, job, "w1") == JobState.SUCCEEDED
        wait_for(lambda: all(row.metrics for row in context.models.of_job(job)), 120,
                 "the checkpoints to be scored")
    finally:
        context.scorer.close()
    for row in context.models.of_job(job):
        assert row.metrics["n"] == 200 and row.metrics["frechet_distance"] > 0
    wait_for(lambda: context.jobs.get(job).progress.get("metrics", {}).get("step") == 4, 30,
             "the job's progress to show the final checkpoint's figures")
