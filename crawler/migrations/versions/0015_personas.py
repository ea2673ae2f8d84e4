"""personas: encrypted logins (storage states) and the snapshot's persona

Revision ID: 0015
Revises: 0005
Create Date: 2026-11-30 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0015"
down_revision = "0005"
branch_labels = ("personas",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persona",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("workspace_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_by_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("hosts", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_persona_ws_name"),
    )
    op.create_index("ix_persona_workspace_id", "persona", ["workspace_id"])
    op.add_column(
        "snapshot",
        sa.Column("persona_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("snapshot") as batch:
        batch.drop_column("persona_id")
    op.drop_index("ix_persona_workspace_id", table_name="persona")
    op.drop_table("persona")
