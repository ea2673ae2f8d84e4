"""Notes with versioned content and a short, self-pruning history of snapshots.

Note content is a blob (canonical JSON), so a snapshot of the previous content
is only a new row pointing at a blob that already exists. Every content change
bumps the note's version and, unless the note is encrypted, records the previous
content as a snapshot in the same transaction; a note keeps at most
`MAX_SNAPSHOTS`, the oldest pruned in that same transaction.

Writers take the note's row lock first (a no-op UPDATE), which serialises
changes to one note on PostgreSQL and takes SQLite's write lock before any
read, so a version can never be bumped twice from the same base.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, delete, update
from sqlmodel import Field, Session, SQLModel, col, select

from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import utcnow, uuid7
from crawler.domains.bodies import get_json, put_json
from crawler.errors import Forbidden, InvalidInput, NotFound
from crawler.models import Workspace

MAX_SNAPSHOTS = 5


def _ts() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True))  # type: ignore[call-overload]


class Note(SQLModel, table=True):
    __tablename__ = "notes_note"

    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=64)
    user_id: str = Field(foreign_key="user.id", max_length=64)
    title: str = Field(default="", sa_type=Text)
    content_sha256: str = Field(max_length=64)
    content_size: int = 0
    encrypted: bool = False
    version: int = 1
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class NoteSnapshot(SQLModel, table=True):
    __tablename__ = "notes_snapshot"
    __table_args__ = (Index("ix_notes_snapshot_note_created", "note_id", "created_at"),)

    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    note_id: str = Field(foreign_key="notes_note.id", max_length=64)
    user_id: str = Field(foreign_key="user.id", max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=64)
    content_sha256: str = Field(max_length=64)
    content_size: int = 0
    note_version: int
    meta: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()


def require_workspace(session: Session, principal: Principal, workspace_id: str) -> str:
    """A workspace the caller belongs to; any other id looks exactly like an unknown one."""
    if not principal.can_read(workspace_id) or session.get(Workspace, workspace_id) is None:
        raise NotFound("Workspace not found")
    return workspace_id


def content_of(blobs: BlobStore, sha256: str) -> str:
    value = get_json(blobs, sha256)
    return value if isinstance(value, str) else ""


def _visible(session: Session, principal: Principal, note_id: str) -> Note:
    note = session.get(Note, note_id)
    if note is None or not principal.can_read(note.workspace_id):
        raise NotFound("Note not found")
    return note


def _lock(session: Session, principal: Principal, note_id: str) -> Note:
    """Take the note's write lock before reading it, then read it fresh."""
    session.exec(update(Note).where(col(Note.id) == note_id).values(version=Note.version))  # type: ignore[call-overload]
    note = _visible(session, principal, note_id)
    session.refresh(note)
    return note


def get_note(session: Session, *, principal: Principal, note_id: str) -> Note:
    return _visible(session, principal, note_id)


def list_notes(
    session: Session, *, principal: Principal, workspace_id: str | None, limit: int, offset: int
) -> Sequence[Note]:
    workspaces = (
        [require_workspace(session, principal, workspace_id)]
        if workspace_id
        else list(principal.workspace_ids)
    )
    return session.exec(
        select(Note)
        .where(col(Note.workspace_id).in_(workspaces))
        .order_by(col(Note.updated_at).desc(), col(Note.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()


def create_note(
    session: Session,
    blobs: BlobStore,
    *,
    principal: Principal,
    workspace_id: str,
    title: str,
    content: str,
    encrypted: bool = False,
) -> Note:
    require_workspace(session, principal, workspace_id)
    body = put_json(blobs, content)
    note = Note(
        workspace_id=workspace_id,
        user_id=principal.user_id,
        title=title,
        content_sha256=body.sha256,
        content_size=body.size,
        encrypted=encrypted,
    )
    session.add(note)
    session.flush()
    return note


def update_note(
    session: Session,
    blobs: BlobStore,
    *,
    principal: Principal,
    note_id: str,
    title: str | None = None,
    content: str | None = None,
    encrypted: bool | None = None,
) -> Note:
    """Apply the change; a new content bumps the version and snapshots the old content."""
    note = _lock(session, principal, note_id)
    now = utcnow()
    if content is not None:
        body = put_json(blobs, content)
        if body.sha256 != note.content_sha256:
            if not note.encrypted:
                _record(
                    session,
                    note=note,
                    user_id=principal.user_id,
                    sha256=note.content_sha256,
                    size=note.content_size,
                    meta={"source": "auto", "title": note.title},
                    now=now,
                )
            note.content_sha256, note.content_size = body.sha256, body.size
            note.version += 1
    if title is not None:
        note.title = title
    if encrypted is not None:
        note.encrypted = encrypted
    note.updated_at = now
    session.add(note)
    session.flush()
    return note


def delete_note(session: Session, *, principal: Principal, note_id: str) -> None:
    """The author or a workspace admin may delete a note; its snapshots go with it."""
    note = _lock(session, principal, note_id)
    if note.user_id != principal.user_id and not principal.is_workspace_admin(note.workspace_id):
        raise Forbidden("Only the note's author or a workspace admin can delete it")
    session.exec(delete(NoteSnapshot).where(col(NoteSnapshot.note_id) == note.id))  # type: ignore[call-overload]
    session.delete(note)
    session.flush()


def list_snapshots(
    session: Session, *, principal: Principal, note_id: str
) -> Sequence[NoteSnapshot]:
    note = _visible(session, principal, note_id)
    return session.exec(
        select(NoteSnapshot)
        .where(NoteSnapshot.note_id == note.id)
        .order_by(col(NoteSnapshot.created_at).desc(), col(NoteSnapshot.id).desc())
    ).all()


def take_snapshot(
    session: Session,
    blobs: BlobStore,
    *,
    principal: Principal,
    note_id: str,
    workspace_id: str,
    content: str,
    meta: dict[str, Any] | None = None,
) -> NoteSnapshot:
    """A snapshot the client asked for, of the content it sent, at the note's current version."""
    require_workspace(session, principal, workspace_id)
    note = _lock(session, principal, note_id)
    if note.workspace_id != workspace_id:
        raise InvalidInput("workspaceId does not match the note's workspace")
    body = put_json(blobs, content)
    return _record(
        session,
        note=note,
        user_id=principal.user_id,
        sha256=body.sha256,
        size=body.size,
        meta={"source": "manual", "title": note.title, **(meta or {})},
        now=utcnow(),
    )


def delete_snapshot(session: Session, *, principal: Principal, snapshot_id: str) -> None:
    """Its creator or a workspace admin may delete a snapshot."""
    snapshot = session.get(NoteSnapshot, snapshot_id)
    if snapshot is None or not principal.can_read(snapshot.workspace_id):
        raise NotFound("Snapshot not found")
    if snapshot.user_id != principal.user_id and not principal.is_workspace_admin(
        snapshot.workspace_id
    ):
        raise Forbidden("Only the snapshot's creator or a workspace admin can delete it")
    session.delete(snapshot)
    session.flush()


def _record(
    session: Session,
    *,
    note: Note,
    user_id: str,
    sha256: str,
    size: int,
    meta: dict[str, Any],
    now: datetime,
) -> NoteSnapshot:
    """Insert a snapshot and prune the note's history to `MAX_SNAPSHOTS` (caller holds the lock)."""
    snapshot = NoteSnapshot(
        note_id=note.id,
        user_id=user_id,
        workspace_id=note.workspace_id,
        content_sha256=sha256,
        content_size=size,
        note_version=note.version,
        meta=meta,
        created_at=now,
    )
    session.add(snapshot)
    session.flush()
    stale = session.exec(
        select(NoteSnapshot.id)
        .where(NoteSnapshot.note_id == note.id)
        .order_by(col(NoteSnapshot.created_at).desc(), col(NoteSnapshot.id).desc())
        .offset(MAX_SNAPSHOTS)
    ).all()
    if stale:
        session.exec(delete(NoteSnapshot).where(col(NoteSnapshot.id).in_(stale)))  # type: ignore[call-overload]
    return snapshot
