"""Experiment tracking: every job an MLflow run, when ``MLFLOW_TRACKING_URI`` names a server.

A job's run holds its parameters (the job spec), its losses at each progress report, each
checkpoint's scores (logged by the scorer process) and sample grid, and the final model's
serving artifact; its tags name the job and its models. The run's id is kept on the job
record, so a redelivered or resumed job continues the same run. The run ends with the job
(FINISHED, FAILED, KILLED); a job handed back leaves it open for its next delivery.

Tracking never costs training a moment: each call to the server waits in a bounded buffer
that one thread of its own drains in order, retrying a call with backoff while the server
cannot be reached (the problem is logged once, not once per call); when the buffer is full,
new calls are dropped. That thread imports mlflow, and only where a server is named. A job's
end waits a bounded time for its calls to go out, and none while the server is failing.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from artifacts.publishing import artifact_dir
from core.settings import Settings
from jobs.job_store import JobRecord, JobStore
from jobs.spec import JobSpec
from jobs.states import JobState
from registry.model_records import ModelRecord
from shared_models.grids import grid_png
from shared_models.sampling import generate, grid_inputs
from shared_models.serving_artifact import CONFIG_FILE, WEIGHTS_FILE, load_serving_generator
from shared_models.training import Progress, SavedCheckpoint
from worker.persistence import TRANSIENT

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

MAX_WAITING = 1000  # calls held while the server cannot be reached; beyond them, dropped
FLUSH_TIMEOUT_S = 15.0  # the longest a job's end waits for its calls to go out
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 60.0
GRID_SAMPLES, GRID_SEED = 64, 0  # one seed for every checkpoint: its grids compare
JOB_TAG, NEWEST_MODEL_TAG, FINAL_MODEL_TAG = "dcgan.job", "dcgan.newest_model", "dcgan.final_model"
END_STATUS = {
    JobState.SUCCEEDED: "FINISHED", JobState.FAILED: "FAILED", JobState.CANCELLED: "KILLED",
}
# mlflow's settings where the thread below is its only user, unless the environment sets
# them: the thread retries with its own backoff (mlflow's would retry one call for minutes),
# a request gives up sooner, mlflow logs through the process's logging, the run's address
# is not printed on stdout and no usage telemetry leaves the host
MLFLOW_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_CONFIGURE_LOGGING": "false",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
# what a server that is down, restarting or overloaded answers: the call is made again
TRANSIENT_CODES = {
    "INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "DEADLINE_EXCEEDED", "REQUEST_LIMIT_EXCEEDED",
    "RESOURCE_EXHAUSTED",
}

Call = Callable[["MlflowClient"], None]
RunCall = Callable[["MlflowClient", str], None]


class Tracker:
    """One process's line to an MLflow server: ``submit`` returns at once, and a thread of
    its own makes the calls in order."""

    def __init__(self, uri: str, experiment: str) -> None:
        self.uri = uri
        self.experiment = experiment
        for name, value in MLFLOW_DEFAULTS.items():
            os.environ.setdefault(name, value)
        self._calls: queue.Queue[Call | None] = queue.Queue(MAX_WAITING)
        self._changed = threading.Condition()
        self._pending = 0  # calls submitted and not yet made or dropped
        self._failing = False  # the last attempt failed: retrying
        self.failed_attempts = 0  # attempts that failed for want of a server, and were retried
        self._dropping = False  # the buffer was full
        self._refusals: set[str] = set()  # the kinds of refusal logged already
        self._closed = threading.Event()
        self._experiment_id: str | None = None
        self._thread = threading.Thread(target=self._drain, name="tracking", daemon=True)
        self._thread.start()

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracker | None:
        """The process's tracker; None (nothing tracked) without MLFLOW_TRACKING_URI."""
        if not settings.tracking_uri:
            return None
        return cls(settings.tracking_uri, settings.tracking_experiment)

    @property
    def pending(self) -> int:
        """Calls submitted and not yet made (nor dropped)."""
        with self._changed:
            return self._pending

    def submit(self, call: Call) -> None:
        """Hand ``call`` to the thread; when the buffer is full it is dropped."""
        with self._changed:
            if self._closed.is_set():
                return
            try:
                self._calls.put_nowait(call)
            except queue.Full:
                if not self._dropping:
                    log.warning("experiment tracking: %d calls wait already; more are dropped "
                                "until the server takes them", MAX_WAITING)
                self._dropping = True
                return
            self._pending += 1

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> bool:
        """Wait, at most ``timeout_s`` and not at all while the server is failing, until the
        calls submitted so far are made; whether they are."""
        with self._changed:
            self._changed.wait_for(lambda: self._pending == 0 or self._failing, timeout_s)
            return self._pending == 0

    def close(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Flush, then stop the thread; the calls it still holds are dropped."""
        self.flush(timeout_s)
        with self._changed:
            self._closed.set()
            dropped = self._pending
        try:
            self._calls.put_nowait(None)
        except queue.Full:
            pass  # the thread looks at _closed between attempts
        self._thread.join(timeout_s)
        if dropped:
            log.warning("experiment tracking: %d calls were not made", dropped)

    def experiment_id(self, client: MlflowClient) -> str:
        """The id of the jobs' experiment, created on first use."""
        if self._experiment_id is None:
            from mlflow.exceptions import MlflowException

            found = client.get_experiment_by_name(self.experiment)
            if found is not None:
                self._experiment_id = found.experiment_id
            else:
                try:
                    self._experiment_id = client.create_experiment(self.experiment)
                except MlflowException as error:  # another worker created it meanwhile
                    if error.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
                    return self.experiment_id(client)
        return self._experiment_id

    def _drain(self) -> None:
        client = self._client()
        while (call := self._calls.get()) is not None:
            if client is not None:
                self._make(call, client)
            with self._changed:
                self._pending -= 1
                self._changed.notify_all()

    def _client(self) -> MlflowClient | None:
        try:
            from mlflow.tracking import MlflowClient

            return MlflowClient(self.uri)
        except ImportError:
            log.error("MLFLOW_TRACKING_URI is set, but mlflow is not installed (the tracking "
                      "extra: pip install 'dcgan-service[tracking]'): nothing is tracked")
        except Exception:  # noqa: BLE001 - e.g. a URI of no scheme mlflow knows
            log.exception("experiment tracking is off: no MLflow client for the URI")
        return None

    def _make(self, call: Call, client: MlflowClient) -> None:
        """Make ``call``, again with backoff while it fails for want of a server."""
        delay = RETRY_FIRST_S
        while not self._closed.is_set():
            try:
                call(client)
            except Exception as error:  # noqa: BLE001 - tracking is never worth a job
                if not _transient(error):
                    kind = getattr(error, "error_code", None) or type(error).__name__
                    level = logging.DEBUG if kind in self._refusals else logging.WARNING
                    self._refusals.add(kind)
                    log.log(level, "experiment tracking: a call was refused (%s) and dropped; "
                            "refusals of this kind are logged once: %s", kind, _first_line(error))
                    return
                if not self._failing:
                    log.warning("experiment tracking is failing (%s): jobs go on, and what "
                                "they log waits (up to %d calls) to be sent again",
                                _first_line(error), MAX_WAITING)
                with self._changed:
                    self._failing = True
                    self.failed_attempts += 1
                    self._changed.notify_all()
                self._closed.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            else:
                if self._failing:
                    log.info("experiment tracking works again")
                with self._changed:
                    self._failing = self._dropping = False
                return


class JobTracking:
    """One job's run on ``tracker`` (None: not tracked, and every method returns at once)."""

    def __init__(self, tracker: Tracker | None, jobs: JobStore, record: JobRecord) -> None:
        self.tracker = tracker
        self.jobs = jobs
        self.job_id = record.id
        # set by the tracker's thread once the run is created or continued; None: no run
        self.run_id = record.tracking_run_id
        self._recorded = record.tracking_run_id

    def start(self, spec: JobSpec) -> None:
        """Continue the job's run, or create one and keep its id on the job; log the spec."""
        if self.tracker is None:
            return
        params = _params(spec)
        self.tracker.submit(self._open)
        self.tracker.submit(self._record)
        self._submit(lambda client, run_id: _log(client, run_id, params=params))

    def losses(self, progress: Progress) -> None:
        if self.tracker is None:
            return
        metrics = {"d_loss": progress.d_loss, "g_loss": progress.g_loss}
        stamp = _now_ms()
        self._submit(lambda client, run_id: _log(client, run_id, metrics=metrics,
                                                 step=progress.step, stamp=stamp))

    def checkpoint(self, saved: SavedCheckpoint, model: ModelRecord) -> None:
        """The checkpoint's sample grid, its model in the tags and, for the final one, its
        serving artifact (read now: the scratch folder may be gone when they are sent)."""
        if self.tracker is None:
            return
        folder = artifact_dir(saved.manifest.run_dir, model.step)
        files: dict[str, bytes] = {}
        try:
            files[f"grids/step_{model.step:07d}.png"] = sample_grid(folder)
            if model.final:
                for name in (WEIGHTS_FILE, CONFIG_FILE):
                    files[f"model/{name}"] = (folder / name).read_bytes()
        except Exception as error:  # noqa: BLE001 - a grid is never worth a checkpoint
            log.warning("job %s: %s is not tracked: %s", self.job_id, model.id, error)
            return
        tags = {NEWEST_MODEL_TAG: model.id}
        if model.final:
            tags[FINAL_MODEL_TAG] = model.id

        def send(client: MlflowClient, run_id: str) -> None:
            _upload(client, run_id, files)
            _log(client, run_id, tags=tags)

        self._submit(send)

    def end(self, state: JobState | None) -> None:
        """End the run as the job ended (None: the job was handed back, and its run stays
        open for the next delivery); then wait, bounded, for the job's calls to go out."""
        if self.tracker is None:
            return
        status = END_STATUS.get(state) if state is not None else None
        if status is not None:
            stamp = _now_ms()
            self._submit(lambda client, run_id: client.set_terminated(run_id, status, stamp))
        if not self.tracker.flush():
            log.info("job %s: %d tracking calls still wait to be sent", self.job_id,
                     self.tracker.pending)

    def _submit(self, call: RunCall) -> None:
        assert self.tracker is not None
        self.tracker.submit(lambda client: self._on_run(client, call))

    def _on_run(self, client: MlflowClient, call: RunCall) -> None:
        if self.run_id is not None:  # None: the run could not be created
            call(client, self.run_id)

    def _open(self, client: MlflowClient) -> None:
        from mlflow.exceptions import MlflowException

        assert self.tracker is not None
        if self.run_id is not None:
            try:
                run = client.get_run(self.run_id)
            except MlflowException as error:
                if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
            else:
                if run.info.lifecycle_stage == "active":
                    client.update_run(self.run_id, status="RUNNING")
                    log.info("job %s: continuing MLflow run %s", self.job_id, self.run_id)
                    return
            log.warning("job %s: its MLflow run %s is gone; a new one starts", self.job_id,
                        self.run_id)
        run = client.create_run(self.tracker.experiment_id(client), run_name=self.job_id,
                                tags={JOB_TAG: self.job_id})
        self.run_id = run.info.run_id
        log.info("job %s: MLflow run %s", self.job_id, self.run_id)

    def _record(self, client: MlflowClient) -> None:
        if self.run_id is not None and self.run_id != self._recorded:
            self.jobs.record_tracking_run(self.job_id, self.run_id)
            self._recorded = self.run_id


def log_scores(tracker: Tracker | None, jobs: JobStore, job_id: str, step: int,
               figures: dict[str, Any]) -> None:
    """A checkpoint's scores as metrics of its job's run (the run read from the job record
    when the call is made; a job without one is not tracked)."""
    if tracker is None:
        return
    metrics = _numbers(figures)
    if not metrics:
        return
    stamp = _now_ms()

    def send(client: MlflowClient) -> None:
        record = jobs.get(job_id)
        if record is not None and record.tracking_run_id is not None:
            _log(client, record.tracking_run_id, metrics=metrics, step=step, stamp=stamp)

    tracker.submit(send)


def sample_grid(folder: Path) -> bytes:
    """The PNG grid of a serving artifact's samples, the same noise at every checkpoint."""
    generator, _ = load_serving_generator(folder)
    return grid_png(generate(generator, grid_inputs(generator, GRID_SAMPLES, GRID_SEED)))


def _params(spec: JobSpec) -> dict[str, str]:
    """The job spec with what its defaults resolve to (iterations, checkpoint interval)."""
    values = spec.model_dump(mode="json", exclude_none=True)
    values |= {"iterations": spec.total_iterations, "checkpoint_every": spec.checkpoint_interval}
    return {name: str(value) for name, value in values.items()}


def _numbers(figures: dict[str, Any]) -> dict[str, float]:
    """The scores among the figures (a list, such as per-class accuracy, one per entry)."""
    numbers: dict[str, float] = {}
    for name, value in figures.items():
        if name in ("step", "n", "seed"):
            continue
        entries = enumerate(value) if isinstance(value, list) else [(None, value)]
        for index, entry in entries:
            if isinstance(entry, int | float) and not isinstance(entry, bool) \
                    and math.isfinite(entry):
                numbers[name if index is None else f"{name}_{index}"] = float(entry)
    return numbers


def _log(client: MlflowClient, run_id: str, metrics: dict[str, float] | None = None,
         params: dict[str, str] | None = None, tags: dict[str, str] | None = None,
         step: int = 0, stamp: int = 0) -> None:
    from mlflow.entities import Metric, Param, RunTag

    client.log_batch(
        run_id,
        metrics=[Metric(name, value, stamp, step) for name, value in (metrics or {}).items()],
        params=[Param(name, value) for name, value in (params or {}).items()],
        tags=[RunTag(name, value) for name, value in (tags or {}).items()],
    )


def _upload(client: MlflowClient, run_id: str, files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory(prefix="dcgan-tracking-") as folder:
        for name, data in files.items():
            path = Path(folder, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        client.log_artifacts(run_id, folder)


def _transient(error: Exception) -> bool:
    """The call may succeed later: the server (or the job records) cannot be reached, is
    restarting or overloaded; not when it refused the call itself."""
    from mlflow.exceptions import MlflowException

    if isinstance(error, MlflowException):
        return error.error_code in TRANSIENT_CODES
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int) and status < 500 and status != 429:
        return False  # an artifact upload the server refused (requests' HTTPError)
    return isinstance(error, (*TRANSIENT, OSError))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
