"""The first schema: job records and stopping workers, as the single-machine SQLite store made it.

A database created by that store (no alembic_version table) is stamped at this revision and
upgraded from here, keeping its jobs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DOUBLE: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")

# The first schema's primary keys were "TEXT PRIMARY KEY", which SQLite lets be NULL; they are
# declared nullable here so that a new database at this revision is exactly that schema.


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Text(), primary_key=True, nullable=True),
        sa.Column("created_at", DOUBLE, nullable=False),
        sa.Column("updated_at", DOUBLE, nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("progress", sa.Text(), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("error", sa.Text()),
        sa.Column("cancel_requested", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("lease_owner", sa.Text()),
        sa.Column("lease_until", DOUBLE),
        sa.Column("enqueued_at", DOUBLE),
        sa.Column("started_at", DOUBLE),
        sa.Column("finished_at", DOUBLE),
    )
    op.create_index("jobs_by_created", "jobs", [sa.text("created_at DESC")])
    op.create_index("jobs_by_state", "jobs", ["state"])
    op.create_table(
        "stopping_workers",
        sa.Column("hostname", sa.Text(), primary_key=True, nullable=True),
        sa.Column("since", DOUBLE, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stopping_workers")
    op.drop_index("jobs_by_state", table_name="jobs")
    op.drop_index("jobs_by_created", table_name="jobs")
    op.drop_table("jobs")
