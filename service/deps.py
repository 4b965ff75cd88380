"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from celery import Celery
from fastapi import Depends, Request

from service.batching import RenderBatcher
from service.model_registry import ModelRegistry
from service.rendering import RenderGate
from service.settings import ServiceSettings
from worker.job_store import JobStore


def get_settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def get_gate(request: Request) -> RenderGate:
    return request.app.state.gate


def get_batcher(request: Request) -> RenderBatcher:
    return request.app.state.batcher


def get_celery(request: Request) -> Celery:
    return request.app.state.celery


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
StoreDep = Annotated[JobStore, Depends(get_store)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
GateDep = Annotated[RenderGate, Depends(get_gate)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
BatcherDep = Annotated[RenderBatcher, Depends(get_batcher)]
