"""Which weights a model serves and why: ``models.served_weights``, in words.

Rows written before it served either the live weights or a weight average with a constant,
bias-corrected decay (the window that grows with the run came with this revision); they are
described so.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared_models.weight_average import describe_average, describe_constant_average

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DOUBLE: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.add_column("models", sa.Column("served_weights", sa.Text()))
    models = sa.table(
        "models", sa.column("id", sa.Text()), sa.column("ema_decay", DOUBLE),
        sa.column("served_weights", sa.Text()),
    )
    connection = op.get_bind()
    for model_id, decay in connection.execute(sa.select(models.c.id, models.c.ema_decay)).all():
        connection.execute(
            models.update().where(models.c.id == model_id).values(
                served_weights=describe_constant_average(decay) if decay else describe_average(None)
            )
        )
    with op.batch_alter_table("models") as batch:
        batch.alter_column("served_weights", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("served_weights")
