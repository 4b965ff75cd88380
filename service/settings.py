"""The API's settings: the shared settings (jobs.settings) plus what only the service needs."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator

from jobs.settings import Settings
from shared_models.config import DatasetName


class ServiceSettings(Settings):
    # unset (or empty) -> no authentication, for local use; compose requires it
    api_token: SecretStr | None = Field(None, validation_alias="DCGAN_API_TOKEN")
    serve_device: str = Field("cpu", validation_alias="DCGAN_SERVE_DEVICE")
    reload_interval_seconds: float = Field(
        1.0, validation_alias="DCGAN_RELOAD_INTERVAL_SECONDS", gt=0
    )
    max_concurrent_renders: int = Field(
        32, validation_alias="DCGAN_MAX_CONCURRENT_RENDERS", ge=1
    )
    max_queued_renders: int = Field(64, validation_alias="DCGAN_MAX_QUEUED_RENDERS", ge=0)
    # micro-batching: one forward pass for up to this many rows of waiting requests ...
    batch_max_rows: int = Field(256, validation_alias="DCGAN_BATCH_MAX_ROWS", ge=1)
    # ... waiting at most this long for more requests after the first
    batch_max_wait_ms: float = Field(2.0, validation_alias="DCGAN_BATCH_MAX_WAIT_MS", ge=0)
    max_active_jobs: int = Field(16, validation_alias="DCGAN_MAX_ACTIVE_JOBS", ge=1)
    # generators being loaded (downloaded, verified, rebuilt) at once, off the event loop
    max_concurrent_loads: int = Field(2, validation_alias="DCGAN_MAX_CONCURRENT_LOADS", ge=1)
    max_body_bytes: int = Field(16_384, validation_alias="DCGAN_MAX_BODY_BYTES", ge=256)

    # The serving policy (service.serving_policy): only final models of this data set are
    # promoted, and only when their scores pass the gate; unset (or empty) bounds are no
    # condition. The defaults are about what 1,000 iterations at the tutorial's settings reach.
    serve_dataset: DatasetName = Field("mnist", validation_alias="DCGAN_SERVE_DATASET")
    promote_min_inception_score: float | None = Field(
        5.0, validation_alias="DCGAN_PROMOTE_MIN_INCEPTION_SCORE", ge=1, le=10
    )
    promote_max_frechet_distance: float | None = Field(
        50.0, validation_alias="DCGAN_PROMOTE_MAX_FRECHET_DISTANCE", ge=0
    )

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_token_means_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator(
        "promote_min_inception_score", "promote_max_frechet_distance", mode="before"
    )
    @classmethod
    def _empty_bound_means_none(cls, value: object) -> object:
        return None if value == "" else value


@lru_cache(maxsize=1)
def get_service_settings() -> ServiceSettings:
    return ServiceSettings()
