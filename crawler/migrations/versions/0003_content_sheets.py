"""content and sheets dialects (Contentful CMA, Flatfile)

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = ("content_sheets",)
depends_on = None


def _id(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.String(length=64), nullable=nullable)


def _ts(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _versioned_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        _id("workspace_id"),
        _id("environment_id"),
        _id("id"),
        _id("body_sha"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("published_counter", sa.Integer(), nullable=False),
        _ts("published_at", nullable=True),
        _ts("first_published_at", nullable=True),
        _id("published_by_id", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _id("created_by_id"),
        _id("updated_by_id"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("workspace_id", "environment_id", "id"),
    ]


def upgrade() -> None:
    op.create_table(
        "content_type",
        *_versioned_columns(),
        _id("published_body_sha", nullable=True),
    )
    op.create_table(
        "content_entry",
        *_versioned_columns(),
        _id("content_type_id"),
        sa.Column("metadata", sa.JSON(), nullable=False),
    )
    op.create_table(
        "content_snapshot",
        _id("id"),
        _id("workspace_id"),
        _id("environment_id"),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        _id("entity_id"),
        sa.Column("counter", sa.Integer(), nullable=False),
        _id("body_sha"),
        sa.Column("entity_sys", sa.JSON(), nullable=False),
        _ts("created_at"),
        _id("created_by_id"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_content_snapshot_entity",
        "content_snapshot",
        ["workspace_id", "environment_id", "entity_type", "entity_id", "counter"],
    )

    op.create_table(
        "sheet_workbook",
        _id("id"),
        _id("workspace_id"),
        sa.Column("name", sa.String(length=500), nullable=False),
        _id("environment_id", nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        _id("created_by_id"),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sheet_workbook_workspace_id", "sheet_workbook", ["workspace_id"])
    op.create_table(
        "sheet",
        _id("id"),
        _id("workbook_id"),
        _id("workspace_id"),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("record_seq", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["workbook_id"], ["sheet_workbook.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sheet_workbook_id", "sheet", ["workbook_id"])
    op.create_table(
        "sheet_record",
        _id("id"),
        _id("sheet_id"),
        sa.Column("rownum", sa.Integer(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["sheet_id"], ["sheet.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sheet_record_sheet_rownum", "sheet_record", ["sheet_id", "rownum"])
    op.create_table(
        "sheet_snapshot",
        _id("id"),
        _id("sheet_id"),
        _id("workspace_id"),
        sa.Column("label", sa.String(length=500), nullable=True),
        sa.Column("thread_id", sa.String(length=200), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("chunks", sa.JSON(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        _id("created_by_id"),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["sheet_id"], ["sheet.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sheet_snapshot_sheet_id", "sheet_snapshot", ["sheet_id"])


def downgrade() -> None:
    op.drop_index("ix_sheet_snapshot_sheet_id", table_name="sheet_snapshot")
    op.drop_table("sheet_snapshot")
    op.drop_index("ix_sheet_record_sheet_rownum", table_name="sheet_record")
    op.drop_table("sheet_record")
    op.drop_index("ix_sheet_workbook_id", table_name="sheet")
    op.drop_table("sheet")
    op.drop_index("ix_sheet_workbook_workspace_id", table_name="sheet_workbook")
    op.drop_table("sheet_workbook")
    op.drop_index("ix_content_snapshot_entity", table_name="content_snapshot")
    op.drop_table("content_snapshot")
    op.drop_table("content_entry")
    op.drop_table("content_type")
