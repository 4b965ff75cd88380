"""Settings shared by the worker and the service, read once per process from the environment.

``REDIS_URL`` unset means the embedded mode: Celery's broker and result backend become
SQLite files under ``DCGAN_DATA_DIR``, so the whole product runs with no server installed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

HOUR = 3600


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    redis_url: str | None = Field(None, validation_alias="REDIS_URL")
    data_dir: Path = Field(Path("data"), validation_alias="DCGAN_DATA_DIR")
    runs_dir: Path = Field(Path("runs"), validation_alias="DCGAN_RUNS_DIR")
    queue: str = Field("dcgan", validation_alias="DCGAN_QUEUE", pattern=r"^[A-Za-z0-9_.-]+$")
    device: str | None = Field(None, validation_alias="DCGAN_DEVICE")

    # Long GPU jobs: the broker must not hand a running job to another worker while it runs.
    max_job_seconds: int = Field(24 * HOUR, validation_alias="DCGAN_MAX_JOB_SECONDS", gt=0)
    visibility_timeout_seconds: int = Field(
        48 * HOUR, validation_alias="DCGAN_VISIBILITY_TIMEOUT_SECONDS", gt=0
    )
    max_deliveries: int = Field(3, validation_alias="DCGAN_MAX_DELIVERIES", ge=1)
    # A running job renews its lease every heartbeat; a lease left to expire means the worker
    # died, and the job is put back in the queue to resume from its last checkpoint.
    heartbeat_seconds: float = Field(1.0, validation_alias="DCGAN_HEARTBEAT_SECONDS", gt=0)
    lease_seconds: float = Field(30.0, validation_alias="DCGAN_LEASE_SECONDS", gt=0)
    reaper_interval_seconds: float = Field(
        10.0, validation_alias="DCGAN_REAPER_INTERVAL_SECONDS", gt=0
    )
    requeue_queued_after_seconds: float = Field(
        600.0, validation_alias="DCGAN_REQUEUE_QUEUED_AFTER_SECONDS", gt=0
    )

    # each checkpoint is scored on this many samples (0: not at all)
    eval_samples: int = Field(1000, validation_alias="DCGAN_EVAL_SAMPLES", ge=0, le=60_000)

    @property
    def embedded(self) -> bool:
        return not self.redis_url

    @property
    def broker_url(self) -> str:
        if self.redis_url:
            return self.redis_url
        return f"sqla+sqlite:///{(self.data_dir / 'celery-broker.sqlite3').resolve()}"

    @property
    def result_backend(self) -> str:
        if self.redis_url:
            return self.redis_url
        return f"db+sqlite:///{(self.data_dir / 'celery-results.sqlite3').resolve()}"

    @property
    def jobs_db(self) -> Path:
        return self.runs_dir / "jobs.sqlite3"

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
