"""Sweeps: a search over job settings whose members are ordinary jobs.

``sweeps`` holds each sweep's spec, its members' job settings in order, its state and, once it
ends, its ranking; ``jobs.sweep_id`` names the sweep a job is a member of (NULL: none). Member i
of sweep S is the job ``S-i``, so a member is submitted once whichever replica submits it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DOUBLE: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("created_at", DOUBLE, nullable=False),
        sa.Column("updated_at", DOUBLE, nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("result", sa.Text()),
    )
    op.create_index("sweeps_by_state", "sweeps", ["state"])
    op.add_column("jobs", sa.Column("sweep_id", sa.Text()))
    op.create_index("jobs_by_sweep", "jobs", ["sweep_id"])


def downgrade() -> None:
    op.drop_index("jobs_by_sweep", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("sweep_id")
    op.drop_index("sweeps_by_state", "sweeps")
    op.drop_table("sweeps")
