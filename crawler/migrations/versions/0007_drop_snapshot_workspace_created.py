"""snapshot: drop ix_snapshot_workspace_created, a prefix of ix_snapshot_ws_created_id

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-23 09:00:00.000000

0004's ``(workspace_id, created_at DESC, id)`` serves every query the 0001 index
``(workspace_id, created_at)`` did (SQLite's planner already preferred it for all
of them), so the older one only cost each snapshot insert another b-tree write.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_snapshot_workspace_created", table_name="snapshot")


def downgrade() -> None:
    op.create_index(
        "ix_snapshot_workspace_created", "snapshot", ["workspace_id", "created_at"], unique=False
    )
