"""The FastAPI application: lifespan wiring and routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from service.batching import RenderBatcher
from service.errors import install_error_handlers
from service.limits import BodySizeLimit
from service.metrics import LatencyMiddleware, Metrics
from service.model_registry import ModelRegistry
from service.rendering import RenderGate
from service.routes import generate, health, jobs, metrics, models
from service.settings import ServiceSettings, get_service_settings
from worker.celery_app import make_celery
from worker.job_store import JobStore

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServiceSettings = app.state.settings
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.state.store = JobStore(settings.jobs_db)
    app.state.celery = make_celery(settings)
    registry = ModelRegistry(settings.runs_dir, settings.serve_device)
    await anyio.to_thread.run_sync(registry.refresh)  # the one model load at start-up
    registry.start(settings.reload_interval_seconds)
    app.state.registry = registry
    app.state.gate = RenderGate(settings.max_concurrent_renders, settings.max_queued_renders)
    app.state.batcher = RenderBatcher(settings.batch_max_rows, settings.batch_max_wait_ms / 1000)
    app.state.batcher.start()
    app.state.metrics.watch(app.state.gate, app.state.batcher, registry, app.state.store)
    mode = "embedded (SQLite)" if settings.embedded else "redis"
    log.info("service ready: broker %s, runs in %s, serving %s", mode, settings.runs_dir,
             registry.served.id if registry.served else "nothing yet")
    try:
        yield
    finally:
        registry.stop()
        app.state.batcher.stop()


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
    for router in (health.router, jobs.router, generate.router, models.router, metrics.router):
        app.include_router(router)
    from service.routes.dashboard import install_dashboard
    install_dashboard(app)
    return app
