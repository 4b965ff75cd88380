"""Watching jobs: their events, their trace and their tracking run.

``job_events`` holds what happened to each job in order (state changes, progress, checkpoints,
scores, log lines); ``jobs.event_seq`` is the number of the job's newest event, taken in the
transaction that writes it, so a job's events commit in their order. ``jobs.trace_context``
keeps the job's trace (W3C trace context) and ``jobs.tracking_run_id`` its experiment-tracking
run, so a job delivered again continues both.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DOUBLE: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("event_seq", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column("jobs", sa.Column("trace_context", sa.Text()))
    op.add_column("jobs", sa.Column("tracking_run_id", sa.Text()))
    op.create_index("jobs_by_updated", "jobs", ["updated_at"])
    op.create_table(
        "job_events",
        sa.Column("job_id", sa.Text(), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", DOUBLE, nullable=False),
    )
    op.create_index("job_events_by_created", "job_events", ["created_at"])


def downgrade() -> None:
    op.drop_table("job_events")
    op.drop_index("jobs_by_updated", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("tracking_run_id")
        batch.drop_column("trace_context")
        batch.drop_column("event_seq")
