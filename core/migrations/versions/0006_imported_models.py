"""Models brought in from elsewhere: ``models.provenance``, and no training checkpoint.

An imported model is a serving artifact alone (an export of another deployment, or of a run
trained with ``dcgan train``): its row has no checkpoint (the three checkpoint columns NULL) and
says where it came from and when (``provenance``, JSON; NULL for a model trained here).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHECKPOINT_COLUMNS = (
    ("checkpoint_key", sa.Text()), ("checkpoint_sha256", sa.Text()),
    ("checkpoint_size", sa.BigInteger()),
)


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("provenance", sa.Text()))
        for name, kind in CHECKPOINT_COLUMNS:
            batch.alter_column(name, existing_type=kind, nullable=True)
    op.create_index("models_by_sha256", "models", ["sha256"])


def downgrade() -> None:
    op.drop_index("models_by_sha256", "models")
    op.execute("DELETE FROM models WHERE provenance IS NOT NULL")
    with op.batch_alter_table("models") as batch:
        for name, kind in CHECKPOINT_COLUMNS:
            batch.alter_column(name, existing_type=kind, nullable=False)
        batch.drop_column("provenance")
