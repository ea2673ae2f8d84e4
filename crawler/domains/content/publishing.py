"""Publishing: the published version, and in master a snapshot of what was published."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import random_key, utcnow
from crawler.domains.content.entities import (
    MODELS,
    body_of,
    bump,
    get_content_type,
    get_entry,
    get_row,
    published_schema,
)
from crawler.domains.content.render import ENTRY, entity_sys
from crawler.domains.content.spaces import Environment, not_found
from crawler.domains.content.tables import ContentEntryRow, ContentSnapshotRow, ContentTypeRow
from crawler.domains.content.validate import (
    RESOURCE_ID,
    check_entry_fields,
)
from crawler.errors import InvalidInput


def publish(
    session: Session,
    blobs: BlobStore,
    env: Environment,
    principal: Principal,
    *,
    entity_type: str,
    entity_id: str,
    version: int | None,
) -> ContentTypeRow | ContentEntryRow:
    """Publish the current version; in master, keep a snapshot of what was published."""
    row: ContentTypeRow | ContentEntryRow
    extra: dict[str, Any] = {}
    if entity_type == ENTRY:
        row = get_entry(session, env, entity_id)
        schema = published_schema(session, blobs, env, row.content_type_id)
        check_entry_fields(body_of(blobs, row), schema, for_publish=True)
    else:
        row = get_content_type(session, env, entity_id)
        extra["published_body_sha"] = row.body_sha
    now = utcnow()
    row = bump(
        session,
        row,
        version,
        principal=principal,
        published_version=version,
        published_counter=row.published_counter + 1,
        published_at=now,
        first_published_at=row.first_published_at or now,
        published_by_id=principal.user_id,
        **extra,
    )
    if env.makes_snapshots:
        session.add(
            ContentSnapshotRow(
                id=random_key(22),
                workspace_id=env.workspace_id,
                environment_id=env.environment_id,
                entity_type=entity_type,
                entity_id=entity_id,
                counter=row.published_counter,
                body_sha=row.body_sha,
                entity_sys=entity_sys(row),
                created_at=now,
                created_by_id=principal.user_id,
            )
        )
        session.flush()
    return row


def unpublish_entry(
    session: Session, env: Environment, principal: Principal, *, entry_id: str, version: int | None
) -> ContentEntryRow:
    row = get_entry(session, env, entry_id)
    if row.published_version is None:
        raise InvalidInput("Entry is not published", code="BadRequest")
    return bump(
        session,
        row,
        row.version if version is None else version,
        principal=principal,
        published_version=None,
        published_at=None,
        published_by_id=None,
    )


def _snapshot_filter(env: Environment, entity_type: str, entity_id: str) -> list[Any]:
    return [
        col(ContentSnapshotRow.workspace_id) == env.workspace_id,
        col(ContentSnapshotRow.environment_id) == env.environment_id,
        col(ContentSnapshotRow.entity_type) == entity_type,
        col(ContentSnapshotRow.entity_id) == entity_id,
    ]


def list_snapshots(
    session: Session, env: Environment, *, entity_type: str, entity_id: str, skip: int, limit: int
) -> tuple[int, list[ContentSnapshotRow]]:
    """Snapshots of one entity, newest publish first."""
    get_row(session, MODELS[entity_type], env, entity_id)
    where = _snapshot_filter(env, entity_type, entity_id)
    total = session.exec(select(func.count()).select_from(ContentSnapshotRow).where(*where)).one()
    rows = session.exec(
        select(ContentSnapshotRow)
        .where(*where)
        .order_by(col(ContentSnapshotRow.counter).desc())
        .offset(skip)
        .limit(limit)
    ).all()
    return int(total), list(rows)


def get_snapshot(
    session: Session, env: Environment, *, entity_type: str, entity_id: str, snapshot_id: str
) -> ContentSnapshotRow:
    get_row(session, MODELS[entity_type], env, entity_id)
    if not RESOURCE_ID.match(snapshot_id):
        raise not_found("Snapshot", snapshot_id)
    row = session.exec(
        select(ContentSnapshotRow).where(
            col(ContentSnapshotRow.id) == snapshot_id,
            *_snapshot_filter(env, entity_type, entity_id),
        )
    ).first()
    if row is None:
        raise not_found("Snapshot", snapshot_id)
    return row
