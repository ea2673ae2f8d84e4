"""Tag management in the ArchiveBox dialect: create, rename, delete; tag and untag snapshots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.archive import render_snapshots, render_tags
from api.deps import ArchivePrincipalDep, SessionDep
from api.errors import ARCHIVE
from crawler import snapshots as snaps
from crawler import tags as tag_rules

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])


class TagCreate(BaseModel):
    name: str = Field(max_length=1000)
    workspace_id: str | None = None


class TagRename(BaseModel):
    name: str = Field(max_length=1000)


class SnapshotTags(BaseModel):
    tags: list[str] = Field(min_length=1, max_length=100)


@router.post("/core/tags", status_code=201)
def create_tag(body: TagCreate, session: SessionDep, principal: ArchivePrincipalDep) -> Any:
    tag = tag_rules.create_tag(session, principal, name=body.name, workspace_id=body.workspace_id)
    session.commit()
    return render_tags(session, [tag])[0]


@router.patch("/core/tag/{tag_id}")
def rename_tag(
    tag_id: str, body: TagRename, session: SessionDep, principal: ArchivePrincipalDep
) -> Any:
    tag = tag_rules.rename_tag(session, tag_rules.get_tag(session, principal, tag_id), body.name)
    session.commit()
    return render_tags(session, [tag])[0]


@router.delete("/core/tag/{tag_id}")
def delete_tag(tag_id: str, session: SessionDep, principal: ArchivePrincipalDep) -> Any:
    tag = tag_rules.get_tag(session, principal, tag_id)
    tag_id, name = tag.id, tag.name
    count = tag_rules.delete_tag(session, tag)
    session.commit()
    return {"success": True, "tag_id": tag_id, "name": name, "num_snapshots": count}


@router.post("/core/snapshot/{snapshot_id}/tags")
def tag_snapshot(
    snapshot_id: str, body: SnapshotTags, session: SessionDep, principal: ArchivePrincipalDep
) -> Any:
    snapshot = snaps.get_snapshot(session, principal, snapshot_id)
    tag_rules.add_to_snapshot(session, snapshot, body.tags, user_id=principal.user_id)
    session.commit()
    return render_snapshots(session, [snapshot], with_results=False)[0]


@router.delete("/core/snapshot/{snapshot_id}/tags/{name}")
def untag_snapshot(
    snapshot_id: str, name: str, session: SessionDep, principal: ArchivePrincipalDep
) -> Any:
    snapshot = snaps.get_snapshot(session, principal, snapshot_id)
    tag_rules.remove_from_snapshot(session, snapshot, name)
    session.commit()
    return render_snapshots(session, [snapshot], with_results=False)[0]
