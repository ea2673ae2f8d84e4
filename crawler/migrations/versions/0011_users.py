"""users: passwords, server-side web sessions and background import jobs

Revision ID: 0011
Revises: 0001
Create Date: 2026-11-30 17:00:00

Its own branch ("users") off the core revision that created the user table.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0001"
branch_labels = ("users",)
depends_on = None

ID = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.add_column("user", sa.Column("password_hash", ID(length=255), nullable=True))
    op.create_table(
        "web_session",
        sa.Column("id_hash", ID(length=64), nullable=False),
        sa.Column("user_id", ID(length=64), nullable=False),
        sa.Column("csrf_token", ID(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_web_session_user_id", "web_session", ["user_id"])
    op.create_index("ix_web_session_expires_at", "web_session", ["expires_at"])
    op.create_table(
        "import_job",
        sa.Column("id", ID(length=64), nullable=False),
        sa.Column("workspace_id", ID(length=64), nullable=False),
        sa.Column("user_id", ID(length=64), nullable=False),
        sa.Column("filename", ID(length=300), nullable=False),
        sa.Column("status", ID(length=20), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("read_bytes", sa.BigInteger(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_import_job_workspace_id", "import_job", ["workspace_id"])


def downgrade() -> None:
    op.drop_index("ix_import_job_workspace_id", table_name="import_job")
    op.drop_table("import_job")
    op.drop_index("ix_web_session_expires_at", table_name="web_session")
    op.drop_index("ix_web_session_user_id", table_name="web_session")
    op.drop_table("web_session")
    op.drop_column("user", "password_hash")
