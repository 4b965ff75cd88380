"""Scale-out: job queues, models, loss histories, admission, stopping workers by name.

Each job records the queue it was published to; ``models`` holds one row per stored checkpoint
and its serving artifact; ``admission`` is the row every submission locks first; stopping
workers are keyed by their unique worker name instead of the host name.

On a database the single-machine store created (``config.attributes["legacy"]``), the
``on_legacy_models(connection)`` callback in ``config.attributes`` runs once, inside this
migration's transaction, to enter the checkpoints already on disk into ``models``.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DOUBLE: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
LEGACY_QUEUE = "dcgan"  # the queue every job went to before queues were recorded


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("queue", sa.Text(), nullable=False, server_default=LEGACY_QUEUE)
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("iterations", sa.Integer(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("dataset", sa.Text(), nullable=False),
        sa.Column("conditional", sa.Boolean(), nullable=False),
        sa.Column("ema_decay", DOUBLE, nullable=False),
        sa.Column("checkpoint_key", sa.Text(), nullable=False),
        sa.Column("checkpoint_sha256", sa.Text(), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("artifact_key", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.Text()),
        sa.Column("created_at", DOUBLE, nullable=False),
    )
    op.create_index("models_preferred", "models", ["final", "created_at", "step", "id"])
    op.create_index("models_by_job", "models", ["job_id", "step"])
    op.create_table(
        "job_losses",
        sa.Column("job_id", sa.Text(), primary_key=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("history", sa.LargeBinary(), nullable=False),
    )
    # The flags were keyed by host name, which several workers can share; they only matter
    # while a worker shuts down, so the table starts empty under its new key.
    op.drop_table("stopping_workers")
    op.create_table(
        "stopping_workers",
        sa.Column("worker", sa.Text(), primary_key=True),
        sa.Column("since", DOUBLE, nullable=False),
    )
    admission = op.create_table(
        "admission",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("submissions", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    )
    op.bulk_insert(admission, [{"id": 1, "submissions": 0}])

    attributes = context.config.attributes
    on_legacy_models = attributes.get("on_legacy_models")
    if attributes.get("legacy") and on_legacy_models is not None:
        on_legacy_models(op.get_bind())


def downgrade() -> None:
    op.drop_table("admission")
    op.drop_table("stopping_workers")
    op.create_table(
        "stopping_workers",
        sa.Column("hostname", sa.Text(), primary_key=True, nullable=True),
        sa.Column("since", DOUBLE, nullable=False),
    )
    op.drop_table("job_losses")
    op.drop_index("models_by_job", table_name="models")
    op.drop_index("models_preferred", table_name="models")
    op.drop_table("models")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("queue")
