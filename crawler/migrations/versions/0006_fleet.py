"""fleet: the worker registry and the snapshot claim timestamp

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-23 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = ("fleet",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_worker",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current", sa.JSON(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fleet_worker", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fleet_worker_last_heartbeat"), ["last_heartbeat"], unique=False
        )
    with op.batch_alter_table("snapshot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("snapshot", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
    with op.batch_alter_table("fleet_worker", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fleet_worker_last_heartbeat"))
    op.drop_table("fleet_worker")
