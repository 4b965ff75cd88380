"""The models table: one row per stored checkpoint and the serving artifact made from it.

A row is written after its objects are in the artifact store and deleted before them, so a
reader that finds a row finds its files. The serving policy (``registry.promotion``) reads
``promotable()`` and ``preferred()``: one data set's models, finals first, newest first, read
from one index so their cost stays flat as checkpoints pile up. The two scores the policy's
gate compares are copied out of ``metrics`` into columns of their own when metrics are written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    RowMapping,
    Select,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from artifacts.publishing import StoredModel
from core.database import db_now, reading, upsert
from core.tables import OPEN_SWEEP_JOBS, models

SCORE_COLUMNS = ("inception_score", "frechet_distance")  # copies of metrics' figures
NEWEST_FIRST = tuple(
    column.desc() for column in (models.c.final, models.c.created_at, models.c.step, models.c.id)
)


def preferred_query(limit: int, dataset: str | None = None) -> Select[Any]:
    """Finals newest first, then the others (of one data set, when given): an index read
    backwards (models_preferred, or models_by_dataset). Models of an open sweep's jobs are
    left out: a sweep's members do not take over serving one by one."""
    query = select(models).where(models.c.job_id.not_in(OPEN_SWEEP_JOBS))
    query = query.order_by(*NEWEST_FIRST).limit(limit)
    return query if dataset is None else query.where(models.c.dataset == dataset)


def scores_of(metrics: dict[str, Any] | None) -> dict[str, float | None]:
    """The gate's columns for a row with these metrics (None: not scored, or not finite)."""
    found = metrics or {}
    return {name: _finite(found.get(name)) for name in SCORE_COLUMNS}


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class ModelRecord(StoredModel):
    """A models row: the stored model, its id, its scores and when the row was written."""

    id: str  # "JOB:STEP", or an imported model's "imported-HASH"
    metrics: dict[str, Any] | None
    created_at: float  # the database's clock when the row was written
    provenance: dict[str, Any] | None = None  # where an imported model came from; None: here

    @classmethod
    def from_row(cls, row: RowMapping) -> ModelRecord:
        values = {key: value for key, value in row.items() if key not in SCORE_COLUMNS}
        values["final"] = bool(values["final"])
        values["conditional"] = bool(values["conditional"])
        return cls(**values)


# A model's id as clients name it: JOB (its newest checkpoint) or JOB:STEP, ASCII only
JOB_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"
MODEL_ID_PATTERN = rf"^{JOB_ID_PATTERN}(:[0-9]{{1,9}})?$"


def model_id(job_id: str, step: int) -> str:
    return f"{job_id}:{step}"


def stored_fields(stored: StoredModel) -> dict[str, Any]:
    """The columns ``stored`` fills (a ModelRecord is a StoredModel too: its own are left out)."""
    return {field.name: getattr(stored, field.name) for field in fields(StoredModel)}


class ModelRecords:
    """Rows of the models table in the database behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, stored: StoredModel, metrics: dict[str, Any] | None = None) -> ModelRecord:
        """Insert the row for ``stored`` (id ``JOB:STEP``), or replace the one with that id."""
        row = {
            **stored_fields(stored),
            "id": model_id(stored.job_id, stored.step),
            "metrics": metrics,
            **scores_of(metrics),
            "created_at": db_now(),
        }
        with self.engine.begin() as db:
            written = db.execute(
                upsert(db.dialect.name, models, row).returning(*models.c)
            ).mappings().one()
        return ModelRecord.from_row(written)

    def add_imported(
        self, stored: StoredModel, provenance: dict[str, Any]
    ) -> tuple[ModelRecord, bool]:
        """Insert an imported model's row (its id is ``stored.job_id``, made from its weights'
        hash; the caller looked for a model with those weights first): (the row, whether it
        was written now)."""
        row = {**stored_fields(stored), "id": stored.job_id, "metrics": None,
               "provenance": provenance, "created_at": db_now()}
        try:
            with self.engine.begin() as db:
                written = db.execute(insert(models).values(row).returning(*models.c))
                return ModelRecord.from_row(written.mappings().one()), True
        except IntegrityError:  # the same weights, imported at the same moment elsewhere
            existing = self.with_weights(stored.sha256)
            if existing is None:
                raise
            return existing, False

    def with_weights(self, sha256: str) -> ModelRecord | None:
        """The oldest model whose serving artifact's weights have this SHA-256."""
        found = self._select(models.c.sha256 == sha256, models.c.created_at, limit=1)
        return found[0] if found else None

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

    def of_jobs(self, job_ids: list[str]) -> dict[str, list[ModelRecord]]:
        """Each job's checkpoints, step ascending, in one query (jobs without any left out)."""
        found: dict[str, list[ModelRecord]] = {}
        if job_ids:
            for record in self._select(models.c.job_id.in_(job_ids), models.c.step):
                found.setdefault(record.job_id, []).append(record)
        return found

    def preferred(self, limit: int = 8, dataset: str | None = None) -> list[ModelRecord]:
        """Finals newest first, then the others newest first (of ``dataset``, when given)."""
        with reading(self.engine) as db:
            rows = db.execute(preferred_query(limit, dataset)).mappings()
            return [ModelRecord.from_row(row) for row in rows]

    def promotable(
        self,
        dataset: str,
        min_inception_score: float | None,
        max_frechet_distance: float | None,
        limit: int = 8,
    ) -> list[ModelRecord]:
        """Final models of ``dataset`` whose scores pass the gate, newest first (a bound that
        is None is no condition)."""
        query = preferred_query(limit, dataset).where(models.c.final.is_(True))
        if min_inception_score is not None:
            query = query.where(models.c.inception_score >= min_inception_score)
        if max_frechet_distance is not None:
            query = query.where(models.c.frechet_distance <= max_frechet_distance)
        with reading(self.engine) as db:
            return [ModelRecord.from_row(row) for row in db.execute(query).mappings()]

    def page(self, offset: int = 0, limit: int = 100) -> tuple[list[ModelRecord], int]:
        """Newest first, and the number of rows."""
        newest_first = (models.c.created_at.desc(), models.c.step.desc(), models.c.id)
        return self._select(None, *newest_first, limit=limit, offset=offset), self.count()

    def set_metrics(self, model_id: str, metrics: dict[str, Any]) -> None:
        with self.engine.begin() as db:
            db.execute(
                update(models)
                .where(models.c.id == model_id)
                .values(metrics=metrics, **scores_of(metrics))
            )

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
