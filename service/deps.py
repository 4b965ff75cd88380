"""Dependencies of the routes, as ``Annotated`` aliases of the app's shared objects.

Each is an ``async def``: FastAPI runs a plain ``def`` dependency on the thread pool, and a
hop to a thread (and back, for the GIL) per dependency per request is what a getter must not
cost when that pool is busy."""

from __future__ import annotations

from typing import Annotated

from celery import Celery
from fastapi import Depends, Request

from artifacts.cache import ArtifactCache
from artifacts.store import ArtifactStore
from jobs.job_store import JobStore
from registry.model_records import ModelRecords
from registry.serving_pins import ServingPins
from service.batching import RenderBatcher
from service.exports import ExportBuilds
from service.metrics import Metrics
from service.model_server import ModelServer
from service.render_admission import RenderAdmission
from service.settings import ServiceSettings
from service.sweep_controller import SweepController


async def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


async def get_jobs(request: Request) -> JobStore:
    return request.app.state.jobs


async def get_models(request: Request) -> ModelRecords:
    return request.app.state.models


async def get_artifacts(request: Request) -> ArtifactStore:
    return request.app.state.artifacts


async def get_artifact_cache(request: Request) -> ArtifactCache:
    return request.app.state.artifact_cache


async def get_pins(request: Request) -> ServingPins:
    return request.app.state.pins


async def get_model_server(request: Request) -> ModelServer:
    return request.app.state.model_server


async def get_admission(request: Request) -> RenderAdmission:
    return request.app.state.admission


async def get_batcher(request: Request) -> RenderBatcher:
    return request.app.state.batcher


async def get_exports(request: Request) -> ExportBuilds:
    return request.app.state.exports


async def get_celery(request: Request) -> Celery:
    return request.app.state.celery


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_sweep_controller(request: Request) -> SweepController:
    return request.app.state.sweep_controller


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
ModelsDep = Annotated[ModelRecords, Depends(get_models)]
ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
ArtifactCacheDep = Annotated[ArtifactCache, Depends(get_artifact_cache)]
PinsDep = Annotated[ServingPins, Depends(get_pins)]
ModelServerDep = Annotated[ModelServer, Depends(get_model_server)]
AdmissionDep = Annotated[RenderAdmission, Depends(get_admission)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
BatcherDep = Annotated[RenderBatcher, Depends(get_batcher)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ExportsDep = Annotated[ExportBuilds, Depends(get_exports)]
SweepsDep = Annotated[SweepController, Depends(get_sweep_controller)]
