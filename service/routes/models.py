"""The generator checkpoints the service knows about."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import RegistryDep
from service.model_registry import model_id
from service.schemas import ModelList, ModelView

router = APIRouter(prefix="/models", tags=["models"])


@router.get("")
def list_models(registry: RegistryDep) -> ModelList:
    views = []
    for manifest in registry.manifests:
        status, error = registry.status_of(manifest)
        views.append(
            ModelView(
                id=model_id(manifest),
                job=manifest.run_dir.name,
                step=manifest.step,
                iterations=manifest.iterations,
                final=manifest.final,
                dataset=manifest.dataset,
                conditional=bool(manifest.extra.get("generator_config", {}).get("num_classes")),
                ema_decay=float(manifest.extra.get("ema_decay", 0.0)),
                created_at=manifest.created_at,
                sha256=manifest.sha256,
                status=status,
                error=error,
                metrics=manifest.extra.get("metrics"),
            )
        )
    served = registry.served
    return ModelList(served=served.id if served else None, models=views)
