"""Sidvy's notes and note-snapshot API under /api: every answer is wrapped in ``{data: ...}``.

Notes belong to a workspace (``workspaceId`` is the workspace's UUID, listed by
``GET /api/workspace``); any member may read and edit them. Snapshots of a note
are taken automatically on every content change and on request; a note keeps
its newest five.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field, StrictBool, StrictStr
from sqlmodel import col, select

from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import NOTES
from crawler.blobs import BlobStore
from crawler.bounds import MAX_OFFSET
from crawler.clock import iso
from crawler.domains import notes
from crawler.errors import NotFound
from crawler.models import Workspace

router = APIRouter(prefix="/api", tags=[NOTES])

TITLE_MAX = 1000
ID_MAX = 64


def note_json(note: notes.Note, blobs: BlobStore) -> dict[str, Any]:
    return {
        "id": note.id,
        "workspaceId": note.workspace_id,
        "userId": note.user_id,
        "title": note.title,
        "content": notes.content_of(blobs, note.content_sha256),
        "version": note.version,
        "encrypted": note.encrypted,
        "createdAt": iso(note.created_at),
        "updatedAt": iso(note.updated_at),
    }


def snapshot_json(snapshot: notes.NoteSnapshot, blobs: BlobStore) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "noteId": snapshot.note_id,
        "userId": snapshot.user_id,
        "workspaceId": snapshot.workspace_id,
        "content": notes.content_of(blobs, snapshot.content_sha256),
        "noteVersion": snapshot.note_version,
        "metadata": snapshot.meta,
        "createdAt": iso(snapshot.created_at),
    }


def _known_id(value: str, what: str) -> str:
    """Ids longer than any we issue cannot exist; answer as for any unknown id."""
    if len(value) > ID_MAX:
        raise NotFound(f"{what} not found")
    return value


class NoteCreate(BaseModel):
    workspaceId: StrictStr
    title: StrictStr = Field(default="", max_length=TITLE_MAX)
    content: StrictStr = ""
    encrypted: StrictBool = False


class NoteUpdate(BaseModel):
    title: StrictStr | None = Field(default=None, max_length=TITLE_MAX)
    content: StrictStr | None = None
    encrypted: StrictBool | None = None


class SnapshotCreate(BaseModel):
    noteId: StrictStr
    workspaceId: StrictStr
    content: StrictStr
    metadata: dict[str, Any] | None = None


class SnapshotDelete(BaseModel):
    snapshotId: StrictStr


@router.get("/workspace")
def list_workspaces(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """The caller's workspaces, so a client can learn the ``workspaceId`` its notes need."""
    rows = {
        w.id: w
        for w in session.exec(
            select(Workspace).where(col(Workspace.id).in_(principal.workspace_ids))
        )
    }
    return {
        "data": [
            {
                "id": rows[wid].id,
                "name": rows[wid].name,
                "isDefault": wid == principal.default_workspace_id,
                "role": "admin" if wid in principal.admin_workspace_ids else "member",
                "createdAt": iso(rows[wid].created_at),
            }
            for wid in principal.workspace_ids
            if wid in rows
        ]
    }


@router.get("/notes")
def list_notes(
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    workspaceId: str | None = None,  # noqa: N803
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Notes of one workspace, or of all the caller's workspaces, recently updated first."""
    rows = notes.list_notes(
        session,
        principal=principal,
        workspace_id=_known_id(workspaceId, "Workspace") if workspaceId else None,
        limit=limit,
        offset=offset,
    )
    return {"data": [note_json(n, state.blobs) for n in rows]}


@router.post("/notes", status_code=status.HTTP_201_CREATED)
def create_note(
    body: NoteCreate, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> dict[str, Any]:
    note = notes.create_note(
        session,
        state.blobs,
        principal=principal,
        workspace_id=_known_id(body.workspaceId, "Workspace"),
        title=body.title,
        content=body.content,
        encrypted=body.encrypted,
    )
    session.commit()
    return {"data": note_json(note, state.blobs)}


@router.get("/notes/{note_id}")
def get_note(
    note_id: str, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> dict[str, Any]:
    note = notes.get_note(session, principal=principal, note_id=_known_id(note_id, "Note"))
    return {"data": note_json(note, state.blobs)}


@router.put("/notes/{note_id}")
def update_note(
    note_id: str,
    body: NoteUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
) -> dict[str, Any]:
    """A new content bumps `version` and keeps the previous content as a snapshot."""
    note = notes.update_note(
        session,
        state.blobs,
        principal=principal,
        note_id=_known_id(note_id, "Note"),
        title=body.title,
        content=body.content,
        encrypted=body.encrypted,
    )
    session.commit()
    return {"data": note_json(note, state.blobs)}


@router.delete("/notes/{note_id}")
def delete_note(note_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    notes.delete_note(session, principal=principal, note_id=_known_id(note_id, "Note"))
    session.commit()
    return {"data": {"deleted": True}}


@router.get("/snapshot")
def list_snapshots(
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    noteId: str = Query(...),  # noqa: N803
) -> dict[str, Any]:
    """The note's snapshots, newest first."""
    rows = notes.list_snapshots(session, principal=principal, note_id=_known_id(noteId, "Note"))
    return {"data": [snapshot_json(s, state.blobs) for s in rows]}


@router.post("/snapshot", status_code=status.HTTP_201_CREATED)
def create_snapshot(
    body: SnapshotCreate, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> dict[str, Any]:
    snapshot = notes.take_snapshot(
        session,
        state.blobs,
        principal=principal,
        note_id=_known_id(body.noteId, "Note"),
        workspace_id=_known_id(body.workspaceId, "Workspace"),
        content=body.content,
        meta=body.metadata,
    )
    session.commit()
    return {"data": snapshot_json(snapshot, state.blobs)}


@router.delete("/snapshot")
def delete_snapshot(
    body: SnapshotDelete, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    notes.delete_snapshot(
        session, principal=principal, snapshot_id=_known_id(body.snapshotId, "Snapshot")
    )
    session.commit()
    return {"data": {"deleted": True}}
