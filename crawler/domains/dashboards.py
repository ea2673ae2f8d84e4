"""Dashboard snapshots: a frozen dashboard model, shared by a secret key until it expires.

The dashboard JSON lives in the blob store (canonical JSON, so a dashboard
snapshotted a hundred times is stored once); the row holds who, where, the keys
and the expiry. An expired row is dead at once for every reader and is purged
later by a periodic job, so expiry never depends on that job running.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Index, delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import random_key, utcnow
from crawler.domains.bodies import check_body, get_json, put_json
from crawler.errors import Conflict, Forbidden, InvalidInput, NotFound

# Grafana stores "never expires" as fifty years from now; clients expect a date.
NEVER = timedelta(days=365 * 50)
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._~-]{1,190}$")
DEFAULT_NAME = "Unnamed snapshot"


class DashboardSnapshot(SQLModel, table=True):
    __tablename__ = "dashboards_snapshot"
    __table_args__ = (
        Index("ix_dashboards_snapshot_workspace_created", "workspace_id", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=190, unique=True, index=True)
    delete_key: str = Field(max_length=190, unique=True, index=True)
    name: str = Field(max_length=255)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=64)
    user_id: str = Field(foreign_key="user.id", max_length=64)
    external: bool = False
    external_url: str = Field(default="", max_length=2000)
    body_sha256: str = Field(max_length=64)
    body_size: int = 0
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


def _live(now: datetime) -> Any:
    return col(DashboardSnapshot.expires_at) > now


def _check_key(value: str, field: str) -> str:
    if not KEY_PATTERN.match(value):
        raise InvalidInput(f"{field} must be 1-190 characters of A-Z a-z 0-9 . _ ~ -")
    return value


def create_snapshot(
    session: Session,
    blobs: BlobStore,
    *,
    principal: Principal,
    workspace_id: str,
    dashboard: dict[str, Any],
    name: str | None = None,
    expires: int = 0,
    external: bool = False,
    key: str | None = None,
    delete_key: str | None = None,
) -> DashboardSnapshot:
    """Store the dashboard body as a blob and the snapshot as a row (flushed, not committed)."""
    if expires < 0:
        raise InvalidInput("expires must be 0 (never) or a number of seconds")
    check_body(dashboard, what="dashboard")
    key = _check_key(key, "key") if key else random_key(32)
    delete_key = _check_key(delete_key, "deleteKey") if delete_key else random_key(32)
    if key == delete_key:
        raise InvalidInput("key and deleteKey must differ")
    now = utcnow()
    # A dead row must not hold a key hostage until the purge job runs.
    session.exec(  # type: ignore[call-overload]
        delete(DashboardSnapshot).where(
            col(DashboardSnapshot.expires_at) <= now,
            or_(
                col(DashboardSnapshot.key).in_([key, delete_key]),
                col(DashboardSnapshot.delete_key).in_([key, delete_key]),
            ),
        )
    )
    taken = session.exec(
        select(DashboardSnapshot.id).where(
            or_(col(DashboardSnapshot.key) == key, col(DashboardSnapshot.delete_key) == delete_key)
        )
    ).first()
    if taken is not None:
        raise Conflict("A snapshot with this key or deleteKey already exists")
    body = put_json(blobs, dashboard)
    row = DashboardSnapshot(
        key=key,
        delete_key=delete_key,
        name=name or DEFAULT_NAME,
        workspace_id=workspace_id,
        user_id=principal.user_id,
        external=external,
        body_sha256=body.sha256,
        body_size=body.size,
        expires_at=now + (timedelta(seconds=expires) if expires else NEVER),
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise Conflict("A snapshot with this key or deleteKey already exists") from exc
    return row


def by_key(session: Session, key: str) -> DashboardSnapshot:
    """The live snapshot with this share key; anyone holding the key may read it."""
    row = session.exec(
        select(DashboardSnapshot).where(DashboardSnapshot.key == key, _live(utcnow()))
    ).first()
    if row is None:
        raise NotFound("Dashboard snapshot not found")
    return row


def by_delete_key(session: Session, delete_key: str) -> DashboardSnapshot:
    row = session.exec(
        select(DashboardSnapshot).where(DashboardSnapshot.delete_key == delete_key, _live(utcnow()))
    ).first()
    if row is None:
        raise NotFound("Snapshot not found")
    return row


def deletable_by_key(session: Session, *, principal: Principal, key: str) -> DashboardSnapshot:
    """The owner or an admin of the snapshot's workspace may delete; strangers see nothing."""
    row = session.exec(
        select(DashboardSnapshot).where(DashboardSnapshot.key == key, _live(utcnow()))
    ).first()
    if row is None or not principal.can_read(row.workspace_id):
        raise NotFound("Dashboard snapshot not found")
    if row.user_id != principal.user_id and not principal.is_workspace_admin(row.workspace_id):
        raise Forbidden("Access denied to this snapshot")
    return row


def remove(session: Session, row: DashboardSnapshot) -> None:
    """Drop the row; the body blob stays, since identical bodies may back other snapshots."""
    session.delete(row)
    session.flush()


def search(
    session: Session,
    *,
    principal: Principal,
    workspace_id: str,
    query: str = "",
    limit: int = 1000,
) -> Sequence[DashboardSnapshot]:
    """Live snapshots in one workspace: all of them for its admins, otherwise the caller's own."""
    statement = select(DashboardSnapshot).where(
        DashboardSnapshot.workspace_id == workspace_id, _live(utcnow())
    )
    if not principal.is_workspace_admin(workspace_id):
        statement = statement.where(DashboardSnapshot.user_id == principal.user_id)
    if query:
        statement = statement.where(
            func.lower(DashboardSnapshot.name).contains(query.lower(), autoescape=True)
        )
    statement = statement.order_by(
        col(DashboardSnapshot.created_at).desc(), col(DashboardSnapshot.id).desc()
    )
    return session.exec(statement.limit(limit)).all()


def dashboard_of(blobs: BlobStore, row: DashboardSnapshot) -> Any:
    return get_json(blobs, row.body_sha256)


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete expired rows; idempotent, so every node may run it."""
    result = session.exec(  # type: ignore[call-overload]
        delete(DashboardSnapshot).where(col(DashboardSnapshot.expires_at) <= (now or utcnow()))
    )
    return int(result.rowcount or 0)
