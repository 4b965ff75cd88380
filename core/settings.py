"""Settings shared by the API and the workers, read once per process from the environment.

Every piece of state that outlives a process has one URL here:

- ``REDIS_URL``: the Celery broker. Unset means the embedded mode: the broker becomes a SQLite
  file under ``DCGAN_DATA_DIR``, so one machine needs no server. (Task results are not kept:
  the job records are the state.)
- ``DCGAN_DATABASE_URL``: job records and the models table (SQLAlchemy URL). Default: the
  embedded SQLite file ``$DCGAN_RUNS_DIR/jobs.sqlite3`` (one machine);
  ``postgresql+psycopg://user:password@host/db`` for many hosts.
- ``DCGAN_STORE_URL``: checkpoints and serving artifacts. Default: the runs folder itself
  (one machine); ``s3://bucket/prefix`` for S3-compatible object storage, configured by the
  standard AWS variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...).

``DCGAN_RUNS_DIR`` is then each process's own scratch folder: a worker writes checkpoints
there before they go to the store, and the API keeps its cache of downloaded models in
``DCGAN_DATA_DIR/model-cache``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

HOUR = 3600
JOBS_DB_FILE = "jobs.sqlite3"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    redis_url: str | None = Field(
        None, validation_alias="REDIS_URL",
        description=(
            "the Celery broker; unset: the embedded mode, a SQLite file under "
            "DCGAN_DATA_DIR (task results are not kept: the job records are the "
            "state)"
        ),
    )
    data_dir: Path = Field(
        Path("data"), validation_alias="DCGAN_DATA_DIR",
        description=(
            "data sets, evaluation classifiers, the embedded broker's files, the "
            "API's model cache (model-cache/)"
        ),
    )
    runs_dir: Path = Field(
        Path("runs"), validation_alias="DCGAN_RUNS_DIR",
        description=(
            "the worker's scratch folder for checkpoints before they go to the store; "
            "with the default store, the store itself"
        ),
    )
    database_url_setting: str | None = Field(
        None, validation_alias="DCGAN_DATABASE_URL",
        description=(
            "job records, the models table, serving pins and loss curves (an "
            "SQLAlchemy URL, e.g. postgresql+psycopg://user:password@host:5432/db); "
            "unset: the SQLite file DCGAN_RUNS_DIR/jobs.sqlite3"
        ),
    )
    store_url_setting: str | None = Field(
        None, validation_alias="DCGAN_STORE_URL",
        description=(
            "checkpoints and serving artifacts: a folder, or s3://bucket/prefix on an "
            "S3-compatible store configured by the standard AWS_* variables; unset: "
            "the runs folder"
        ),
    )
    queue: str = Field(
        "dcgan", validation_alias="DCGAN_QUEUE", pattern=r"^[A-Za-z0-9_.-]+$",
        description=(
            "the Celery queue jobs go to"
        ),
    )
    device: str | None = Field(
        None, validation_alias="DCGAN_DEVICE",
        description=(
            "the worker's training device (cpu, cuda, cuda:N); unset: CUDA when "
            "present, else the CPU"
        ),
    )
    # None: JSON lines for the long-running services (serve, worker), plain text otherwise
    log_format: Literal["json", "text"] | None = Field(
        None, validation_alias="DCGAN_LOG_FORMAT",
        description=(
            "json or text; unset: JSON lines for serve and worker, text for the other "
            "commands"
        ),
    )

    # Long GPU jobs: the broker must not hand a running job to another worker while it runs.
    max_job_seconds: int = Field(
        24 * HOUR, validation_alias="DCGAN_MAX_JOB_SECONDS", gt=0,
        description=(
            "a job running longer is stopped (its checkpoint kept) and fails"
        ),
    )
    visibility_timeout_seconds: int = Field(
        48 * HOUR, validation_alias="DCGAN_VISIBILITY_TIMEOUT_SECONDS", gt=0,
        description=(
            "the broker's redelivery timeout; a worker refuses to start unless it "
            "exceeds DCGAN_MAX_JOB_SECONDS"
        ),
    )
    max_deliveries: int = Field(
        3, validation_alias="DCGAN_MAX_DELIVERIES", ge=1,
        description=(
            "a job whose worker dies this many times fails"
        ),
    )
    # A running job renews its lease every heartbeat; a lease left to expire means the worker
    # died, and the job is put back in the queue to resume from its last checkpoint.
    heartbeat_seconds: float = Field(
        1.0, validation_alias="DCGAN_HEARTBEAT_SECONDS", gt=0,
        description=(
            "how often a running job renews its lease and looks for a cancel or a "
            "shutdown"
        ),
    )
    lease_seconds: float = Field(
        30.0, validation_alias="DCGAN_LEASE_SECONDS", gt=0,
        description=(
            "a job whose lease is not renewed for this long is put back in the queue, "
            "to resume from its last checkpoint"
        ),
    )
    reaper_interval_seconds: float = Field(
        10.0, validation_alias="DCGAN_REAPER_INTERVAL_SECONDS", gt=0,
        description=(
            "how often each worker looks for jobs whose lease expired"
        ),
    )
    requeue_queued_after_seconds: float = Field(
        600.0, validation_alias="DCGAN_REQUEUE_QUEUED_AFTER_SECONDS", gt=0,
        description=(
            "a queued job whose broker message was lost (a broker restarted empty) is "
            "published again after this"
        ),
    )

    # each checkpoint is scored on this many samples (0: not at all)
    eval_samples: int = Field(
        1000, validation_alias="DCGAN_EVAL_SAMPLES", ge=0, le=60_000,
        description=(
            "samples each checkpoint is scored on (0: not scored, and no model then "
            "passes a gate that asks for scores)"
        ),
    )

    # Retention: finished jobs lose their rolling checkpoints, and the finished jobs beyond
    # the newest this many lose their models too (the served and pinned ones never); unset
    # or empty: keep everything.
    keep_finished_jobs: int | None = Field(
        20, validation_alias="DCGAN_KEEP_FINISHED_JOBS", ge=1,
        description=(
            "retention: finished jobs lose their rolling checkpoints, and those "
            "beyond the newest this many their models too (never the served or pinned "
            "one); empty: keep everything"
        ),
    )
    retention_interval_seconds: float = Field(
        60.0, validation_alias="DCGAN_RETENTION_INTERVAL_SECONDS", gt=0,
        description=(
            "how often each API replica applies retention"
        ),
    )
    sweep_interval_seconds: float = Field(
        2.0, validation_alias="DCGAN_SWEEP_INTERVAL_SECONDS", gt=0,
        description=(
            "how often each API replica moves open sweeps along: submits their next members, "
            "ends those whose members have all run"
        ),
    )
    sweep_score_wait_seconds: float = Field(
        300.0, validation_alias="DCGAN_SWEEP_SCORE_WAIT_SECONDS", ge=0,
        description=(
            "how long a sweep whose members have all run waits for their scores before it "
            "ranks what it has (workers score final checkpoints a little after a job ends)"
        ),
    )

    # experiment tracking (worker/tracking.py): MLflow's own variable names
    tracking_uri: str | None = Field(
        None, validation_alias="MLFLOW_TRACKING_URI",
        description=(
            "an MLflow tracking server: every job is then a run there (needs the tracking "
            "extra, mlflow-skinny); unset: nothing is tracked"
        ),
    )
    tracking_experiment: str = Field(
        "dcgan", validation_alias="MLFLOW_EXPERIMENT_NAME", min_length=1,
        description=(
            "the MLflow experiment the jobs' runs go to"
        ),
    )

    @field_validator("keep_finished_jobs", mode="before")
    @classmethod
    def _empty_means_keep_everything(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def embedded(self) -> bool:
        return not self.redis_url

    @property
    def broker_url(self) -> str:
        if self.redis_url:
            return self.redis_url
        return f"sqla+sqlite:///{(self.data_dir / 'celery-broker.sqlite3').resolve()}"

    @property
    def database_url(self) -> str:
        if self.database_url_setting:
            return self.database_url_setting
        return f"sqlite:///{(self.runs_dir / JOBS_DB_FILE).resolve()}"

    @property
    def store_url(self) -> str:
        return self.store_url_setting or str(self.runs_dir.resolve())

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "model-cache"

    def check_worker_limits(self) -> None:
        """Refuse to run a worker whose broker could redeliver a job that is still running."""
        if self.visibility_timeout_seconds <= self.max_job_seconds:
            raise ValueError(
                "DCGAN_VISIBILITY_TIMEOUT_SECONDS "
                f"({self.visibility_timeout_seconds}) must be longer than "
                f"DCGAN_MAX_JOB_SECONDS ({self.max_job_seconds}): otherwise the broker "
                "redelivers jobs that are still running"
            )
        if self.lease_seconds <= 2 * self.heartbeat_seconds:
            raise ValueError("DCGAN_LEASE_SECONDS must exceed twice DCGAN_HEARTBEAT_SECONDS")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
