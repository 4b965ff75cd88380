"""The models table: one row per stored checkpoint and the serving artifact made from it.

A row is written after its objects are in the artifact store and deleted before them, so a
reader that finds a row finds its files. ``preferred()`` is what the API serves from: finals
first, newest first, read from one index so its cost stays flat as checkpoints pile up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, RowMapping, Select, delete, func, select, update

from jobs.database import db_now, reading, upsert
from jobs.tables import models


def preferred_query(limit: int) -> Select[Any]:
    """Finals newest first, then the others: the models_preferred index read backwards."""
    order = (models.c.final, models.c.created_at, models.c.step, models.c.id)
    return select(models).order_by(*(column.desc() for column in order)).limit(limit)


@dataclass(frozen=True)
class ModelRecord:
    id: str  # "JOB:STEP"
    job_id: str
    step: int
    iterations: int
    final: bool
    dataset: str
    conditional: bool
    ema_decay: float  # decay of the weight average the artifact holds; 0.0 = live weights
    checkpoint_key: str  # the training state in the artifact store
    checkpoint_sha256: str
    checkpoint_size: int
    artifact_key: str  # store folder of the serving artifact, e.g. "JOB/models/step_0000500"
    sha256: str  # of the artifact's model.safetensors: the served model's identity
    size: int
    metrics: dict[str, Any] | None
    created_at: float  # the database's clock when the row was written

    @classmethod
    def from_row(cls, row: RowMapping) -> ModelRecord:
        fields = dict(row)
        fields["final"] = bool(fields["final"])
        fields["conditional"] = bool(fields["conditional"])
        return cls(**fields)


def model_id(job_id: str, step: int) -> str:
    return f"{job_id}:{step}"


class ModelRecords:
    """Rows of the models table in the database behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        *,
        job_id: str,
        step: int,
        iterations: int,
        final: bool,
        dataset: str,
        conditional: bool,
        ema_decay: float,
        checkpoint_key: str,
        checkpoint_sha256: str,
        checkpoint_size: int,
        artifact_key: str,
        sha256: str,
        size: int,
        metrics: dict[str, Any] | None = None,
        id: str | None = None,  # the column's name
    ) -> ModelRecord:
        """Insert the row, or replace the one with the same id (``JOB:STEP`` by default)."""
        expected = model_id(job_id, step)
        if id is not None and id != expected:
            raise ValueError(f"a model's id is JOB:STEP ({expected!r}), not {id!r}")
        row = {
            "id": expected,
            "job_id": job_id,
            "step": step,
            "iterations": iterations,
            "final": final,
            "dataset": dataset,
            "conditional": conditional,
            "ema_decay": ema_decay,
            "checkpoint_key": checkpoint_key,
            "checkpoint_sha256": checkpoint_sha256,
            "checkpoint_size": checkpoint_size,
            "artifact_key": artifact_key,
            "sha256": sha256,
            "size": size,
            "metrics": metrics,
            "created_at": db_now(),
        }
        with self.engine.begin() as db:
            written = db.execute(
                upsert(db.dialect.name, models, row).returning(*models.c)
            ).mappings().one()
        return ModelRecord.from_row(written)

    def get(self, model_id: str) -> ModelRecord | None:
        found = self._select(models.c.id == model_id)
        return found[0] if found else None

    def newest_of_job(self, job_id: str) -> ModelRecord | None:
        """The job's checkpoint with the highest step."""
        found = self._select(models.c.job_id == job_id, models.c.step.desc(), limit=1)
        return found[0] if found else None

    def of_job(self, job_id: str) -> list[ModelRecord]:
        """The job's checkpoints, step ascending."""
        return self._select(models.c.job_id == job_id, models.c.step)

    def preferred(self, limit: int = 8) -> list[ModelRecord]:
        """Serving candidates in order: finals newest first, then the others newest first."""
        with reading(self.engine) as db:
            rows = db.execute(preferred_query(limit)).mappings()
            return [ModelRecord.from_row(row) for row in rows]

    def page(self, offset: int = 0, limit: int = 100) -> tuple[list[ModelRecord], int]:
        """Newest first, and the number of rows."""
        newest_first = (models.c.created_at.desc(), models.c.step.desc(), models.c.id)
        return self._select(None, *newest_first, limit=limit, offset=offset), self.count()

    def set_metrics(self, model_id: str, metrics: dict[str, Any]) -> None:
        with self.engine.begin() as db:
            db.execute(update(models).where(models.c.id == model_id).values(metrics=metrics))

    def delete(self, model_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(delete(models).where(models.c.id == model_id))

    def count(self) -> int:
        with reading(self.engine) as db:
            return db.execute(select(func.count()).select_from(models)).scalar_one()

    def _select(
        self,
        where: ColumnElement[bool] | None,
        *order: Any,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ModelRecord]:
        query = select(models).order_by(*order).limit(limit).offset(offset)
        if where is not None:
            query = query.where(where)
        with reading(self.engine) as db:
            return [ModelRecord.from_row(row) for row in db.execute(query).mappings()]
