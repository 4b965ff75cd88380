"""The FastAPI application: every shared object (built in the lifespan) and every router."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import version

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from artifacts.cache import ArtifactCache
from artifacts.store import ArtifactStore
from core import tracing
from core.database import make_engine
from jobs.bootstrap import prepare_shared_state
from jobs.job_store import JobStore
from jobs.queue import make_celery
from jobs.sweeps import SweepStore
from registry.model_records import ModelRecords
from registry.promotion import Gate, ServingPolicy
from registry.serving_pins import ServingPins
from service.allowed_hosts import AllowedHosts
from service.batching import RenderBatcher
from service.body_limit import BodyLimits
from service.cross_site import CrossSiteGuard
from service.errors import install_error_handlers
from service.event_feed import EventFeed
from service.exports import ExportBuilds
from service.header_limits import HeaderLimits
from service.metrics import LatencyMiddleware, Metrics
from service.model_loader import ModelLoader
from service.model_server import ModelServer
from service.openapi import install_openapi, operation_id
from service.query_params import SingleQueryValues
from service.render_admission import RenderAdmission
from service.retention import RetentionThread
from service.routes import (
    compare,
    dashboard,
    docs,
    events,
    generate,
    health,
    jobs,
    losses,
    metrics,
    model_files,
    model_import,
    models,
    serving,
    sweeps,
)
from service.routes.model_files import build_archive
from service.settings import ServiceSettings, get_service_settings
from service.sweep_controller import SweepController

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServiceSettings = app.state.settings
    tracing.configure("dcgan-api")  # when the OTEL_* variables name a collector
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await anyio.to_thread.run_sync(prepare_shared_state, settings)
    engine = make_engine(settings.database_url)
    store = ArtifactStore.from_url(settings.store_url)
    app.state.jobs = JobStore(engine)
    app.state.models = ModelRecords(engine)
    app.state.pins = ServingPins(engine)
    app.state.artifacts = store
    app.state.celery = make_celery(settings)
    app.state.artifact_cache = ArtifactCache(store, settings.model_cache_dir)
    loader = ModelLoader(
        app.state.artifact_cache, settings.serve_device, settings.max_concurrent_loads,
        retry_after_s=settings.invalid_model_retry_seconds,
    )
    gate = Gate(settings.serve_dataset, settings.promote_min_inception_score,
                settings.promote_max_frechet_distance)
    policy = ServingPolicy(app.state.models, app.state.pins, gate)
    server = ModelServer(app.state.models, loader, policy)
    await anyio.to_thread.run_sync(server.refresh)  # the one model load at start-up
    server.start(settings.reload_interval_seconds)
    app.state.model_server = server
    retention = None
    if settings.keep_finished_jobs is not None:
        retention = RetentionThread(server, store, settings.keep_finished_jobs,
                                    settings.retention_interval_seconds)
        retention.start()
    app.state.admission = RenderAdmission(
        settings.max_concurrent_renders, settings.max_queued_renders,
        settings.max_render_rows, settings.max_queued_render_rows,
    )
    app.state.batcher = RenderBatcher(settings.batch_max_rows, settings.batch_max_wait_ms / 1000)
    app.state.batcher.start()
    app.state.exports = ExportBuilds(
        partial(build_archive, app.state.artifact_cache, scratch=settings.model_cache_dir),
        settings.max_concurrent_exports, settings.max_waiting_exports,
        settings.export_cache_bytes, settings.max_sending_exports,
    )
    app.state.event_feed = EventFeed(app.state.jobs, settings.event_poll_seconds,
                                     settings.keep_progress_events_hours * 3600)
    app.state.event_feed.start()
    app.state.sweep_controller = SweepController(
        SweepStore(engine, app.state.jobs), app.state.models, app.state.pins, gate,
        app.state.celery, settings.queue, settings.max_active_jobs,
        settings.sweep_interval_seconds, settings.sweep_score_wait_seconds,
    )
    app.state.sweep_controller.start()
    app.state.metrics.watch(app.state.admission, app.state.batcher, server, app.state.jobs)
    log.info("service ready: broker %s, database %s, store %s, serving %s",
             "embedded (SQLite)" if settings.embedded else "redis", engine.url.render_as_string(),
             store.url, server.served.id if server.served else "nothing yet")
    try:
        yield
    finally:
        await app.state.event_feed.stop()
        app.state.sweep_controller.stop()
        if retention is not None:
            retention.stop()
        server.stop()
        app.state.batcher.stop()
        app.state.exports.close()
        engine.dispose()
        tracing.flush()


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or get_service_settings()
    app = FastAPI(
        title="dcgan-service",
        summary="Train the CNTK 206B DCGAN on MNIST with Celery workers and draw digits.",
        version=version("dcgan-service"),
        lifespan=lifespan,
        docs_url=None,  # service.routes.docs serves the pages with local assets
        redoc_url=None,
        generate_unique_id_function=operation_id,
        # one schema per model for requests and responses (JobSpec is both)
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    # Each middleware added wraps those before it: a request meets them bottom to top.
    app.add_middleware(BodyLimits, default_max_bytes=settings.max_body_bytes,
                       timeout_seconds=settings.body_timeout_seconds)
    app.add_middleware(SingleQueryValues)
    app.add_middleware(CrossSiteGuard)
    app.add_middleware(AllowedHosts, patterns=settings.allowed_hosts)
    app.add_middleware(HeaderLimits, max_bytes=settings.max_header_bytes,
                       max_count=settings.max_header_count)
    app.add_middleware(LatencyMiddleware, metrics=app.state.metrics)
    app.add_middleware(tracing.TracingMiddleware)  # a span per request when tracing is on
    for router in (
        health.router,
        jobs.router,
        events.router,
        losses.router,
        generate.router,
        compare.router,
        models.router,
        model_files.router,
        model_import.router,
        serving.router,
        sweeps.router,
        metrics.router,
        dashboard.router,
        docs.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    app.mount(docs.ASSETS_URL, StaticFiles(directory=docs.ASSETS_DIR), name="docs-assets")
    install_openapi(app, token_enforced=settings.api_token is not None,
                    max_body_bytes=settings.max_body_bytes,
                    body_timeout_seconds=settings.body_timeout_seconds)
    return app
