"""Every job an MLflow run: jobs run by the job runner in this process, tracked on a real
``mlflow server`` (one per module); a tracking server that is down costs a job nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from dcgan_cli.waiting import free_port, wait_for
from jobs.bootstrap import prepare_shared_state
from jobs.states import JobState
from shared_models.serving_artifact import CONFIG_FILE, WEIGHTS_FILE
from tests.support.jobs import hand_back_at_step_3, submit_for_worker
from tests.support.mlflow_server import mlflow_server
from worker.checkpoint_scores import CheckpointScorer
from worker.context import WorkerContext
from worker.job_runner import run_job
from worker.tracking import FINAL_MODEL_TAG, JOB_TAG, MLFLOW_DEFAULTS, NEWEST_MODEL_TAG

EXPERIMENT = "tests"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as uri:
        yield uri


@pytest.fixture(autouse=True)
def _mlflow_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables a tracker sets for mlflow, set here so they are undone after the test."""
    for name, value in MLFLOW_DEFAULTS.items():
        monkeypatch.setenv(name, value)


def tracked_context(tmp_path: Path, data_dir: Path, uri: str, eval_samples: int) -> WorkerContext:
    settings = Settings(
        DCGAN_DATA_DIR=data_dir, DCGAN_RUNS_DIR=tmp_path / "runs", DCGAN_HEARTBEAT_SECONDS=0.1,
        DCGAN_LEASE_SECONDS=5, DCGAN_EVAL_SAMPLES=eval_samples, MLFLOW_TRACKING_URI=uri,
        MLFLOW_EXPERIMENT_NAME=EXPERIMENT,
    )
    prepare_shared_state(settings)
    return WorkerContext(settings)


def unscored(job_id: str, saved: Any) -> None:
    """Checkpoints go to no scorer process: the test scores the final one itself."""


@pytest.mark.processes
def test_a_job_is_one_run_that_its_next_delivery_continues(tracking_uri, tmp_path, data_dir):
    from mlflow.tracking import MlflowClient

    context = tracked_context(tmp_path, data_dir, tracking_uri, eval_samples=50)
    tracker = context.tracker
    assert tracker is not None
    client = MlflowClient(tracking_uri)
    job = submit_for_worker(context, iterations=8, checkpoint_every=2)
    try:
        # the first delivery is handed back at step 4 (its worker stops): the run stays open
        hand_back_at_step_3(context, job, "w1", unscored)
        assert tracker.flush(timeout_s=120)
        run_id = context.jobs.get(job).tracking_run_id
        assert run_id is not None
        assert client.get_run(run_id).info.status == "RUNNING"

        # the next delivery resumes the job, and its run
        assert run_job(context, job, "w2", on_checkpoint=unscored) == JobState.SUCCEEDED
        final = context.models.newest_of_job(job)
        assert final is not None and final.final and final.step == 8
        scorer = CheckpointScorer(context.settings)  # as the scorer process does
        try:
            scores = scorer.score(job, final.id)
        finally:
            scorer.close()
        assert scores is not None
        assert tracker.flush(timeout_s=120)
    finally:
        tracker.close()

    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id], f"tags.`{JOB_TAG}` = '{job}'")
    assert run.info.run_id == run_id == context.jobs.get(job).tracking_run_id
    assert run.info.status == "FINISHED" and run.info.run_name == job
    params = run.data.params
    assert (params["iterations"], params["batch_size"], params["seed"]) == ("8", "16", "3")
    assert params["network_size"] == "tiny" and params["checkpoint_every"] == "2"
    assert run.data.tags[JOB_TAG] == job
    assert run.data.tags[NEWEST_MODEL_TAG] == run.data.tags[FINAL_MODEL_TAG] == final.id

    # the losses of both deliveries (reported at least at every checkpoint), one run
    for name in ("d_loss", "g_loss"):
        steps = {metric.step for metric in client.get_metric_history(run_id, name)}
        assert {2, 4, 6, 8} <= steps <= set(range(1, 9)), name
    # the scores as the scorer delivered them, at the checkpoint's step
    for name in ("inception_score", "frechet_distance", "classes_covered"):
        [metric] = client.get_metric_history(run_id, name)
        assert (metric.step, metric.value) == (8, pytest.approx(scores[name])), name

    grids = [item.path for item in client.list_artifacts(run_id, "grids")]
    assert grids == [f"grids/step_{step:07d}.png" for step in (2, 4, 6, 8)]
    downloaded = Path(client.download_artifacts(run_id, "", str(tmp_path / "downloaded")))
    assert (downloaded / grids[-1]).read_bytes().startswith(PNG_MAGIC)
    # the final model's serving artifact, byte for byte
    local = context.settings.runs_dir / final.artifact_key
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        assert (downloaded / "model" / name).read_bytes() == (local / name).read_bytes()


def test_a_tracking_server_that_is_down_costs_the_job_nothing(tmp_path, data_dir, caplog):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    context = tracked_context(tmp_path, data_dir, down, eval_samples=0)
    tracker = context.tracker
    assert tracker is not None
    job = submit_for_worker(context, iterations=4, checkpoint_every=2)
    caplog.set_level(logging.INFO, logger="worker.tracking")
    try:
        assert run_job(context, job, "w1") == JobState.SUCCEEDED
        # the job ended without waiting for its calls: they wait for the server
        held = tracker.pending
        wait_for(lambda: tracker.failed_attempts >= 2, 60, "the tracker to retry its call")
    finally:
        tracker.close(timeout_s=0)
    record = context.jobs.get(job)
    assert record.state is JobState.SUCCEEDED and record.tracking_run_id is None
    assert held > 0
    warnings = [entry.getMessage() for entry in caplog.records
                if entry.name == "worker.tracking" and entry.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings  # failing (once, for every failed attempt); dropped
    assert warnings[0].startswith("experiment tracking is failing")
    assert warnings[1].endswith("calls were not made")
