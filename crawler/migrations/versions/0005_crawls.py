"""crawls: per-crawl URL ledger (dedup + skip tally) and re-archiving schedules

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-24 09:00:00

Its own branch ("crawls") off the core revision, so it applies beside the
other feature branches; ``crawler.db.upgrade()`` goes to "heads".
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = ("crawls",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crawlurl",
        sa.Column("crawl_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("url_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("snapshot_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["crawl_id"], ["crawl.id"]),
        sa.PrimaryKeyConstraint("crawl_id", "url_key"),
    )
    op.create_table(
        "schedule",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("workspace_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_by_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("urls", sa.Text(), nullable=False),
        sa.Column("tag", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("every_seconds", sa.Integer(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("schedule", schema=None) as batch_op:
        batch_op.create_index("ix_schedule_next_run_at", ["next_run_at"], unique=False)
        batch_op.create_index("ix_schedule_workspace_id", ["workspace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("schedule", schema=None) as batch_op:
        batch_op.drop_index("ix_schedule_workspace_id")
        batch_op.drop_index("ix_schedule_next_run_at")
    op.drop_table("schedule")
    op.drop_table("crawlurl")
