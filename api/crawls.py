"""ArchiveBox 0.9 crawls under /api/v1/crawls, plus the schedule routes (api.schedules)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.archive import PageDep, usernames_for
from api.archive_json import page_envelope
from api.deps import ArchivePrincipalDep, KnownQueryOnly, SessionDep, StateDep
from api.errors import ARCHIVE
from crawler import crawls
from crawler import snapshots as snaps
from crawler.bounds import INT32_MAX
from crawler.clock import iso, utcnow
from crawler.errors import InvalidInput
from crawler.models import Crawl, Snapshot, SnapshotTag

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])


def crawl_json(crawl: Crawl, usernames: dict[str, str]) -> dict[str, Any]:
    return {
        "TYPE": "crawls.models.Crawl",
        "id": crawl.id,
        "created_at": iso(crawl.created_at),
        "modified_at": iso(crawl.modified_at),
        "created_by_id": crawl.created_by_id,
        "created_by_username": usernames.get(crawl.created_by_id, ""),
        "status": crawl.status,
        "retry_at": iso(crawl.retry_at),
        "urls": crawl.urls,
        "max_depth": crawl.max_depth,
        "max_urls": crawl.max_urls,
        "max_size": crawl.max_size,
        "tags_str": crawl.tags_str,
        "label": crawl.label,
        "notes": crawl.notes,
        "config": crawl.config,
    }


def crawl_detail(session: Session, crawl: Crawl) -> dict[str, Any]:
    """A crawl with its snapshot ids, counts by status and what it skipped (and why)."""
    body = crawl_json(crawl, usernames_for(session, [crawl.created_by_id]))
    ids = crawls.crawl_snapshot_ids(session, crawl.id)
    counts = {status: 0 for status in ("queued", "started", "succeeded", "failed", "sealed")}
    counts.update(snaps.count_by_status(session, crawl_id=crawl.id))
    body.update(
        snapshot_ids=ids,
        num_snapshots=len(ids),
        snapshot_counts=counts,
        skipped=crawls.skipped_counts(session, crawl.id),
    )
    return body


class CrawlCreate(BaseModel):
    urls: list[str] | str
    max_depth: int = Field(default=0, ge=0, le=crawls.MAX_DEPTH)
    max_urls: int = Field(default=0, ge=0, le=INT32_MAX)
    max_size: int = Field(default=0, ge=0, le=INT32_MAX)
    tags_str: str = Field(default="", max_length=1000)
    label: str = Field(default="", max_length=500)
    notes: str = Field(default="", max_length=100_000)
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str] | str) -> list[str]:
        items = value.split() if isinstance(value, str) else value
        cleaned = [u.strip() for u in items if u and u.strip()]
        if not cleaned:
            raise ValueError("at least one URL is required")
        return cleaned


@router.get("/crawls/crawls", dependencies=[KnownQueryOnly])
def list_crawls(
    session: SessionDep,
    principal: ArchivePrincipalDep,
    paging: PageDep,
    status: Literal["queued", "started", "sealed"] | None = None,
) -> dict[str, Any]:
    query = select(Crawl)
    if not principal.is_admin:
        query = query.where(col(Crawl.workspace_id).in_(principal.workspace_ids))
    if status:
        query = query.where(col(Crawl.status) == status)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Crawl.created_at).desc(), col(Crawl.id).desc())
        .offset(paging.offset)
        .limit(paging.limit)
    ).all()
    names = usernames_for(session, [c.created_by_id for c in rows])
    return page_envelope(
        [crawl_json(c, names) for c in rows],
        total=int(total),
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post("/crawls/crawls", status_code=201)
def create_crawl(
    body: CrawlCreate, session: SessionDep, principal: ArchivePrincipalDep, state: StateDep
) -> dict[str, Any]:
    """Store the crawl and its seed snapshots, then queue them; returns before capture runs."""
    crawl, outcome = crawls.create_crawl(
        session,
        principal=principal,
        urls=body.urls,
        max_depth=body.max_depth,
        max_urls=body.max_urls,
        max_size=body.max_size,
        tags_str=body.tags_str,
        label=body.label,
        notes=body.notes,
        config=body.config,
        redeliver_after=state.settings.redeliver_seconds,
    )
    session.commit()
    state.dispatch(outcome.queued_ids)
    return crawl_detail(session, crawl)


@router.get("/crawls/crawl/{crawl_id}")
def get_crawl(crawl_id: str, session: SessionDep, principal: ArchivePrincipalDep) -> dict[str, Any]:
    return crawl_detail(session, crawls.get_crawl(session, principal, crawl_id))


class CrawlPatch(BaseModel):
    status: str | None = None
    label: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=100_000)
    tags_str: str | None = Field(default=None, max_length=1000)
    max_urls: int | None = Field(default=None, ge=0, le=INT32_MAX)
    max_size: int | None = Field(default=None, ge=0, le=INT32_MAX)


def _retag(session: Session, crawl: Crawl, tags_str: str, user_id: str) -> None:
    """New crawl tags reach the snapshots it already has as well as the ones to come."""
    tags = snaps.parse_tags(tags_str)
    crawl.tags_str = ",".join(tags)
    rows = snaps.get_or_create_tags(
        session, workspace_id=crawl.workspace_id, user_id=user_id, names=tags
    )
    for tag in rows:
        have = set(
            session.exec(
                select(SnapshotTag.snapshot_id)
                .join(Snapshot, col(Snapshot.id) == col(SnapshotTag.snapshot_id))
                .where(Snapshot.crawl_id == crawl.id, SnapshotTag.tag_id == tag.id)
            )
        )
        for snapshot_id in crawls.crawl_snapshot_ids(session, crawl.id):
            if snapshot_id not in have:
                session.add(SnapshotTag(snapshot_id=snapshot_id, tag_id=tag.id))


@router.patch("/crawls/crawl/{crawl_id}")
def patch_crawl(
    crawl_id: str, body: CrawlPatch, session: SessionDep, principal: ArchivePrincipalDep
) -> dict[str, Any]:
    """`status: sealed` stops the crawl: its queued snapshots are sealed (cancelled)."""
    crawl = crawls.get_crawl(session, principal, crawl_id)
    if body.status is not None and body.status != crawls.CrawlStatus.sealed:
        raise InvalidInput("status can only be set to 'sealed' (stop the crawl)")
    for name in ("label", "notes", "max_urls", "max_size"):
        value = getattr(body, name)
        if value is not None:
            setattr(crawl, name, value)
    if body.tags_str is not None:
        _retag(session, crawl, body.tags_str, principal.user_id)
    crawl.modified_at = utcnow()
    session.add(crawl)
    if body.status == crawls.CrawlStatus.sealed:
        crawls.seal_crawl(session, crawl)
    session.commit()
    return crawl_detail(session, crawl)


@router.delete("/crawls/crawl/{crawl_id}")
def delete_crawl(
    crawl_id: str, session: SessionDep, principal: ArchivePrincipalDep
) -> dict[str, Any]:
    crawl = crawls.get_crawl(session, principal, crawl_id)
    deleted = crawls.delete_crawl(session, crawl)
    session.commit()
    return {"success": True, "crawl_id": crawl_id, "deleted_count": deleted}
