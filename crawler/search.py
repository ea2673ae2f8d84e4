"""Snapshot search: the condition behind the `search` filter.

Matches the URL, title, tags, id and timestamp by substring.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, or_
from sqlmodel import Session, col, select

from crawler.models import Snapshot, SnapshotTag, Tag


def search_condition(session: Session, query: str) -> Any:
    needle = query.strip().lower()
    tag_hit = exists(
        select(SnapshotTag.snapshot_id)
        .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
        .where(
            col(SnapshotTag.snapshot_id) == col(Snapshot.id),
            func.lower(col(Tag.name)).contains(needle, autoescape=True),
        )
    )
    return or_(
        func.lower(col(Snapshot.url)).contains(needle, autoescape=True),
        func.lower(col(Snapshot.title)).contains(needle, autoescape=True),
        col(Snapshot.id).startswith(needle, autoescape=True),
        col(Snapshot.timestamp).startswith(needle, autoescape=True),
        tag_hit,
    )
