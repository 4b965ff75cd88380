"""The FastAPI application: every shared object (built in the lifespan) and every router."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from jobs.artifact_store import ArtifactStore
from jobs.bootstrap import prepare_shared_state
from jobs.database import make_engine
from jobs.job_store import JobStore
from jobs.model_records import ModelRecords
from jobs.queue import make_celery
from service.batching import RenderBatcher
from service.body_limit import BodySizeLimit
from service.errors import install_error_handlers
from service.metrics import LatencyMiddleware, Metrics
from service.model_loader import ModelLoader
from service.model_registry import ModelRegistry
from service.render_gate import RenderGate
from service.routes import dashboard, generate, health, jobs, losses, metrics, models
from service.settings import ServiceSettings, get_service_settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServiceSettings = app.state.settings
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await anyio.to_thread.run_sync(prepare_shared_state, settings)
    engine = make_engine(settings.database_url)
    store = ArtifactStore.from_url(settings.store_url)
    app.state.jobs = JobStore(engine)
    app.state.models = ModelRecords(engine)
    app.state.celery = make_celery(settings)
    loader = ModelLoader(
        store, settings.model_cache_dir, settings.serve_device, settings.max_concurrent_loads
    )
    registry = ModelRegistry(app.state.models, loader)
    await anyio.to_thread.run_sync(registry.refresh)  # the one model load at start-up
    registry.start(settings.reload_interval_seconds)
    app.state.registry = registry
    app.state.gate = RenderGate(settings.max_concurrent_renders, settings.max_queued_renders)
    app.state.batcher = RenderBatcher(settings.batch_max_rows, settings.batch_max_wait_ms / 1000)
    app.state.batcher.start()
    app.state.metrics.watch(app.state.gate, app.state.batcher, registry, app.state.jobs)
    log.info("service ready: broker %s, database %s, store %s, serving %s",
             "embedded (SQLite)" if settings.embedded else "redis", engine.url.render_as_string(),
             store.url, registry.served.id if registry.served else "nothing yet")
    try:
        yield
    finally:
        registry.stop()
        app.state.batcher.stop()
        engine.dispose()


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    app = FastAPI(
        title="dcgan-service",
        summary="Train the CNTK 206B DCGAN on MNIST with Celery workers and draw digits.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings or get_service_settings()
    app.state.metrics = Metrics()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=app.state.settings.max_body_bytes)
    app.add_middleware(LatencyMiddleware, metrics=app.state.metrics)
    for router in (
        health.router,
        jobs.router,
        losses.router,
        generate.router,
        models.router,
        metrics.router,
        dashboard.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    return app
