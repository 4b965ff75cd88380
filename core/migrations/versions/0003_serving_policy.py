"""Serving policy: the two scores the promotion gate reads, and the pins.

``models`` gets ``inception_score`` and ``frechet_distance`` (copied from each row's metrics,
so the gate is one indexed query) and an index by data set; ``serving_pins`` keeps every pin,
unpin and rollback, the newest row being the one in force.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DOUBLE: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.add_column("models", sa.Column("inception_score", DOUBLE))
    op.add_column("models", sa.Column("frechet_distance", DOUBLE))
    op.create_index(
        "models_by_dataset", "models", ["dataset", "final", "created_at", "step", "id"]
    )
    op.create_table(
        "serving_pins",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Text()),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("replaced", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", DOUBLE, nullable=False),
    )
    models = sa.table(
        "models", sa.column("id", sa.Text()), sa.column("metrics", sa.Text()),
        sa.column("inception_score", DOUBLE), sa.column("frechet_distance", DOUBLE),
    )
    connection = op.get_bind()
    scored = connection.execute(
        sa.select(models.c.id, models.c.metrics).where(models.c.metrics.is_not(None))
    ).all()
    for model_id, text in scored:
        metrics = json.loads(text) or {}
        connection.execute(
            models.update().where(models.c.id == model_id).values(
                inception_score=_number(metrics.get("inception_score")),
                frechet_distance=_number(metrics.get("frechet_distance")),
            )
        )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and value == value else None


def downgrade() -> None:
    op.drop_table("serving_pins")
    op.drop_index("models_by_dataset", table_name="models")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("frechet_distance")
        batch.drop_column("inception_score")
