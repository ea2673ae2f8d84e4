"""Tables for the Contentful dialect: content types, entries and their publish snapshots.

A Contentful space is an Amber workspace; environments need no table of their
own (an environment exists once something is written to it). Field bodies live
in the blob store (`body_sha`), so a snapshot of an unchanged body costs one
row and no bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index
from sqlmodel import Field, SQLModel

from crawler.clock import utcnow


def _ts() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


def _opt_ts() -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True))


class _Versioned(SQLModel):
    """What content types and entries share: identity, optimistic version, publish state."""

    workspace_id: str = Field(primary_key=True, foreign_key="workspace.id", max_length=64)
    environment_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    body_sha: str = Field(max_length=64)
    version: int = 1
    published_version: int | None = None
    published_counter: int = 0
    published_at: datetime | None = _opt_ts()
    first_published_at: datetime | None = _opt_ts()
    published_by_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    created_by_id: str = Field(foreign_key="user.id", max_length=64)
    updated_by_id: str = Field(foreign_key="user.id", max_length=64)


class ContentTypeRow(_Versioned, table=True):
    """`body_sha` holds {name, description, displayField, fields}; entries validate
    against the body as last published (`published_body_sha`)."""

    __tablename__ = "content_type"

    published_body_sha: str | None = Field(default=None, max_length=64)


class ContentEntryRow(_Versioned, table=True):
    """`body_sha` holds the entry's `fields` object (locale-keyed values)."""

    __tablename__ = "content_entry"

    content_type_id: str = Field(max_length=64)
    entry_metadata: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column("metadata", JSON, nullable=False)
    )


class ContentSnapshotRow(SQLModel, table=True):
    """One publish of an entry or content type in the master environment.

    `counter` is the entity's publishedCounter at that publish, so snapshots of
    one entity sort newest first without relying on clock resolution.
    """

    __tablename__ = "content_snapshot"
    __table_args__ = (
        Index(
            "ix_content_snapshot_entity",
            "workspace_id",
            "environment_id",
            "entity_type",
            "entity_id",
            "counter",
        ),
    )

    id: str = Field(primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=64)
    environment_id: str = Field(max_length=64)
    entity_type: str = Field(max_length=20)
    entity_id: str = Field(max_length=64)
    counter: int
    body_sha: str = Field(max_length=64)
    entity_sys: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()
    created_by_id: str = Field(foreign_key="user.id", max_length=64)
