"""dashboards and notes: Grafana dashboard snapshots, Sidvy notes and their snapshots

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = ("dashboards_notes",)
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "dashboards_number",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", String(length=16), nullable=False),
        sa.Column("ref", String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "ref", name="uq_dashboards_number_kind_ref"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "dashboards_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", String(length=190), nullable=False),
        sa.Column("delete_key", String(length=190), nullable=False),
        sa.Column("name", String(length=255), nullable=False),
        sa.Column("workspace_id", String(length=64), nullable=False),
        sa.Column("user_id", String(length=64), nullable=False),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("external_url", String(length=2000), nullable=False),
        sa.Column("body_sha256", String(length=64), nullable=False),
        sa.Column("body_size", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("dashboards_snapshot", schema=None) as batch_op:
        batch_op.create_index("ix_dashboards_snapshot_key", ["key"], unique=True)
        batch_op.create_index("ix_dashboards_snapshot_delete_key", ["delete_key"], unique=True)
        batch_op.create_index("ix_dashboards_snapshot_expires_at", ["expires_at"], unique=False)
        batch_op.create_index(
            "ix_dashboards_snapshot_workspace_created", ["workspace_id", "created_at"], unique=False
        )

    op.create_table(
        "notes_note",
        sa.Column("id", String(length=64), nullable=False),
        sa.Column("workspace_id", String(length=64), nullable=False),
        sa.Column("user_id", String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("content_sha256", String(length=64), nullable=False),
        sa.Column("content_size", sa.Integer(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notes_note", schema=None) as batch_op:
        batch_op.create_index("ix_notes_note_workspace_id", ["workspace_id"], unique=False)

    op.create_table(
        "notes_snapshot",
        sa.Column("id", String(length=64), nullable=False),
        sa.Column("note_id", String(length=64), nullable=False),
        sa.Column("user_id", String(length=64), nullable=False),
        sa.Column("workspace_id", String(length=64), nullable=False),
        sa.Column("content_sha256", String(length=64), nullable=False),
        sa.Column("content_size", sa.Integer(), nullable=False),
        sa.Column("note_version", sa.Integer(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["note_id"], ["notes_note.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notes_snapshot", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notes_snapshot_note_created", ["note_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notes_snapshot", schema=None) as batch_op:
        batch_op.drop_index("ix_notes_snapshot_note_created")
    op.drop_table("notes_snapshot")
    with op.batch_alter_table("notes_note", schema=None) as batch_op:
        batch_op.drop_index("ix_notes_note_workspace_id")
    op.drop_table("notes_note")
    with op.batch_alter_table("dashboards_snapshot", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboards_snapshot_workspace_created")
        batch_op.drop_index("ix_dashboards_snapshot_expires_at")
        batch_op.drop_index("ix_dashboards_snapshot_delete_key")
        batch_op.drop_index("ix_dashboards_snapshot_key")
    op.drop_table("dashboards_snapshot")
    op.drop_table("dashboards_number")
