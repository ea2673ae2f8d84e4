"""changes: which schedule made a snapshot, change alerts on schedules, and the change log

Revision ID: 0009
Revises: 0005
Create Date: 2026-11-30 13:00:00

Its own branch ("changes") off the crawls revision that created the schedule
table; ``crawler.db.upgrade()`` goes to "heads". ``snapshot.schedule_id`` has
no foreign key on purpose: deleting a schedule keeps the snapshots it made, and
their record of where they came from.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0005"
branch_labels = ("changes",)
depends_on = None


def upgrade() -> None:
    op.add_column("schedule", sa.Column("notify_url", sa.Text(), nullable=True))
    op.add_column(
        "schedule",
        sa.Column("notify_threshold", sa.Float(), nullable=False, server_default="0.01"),
    )
    op.add_column(
        "snapshot",
        sa.Column("schedule_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )
    op.create_index("ix_snapshot_schedule_id", "snapshot", ["schedule_id"], unique=False)
    op.create_table(
        "change",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("workspace_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("schedule_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column(
            "before_snapshot_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column("after_snapshot_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("share_changed", sa.Float(), nullable=False),
        sa.Column("words_inserted", sa.Integer(), nullable=False),
        sa.Column("words_deleted", sa.Integer(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("notify_url", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("after_snapshot_id", name="uq_change_after_snapshot"),
    )
    op.create_index("ix_change_ws_created", "change", ["workspace_id", "created_at"])
    op.create_index("ix_change_schedule_id", "change", ["schedule_id"])
    op.create_index("ix_change_before_snapshot_id", "change", ["before_snapshot_id"])
    op.create_index("ix_change_next_attempt_at", "change", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_change_next_attempt_at", table_name="change")
    op.drop_index("ix_change_before_snapshot_id", table_name="change")
    op.drop_index("ix_change_schedule_id", table_name="change")
    op.drop_index("ix_change_ws_created", table_name="change")
    op.drop_table("change")
    op.drop_index("ix_snapshot_schedule_id", table_name="snapshot")
    op.drop_column("snapshot", "schedule_id")
    op.drop_column("schedule", "notify_threshold")
    op.drop_column("schedule", "notify_url")
