"""Tags in the ArchiveBox dialect: list, get, create, rename, delete; tag and untag snapshots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.archive import PageDep, render_snapshots, usernames_for
from api.archive_json import page_envelope, tag_json
from api.deps import ArchivePrincipalDep, KnownQueryOnly, SessionDep
from api.errors import ARCHIVE
from crawler import snapshots as snaps
from crawler import tags as tag_rules
from crawler.auth import Principal
from crawler.errors import NotFound
from crawler.models import SnapshotTag, Tag

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])


def _visible_tags(principal: Principal) -> Any:
    query = select(Tag)
    if not principal.is_admin:
        query = query.where(col(Tag.workspace_id).in_(principal.workspace_ids))
    return query


def render_tags(session: Session, tags: list[Tag]) -> list[Any]:
    ids = [t.id for t in tags]
    counts = (
        dict(
            session.exec(
                select(SnapshotTag.tag_id, func.count())
                .where(col(SnapshotTag.tag_id).in_(ids))
                .group_by(SnapshotTag.tag_id)
            ).all()
        )
        if ids
        else {}
    )
    names = usernames_for(session, [t.created_by_id for t in tags])
    return [tag_json(t, num_snapshots=int(counts.get(t.id, 0)), usernames=names) for t in tags]


@router.get("/core/tags", dependencies=[KnownQueryOnly])
def list_tags(
    session: SessionDep, principal: ArchivePrincipalDep, paging: PageDep
) -> dict[str, Any]:
    query = _visible_tags(principal)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Tag.name)).offset(paging.offset).limit(paging.limit)
    ).all()
    return page_envelope(
        render_tags(session, list(rows)), total=int(total), limit=paging.limit, offset=paging.offset
    )


@router.get("/core/tag/{tag_id}")
def get_tag(tag_id: str, session: SessionDep, principal: ArchivePrincipalDep) -> dict[str, Any]:
    tag = session.exec(
        _visible_tags(principal).where((col(Tag.id) == tag_id) | (col(Tag.name) == tag_id))
    ).first()
    if tag is None:
        raise NotFound(f"Tag {tag_id!r} not found")
    return render_tags(session, [tag])[0]


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
