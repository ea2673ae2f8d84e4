"""Tables for the Flatfile dialect: workbooks, sheets, live records and snapshots.

Live records are rows (bulk updates and deletes need SQL); each keeps its
values as canonical JSON text so two records compare equal exactly when their
text does. A snapshot keeps no rows at all: its records are JSON Lines chunks in
the blob store, listed in `chunks`, so unchanged chunks are shared between
snapshots.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from crawler.clock import utcnow


def _ts() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class WorkbookRow(SQLModel, table=True):
    __tablename__ = "sheet_workbook"

    id: str = Field(primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=64)
    name: str = Field(max_length=500)
    environment_id: str | None = Field(default=None, max_length=64)
    labels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by_id: str = Field(foreign_key="user.id", max_length=64)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class SheetRow(SQLModel, table=True):
    """`record_seq` hands out row positions; positions are never reused, so a
    restored record goes back exactly where it was."""

    __tablename__ = "sheet"

    id: str = Field(primary_key=True, max_length=64)
    workbook_id: str = Field(foreign_key="sheet_workbook.id", index=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=64)
    name: str = Field(max_length=500)
    slug: str = Field(max_length=200)
    config: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    record_seq: int = 0
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class SheetRecordRow(SQLModel, table=True):
    __tablename__ = "sheet_record"
    __table_args__ = (Index("ix_sheet_record_sheet_rownum", "sheet_id", "rownum"),)

    id: str = Field(primary_key=True, max_length=64)
    sheet_id: str = Field(foreign_key="sheet.id", max_length=64)
    rownum: int
    data: str = Field(sa_type=Text)
    valid: bool = True


class SheetSnapshotRow(SQLModel, table=True):
    __tablename__ = "sheet_snapshot"

    id: str = Field(primary_key=True, max_length=64)
    sheet_id: str = Field(foreign_key="sheet.id", index=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=64)
    label: str | None = Field(default=None, max_length=500)
    thread_id: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    chunks: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    record_count: int = 0
    created_by_id: str = Field(foreign_key="user.id", max_length=64)
    created_at: datetime = _ts()
