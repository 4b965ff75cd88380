"""The API's settings: the shared settings (core.settings) plus what only the service needs."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from core.settings import Settings
from shared_models.config import MAX_SAMPLES, DatasetName


class ServiceSettings(Settings):
    # unset (or empty) -> no authentication, for local use; compose requires it
    api_token: SecretStr | None = Field(
        None, validation_alias="DCGAN_API_TOKEN",
        description=(
            "bearer token the routes that change something require; unset or empty: "
            "no authentication (local use)"
        ),
    )
    serve_device: str = Field(
        "cpu", validation_alias="DCGAN_SERVE_DEVICE",
        description=(
            "the API's inference device"
        ),
    )
    reload_interval_seconds: float = Field(
        1.0, validation_alias="DCGAN_RELOAD_INTERVAL_SECONDS", gt=0,
        description=(
            "how often the API asks the database which model to serve"
        ),
    )
    max_concurrent_renders: int = Field(
        32, validation_alias="DCGAN_MAX_CONCURRENT_RENDERS", ge=1,
        description=(
            "image requests rendering at once (their digits share the batched forward "
            "passes)"
        ),
    )
    max_queued_renders: int = Field(
        64, validation_alias="DCGAN_MAX_QUEUED_RENDERS", ge=0,
        description=(
            "image requests waiting for a place; beyond, 429 with Retry-After"
        ),
    )
    # the same bounds weighed in digits: a 1,024-digit grid counts 1,024 times a 1-digit one
    max_render_rows: int = Field(
        32_768, validation_alias="DCGAN_MAX_RENDER_ROWS", ge=MAX_SAMPLES,
        description=(
            "digits rendering at once, all requests together (a 1,024-digit grid "
            "counts 1,024)"
        ),
    )
    max_queued_render_rows: int = Field(
        32_768, validation_alias="DCGAN_MAX_QUEUED_RENDER_ROWS", ge=0,
        description=(
            "digits waiting for a place; beyond, 429 with Retry-After"
        ),
    )
    # micro-batching: one forward pass for up to this many rows of waiting requests ...
    batch_max_rows: int = Field(
        256, validation_alias="DCGAN_BATCH_MAX_ROWS", ge=1,
        description=(
            "digits one generator forward pass may hold, a block from each waiting "
            "request in turn"
        ),
    )
    # ... waiting at most this long for more requests after the first
    batch_max_wait_ms: float = Field(
        2.0, validation_alias="DCGAN_BATCH_MAX_WAIT_MS", ge=0,
        description=(
            "how long a batch waits for company after its first request (only when "
            "the last batch had company)"
        ),
    )
    max_active_jobs: int = Field(
        16, validation_alias="DCGAN_MAX_ACTIVE_JOBS", ge=1,
        description=(
            "queued and running jobs before POST /jobs answers 429"
        ),
    )
    # generators being loaded (downloaded, verified, rebuilt) at once, off the event loop
    max_concurrent_loads: int = Field(
        2, validation_alias="DCGAN_MAX_CONCURRENT_LOADS", ge=1,
        description=(
            "models downloaded, verified and rebuilt at once, off the event loop"
        ),
    )
    # a model that failed to load is tried again after this, then twice as long each time
    # (at most ten minutes): a stored file that is fixed serves again without a restart
    invalid_model_retry_seconds: float = Field(
        5.0, validation_alias="DCGAN_INVALID_MODEL_RETRY_SECONDS", gt=0,
        description=(
            "a model that failed to load is tried again after this, then twice as "
            "long each time up to ten minutes"
        ),
    )
    # model archives (GET /models/{id}/export): built this many at a time, on threads of
    # their own; past this many archives waiting for a build, 429; built ones kept in memory
    # up to this many bytes together; this many sent at once, the other downloads wait their turn
    max_concurrent_exports: int = Field(
        1, validation_alias="DCGAN_MAX_CONCURRENT_EXPORTS", ge=1,
        description=(
            "model archives (GET /models/{id}/export) built at once, on threads of "
            "their own"
        ),
    )
    max_waiting_exports: int = Field(
        4, validation_alias="DCGAN_MAX_WAITING_EXPORTS", ge=1,
        description=(
            "archives waiting for a build; beyond, 429 with Retry-After"
        ),
    )
    export_cache_bytes: int = Field(
        128 * 2**20, validation_alias="DCGAN_EXPORT_CACHE_BYTES", ge=0,
        description=(
            "built archives kept in memory, all together"
        ),
    )
    max_sending_exports: int = Field(
        8, validation_alias="DCGAN_MAX_SENDING_EXPORTS", ge=1,
        description=(
            "model archives sent at once; the other downloads wait their turn, their "
            "connections open"
        ),
    )
    event_poll_seconds: float = Field(
        0.25, validation_alias="DCGAN_EVENT_POLL_SECONDS", gt=0, le=5,
        description=(
            "how often the API looks for new job events while a client watches (one query "
            "per replica, however many streams are open)"
        ),
    )
    event_heartbeat_seconds: float = Field(
        15.0, validation_alias="DCGAN_EVENT_HEARTBEAT_SECONDS", gt=0, lt=30,
        description=(
            "an idle event stream sends a comment this often, so proxies keep it open"
        ),
    )
    max_event_streams: int = Field(
        1000, validation_alias="DCGAN_MAX_EVENT_STREAMS", ge=1,
        description=(
            "event streams open at once per replica; beyond, 503 with Retry-After"
        ),
    )
    keep_progress_events_hours: float = Field(
        24.0, validation_alias="DCGAN_KEEP_PROGRESS_EVENTS_HOURS", gt=0,
        description=(
            "progress events older than this are deleted; a job's other events stay as "
            "long as the job"
        ),
    )

    # Bounds on what one request may cost before the app answers it (docs/hostile-input.md).
    # A route may declare another body bound (service.body_limit.larger_body).
    max_body_bytes: int = Field(
        16_384, validation_alias="DCGAN_MAX_BODY_BYTES", ge=256,
        description=(
            "request body bound (413 beyond); a route may declare its own"
        ),
    )
    # the request line and the headers, as sent
    max_header_bytes: int = Field(
        16_384, validation_alias="DCGAN_MAX_HEADER_BYTES", ge=1024,
        description=(
            "request head bound: the request line and headers, as sent (431 beyond)"
        ),
    )
    max_header_count: int = Field(
        100, validation_alias="DCGAN_MAX_HEADER_COUNT", ge=8,
        description=(
            "headers in one request (431 beyond)"
        ),
    )
    # from the connection's start, or the end of the previous response, to a complete head
    header_timeout_seconds: float = Field(
        10.0, validation_alias="DCGAN_HEADER_TIMEOUT_SECONDS", gt=0,
        description=(
            "from a connection's start or the previous response's end to a complete "
            "request head (408 or closed beyond)"
        ),
    )
    # from a complete head to the body's last byte
    body_timeout_seconds: float = Field(
        30.0, validation_alias="DCGAN_BODY_TIMEOUT_SECONDS", gt=0,
        description=(
            "from a complete head to the body's last byte (408 beyond)"
        ),
    )
    # Host names served (service.allowed_hosts): exact names, "*.example.com" for the names
    # under example.com, "*" for any; IP literals are always served.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        ("localhost", "*.localhost", "testserver"), validation_alias="DCGAN_ALLOWED_HOSTS",
        description=(
            "Host names served, comma-separated (400 for others; IP literals always): "
            "exact names, *.example.com for the names under a domain, * for any"
        ),
    )

    # The serving policy (registry.promotion): only final models of this data set are
    # promoted, and only when their scores pass the gate; unset (or empty) bounds are no
    # condition. The defaults are about what 1,000 iterations at the tutorial's settings reach.
    serve_dataset: DatasetName = Field(
        "mnist", validation_alias="DCGAN_SERVE_DATASET",
        description=(
            "the data set served: promotion considers only its models"
        ),
    )
    promote_min_inception_score: float | None = Field(
        5.0, validation_alias="DCGAN_PROMOTE_MIN_INCEPTION_SCORE", ge=1, le=10,
        description=(
            "the promotion gate: a final model is promoted only with an Inception "
            "Score at least this; empty: no condition"
        ),
    )
    promote_max_frechet_distance: float | None = Field(
        50.0, validation_alias="DCGAN_PROMOTE_MAX_FRECHET_DISTANCE", ge=0,
        description=(
            "the promotion gate: and a Fréchet distance at most this; empty: no "
            "condition"
        ),
    )

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_token_means_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator(
        "promote_min_inception_score", "promote_max_frechet_distance", mode="before"
    )
    @classmethod
    def _empty_bound_means_none(cls, value: object) -> object:
        return None if value == "" else value


@lru_cache(maxsize=1)
def get_service_settings() -> ServiceSettings:
    return ServiceSettings()
