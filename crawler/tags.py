"""Tags: create, rename, delete, and attach to or detach from snapshots.

Tags belong to a workspace: a name is unique within it, and a caller only sees
and changes tags of workspaces it is a member of (admins see all). The search
index follows every change through the triggers of migration 0004.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.clock import utcnow
from crawler.errors import Conflict, InvalidInput, NotFound
from crawler.models import Snapshot, SnapshotTag, Tag, Workspace

MAX_NAME = 200


def clean_name(raw: object) -> str:
    if not isinstance(raw, str):
        raise InvalidInput("tag name must be a string")
    name = " ".join(raw.split())
    if not name:
        raise InvalidInput("tag name is empty")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"tag name is longer than {MAX_NAME} characters")
    if "," in name:
        raise InvalidInput("tag name cannot contain a comma (commas separate tags)")
    return name


def visible(principal: Principal) -> Any:
    query = select(Tag)
    if not principal.is_admin:
        query = query.where(col(Tag.workspace_id).in_(principal.workspace_ids))
    return query


def get_tag(session: Session, principal: Principal, ref: str) -> Tag:
    """By id, or by name within the caller's workspaces (default workspace first)."""
    rows = session.exec(
        visible(principal).where((col(Tag.id) == ref) | (col(Tag.name) == ref))
    ).all()
    if not rows:
        raise NotFound(f"Tag {ref!r} not found")
    by_id = [t for t in rows if t.id == ref]
    if by_id:
        return by_id[0]
    order = {w: i for i, w in enumerate(principal.workspace_ids)}
    return sorted(rows, key=lambda t: order.get(t.workspace_id, len(order)))[0]


def _check_free(session: Session, workspace_id: str, name: str, *, except_id: str = "") -> None:
    clash = session.exec(
        select(Tag.id).where(Tag.workspace_id == workspace_id, Tag.name == name)
    ).first()
    if clash is not None and clash != except_id:
        raise Conflict(f"a tag named {name!r} already exists in this workspace")


def create_tag(
    session: Session, principal: Principal, *, name: str, workspace_id: str | None = None
) -> Tag:
    workspace = workspace_id or principal.default_workspace_id
    if not principal.is_admin and workspace not in principal.workspace_ids:
        raise NotFound(f"Workspace {workspace!r} not found")
    if session.get(Workspace, workspace) is None:
        raise InvalidInput(f"workspace_id {workspace!r} names no workspace")
    clean = clean_name(name)
    _check_free(session, workspace, clean)
    tag = Tag(workspace_id=workspace, created_by_id=principal.user_id, name=clean)
    session.add(tag)
    session.flush()
    return tag


def rename_tag(session: Session, tag: Tag, name: str) -> Tag:
    clean = clean_name(name)
    if clean == tag.name:
        return tag
    _check_free(session, tag.workspace_id, clean, except_id=tag.id)
    tag.name = clean
    tag.modified_at = utcnow()
    session.add(tag)
    session.flush()
    return tag


def delete_tag(session: Session, tag: Tag) -> int:
    """Detach the tag from every snapshot and delete it; returns how many it was on."""
    count = session.exec(
        select(func.count()).select_from(SnapshotTag).where(SnapshotTag.tag_id == tag.id)
    ).one()
    session.exec(delete(SnapshotTag).where(col(SnapshotTag.tag_id) == tag.id))  # type: ignore[call-overload]
    session.delete(tag)
    session.flush()
    return int(count)


def add_to_snapshot(
    session: Session, snapshot: Snapshot, names: Sequence[str], *, user_id: str
) -> None:
    """Attach tags by name (created in the snapshot's workspace when new)."""
    clean = [clean_name(n) for n in names]
    if not clean:
        raise InvalidInput("give at least one tag name")
    tags = snaps.get_or_create_tags(
        session, workspace_id=snapshot.workspace_id, user_id=user_id, names=clean
    )
    have = set(
        session.exec(select(SnapshotTag.tag_id).where(SnapshotTag.snapshot_id == snapshot.id)).all()
    )
    for tag in tags:
        if tag.id not in have:
            session.add(SnapshotTag(snapshot_id=snapshot.id, tag_id=tag.id))
    session.flush()


def remove_from_snapshot(session: Session, snapshot: Snapshot, name: str) -> None:
    tag = session.exec(
        select(Tag)
        .join(SnapshotTag, col(SnapshotTag.tag_id) == col(Tag.id))
        .where(col(SnapshotTag.snapshot_id) == snapshot.id, col(Tag.name) == name.strip())
    ).first()
    if tag is None:
        raise NotFound(f"Snapshot {snapshot.id!r} has no tag {name!r}")
    session.exec(  # type: ignore[call-overload]
        delete(SnapshotTag).where(
            col(SnapshotTag.snapshot_id) == snapshot.id, col(SnapshotTag.tag_id) == tag.id
        )
    )
    session.flush()


def merge_tags(session: Session, source: Tag, target: Tag) -> int:
    """Move every snapshot of `source` onto `target` (same workspace), then drop `source`."""
    if source.id == target.id:
        return 0
    if source.workspace_id != target.workspace_id:
        raise InvalidInput("tags of different workspaces cannot be merged")
    have = set(
        session.exec(select(SnapshotTag.snapshot_id).where(SnapshotTag.tag_id == target.id)).all()
    )
    moving = session.exec(
        select(SnapshotTag.snapshot_id).where(SnapshotTag.tag_id == source.id)
    ).all()
    for snapshot_id in moving:
        if snapshot_id not in have:
            session.add(SnapshotTag(snapshot_id=snapshot_id, tag_id=target.id))
    session.flush()
    delete_tag(session, source)
    return len(moving)


def tag_counts(session: Session, principal: Principal) -> list[tuple[Tag, int]]:
    """Every tag the caller can see with its number of snapshots, by name."""
    counts = (
        select(SnapshotTag.tag_id, func.count().label("n"))
        .group_by(col(SnapshotTag.tag_id))
        .subquery()
    )
    query = (
        select(Tag, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.tag_id == col(Tag.id))
        .order_by(func.lower(col(Tag.name)))
    )
    if not principal.is_admin:
        query = query.where(col(Tag.workspace_id).in_(principal.workspace_ids))
    return [(tag, int(n)) for tag, n in session.execute(query).all()]
