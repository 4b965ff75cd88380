"""The FastAPI application: every shared object (built in the lifespan) and every router."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from jobs.artifact_cache import ArtifactCache
from jobs.artifact_store import ArtifactStore
from jobs.bootstrap import prepare_shared_state
from jobs.database import make_engine
from jobs.job_store import JobStore
from jobs.model_records import ModelRecords
from jobs.queue import make_celery
from jobs.serving_pins import ServingPins
from service.batching import RenderBatcher
from service.body_limit import BodySizeLimit
from service.errors import install_error_handlers
from service.metrics import LatencyMiddleware, Metrics
from service.model_loader import ModelLoader
from service.model_registry import ModelRegistry
from service.openapi import install_openapi, operation_id
from service.query_params import SingleQueryValues
from service.render_gate import RenderGate
from service.retention import RetentionThread
from service.routes import (
    dashboard,
    docs,
    generate,
    health,
    jobs,
    losses,
    metrics,
    model_files,
    models,
    serving,
)
from service.serving_policy import Gate, ServingPolicy
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
    app.state.pins = ServingPins(engine)
    app.state.artifacts = store
    app.state.celery = make_celery(settings)
    app.state.artifact_cache = ArtifactCache(store, settings.model_cache_dir)
    loader = ModelLoader(
        app.state.artifact_cache, settings.serve_device, settings.max_concurrent_loads
    )
    gate = Gate(settings.serve_dataset, settings.promote_min_inception_score,
                settings.promote_max_frechet_distance)
    policy = ServingPolicy(app.state.models, app.state.pins, gate)
    registry = ModelRegistry(app.state.models, loader, policy)
    await anyio.to_thread.run_sync(registry.refresh)  # the one model load at start-up
    registry.start(settings.reload_interval_seconds)
    app.state.registry = registry
    retention = None
    if settings.keep_finished_jobs is not None:
        retention = RetentionThread(registry, store, settings.keep_finished_jobs,
                                    settings.retention_interval_seconds)
        retention.start()
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
        if retention is not None:
            retention.stop()
        registry.stop()
        app.state.batcher.stop()
        engine.dispose()


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
    app.add_middleware(BodySizeLimit, max_bytes=app.state.settings.max_body_bytes)
    app.add_middleware(SingleQueryValues)
    app.add_middleware(LatencyMiddleware, metrics=app.state.metrics)
    for router in (
        health.router,
        jobs.router,
        losses.router,
        generate.router,
        models.router,
        model_files.router,
        serving.router,
        metrics.router,
        dashboard.router,
        docs.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    app.mount(docs.ASSETS_URL, StaticFiles(directory=docs.ASSETS_DIR), name="docs-assets")
    install_openapi(app, token_enforced=settings.api_token is not None)
    return app
