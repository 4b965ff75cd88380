"""Dependencies of the routes, as ``Annotated`` aliases of the app's shared objects."""

from __future__ import annotations

from typing import Annotated

from celery import Celery
from fastapi import Depends, Request

from jobs.artifact_cache import ArtifactCache
from jobs.artifact_store import ArtifactStore
from jobs.job_store import JobStore
from jobs.model_records import ModelRecords
from jobs.serving_pins import ServingPins
from service.batching import RenderBatcher
from service.metrics import Metrics
from service.model_registry import ModelRegistry
from service.render_gate import RenderGate
from service.settings import ServiceSettings


def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


def get_jobs(request: Request) -> JobStore:
    return request.app.state.jobs


def get_models(request: Request) -> ModelRecords:
    return request.app.state.models


def get_artifacts(request: Request) -> ArtifactStore:
    return request.app.state.artifacts


def get_artifact_cache(request: Request) -> ArtifactCache:
    return request.app.state.artifact_cache


def get_pins(request: Request) -> ServingPins:
    return request.app.state.pins


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def get_gate(request: Request) -> RenderGate:
    return request.app.state.gate


def get_batcher(request: Request) -> RenderBatcher:
    return request.app.state.batcher


def get_celery(request: Request) -> Celery:
    return request.app.state.celery


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
ModelsDep = Annotated[ModelRecords, Depends(get_models)]
ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
ArtifactCacheDep = Annotated[ArtifactCache, Depends(get_artifact_cache)]
PinsDep = Annotated[ServingPins, Depends(get_pins)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
GateDep = Annotated[RenderGate, Depends(get_gate)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
BatcherDep = Annotated[RenderBatcher, Depends(get_batcher)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
