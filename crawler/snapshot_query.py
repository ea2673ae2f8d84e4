"""Filtering and paging the snapshot list (the ArchiveBox filter set)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal_column, or_
from sqlmodel import Session, col, select

from crawler import search
from crawler.auth import Principal
from crawler.counts import count_rows
from crawler.models import Snapshot, SnapshotTag, Tag, User

TAG_SCAN_FROM = 2000


@dataclass(slots=True)
class SnapshotFilters:
    id: str | None = None
    url: str | None = None
    search: str | None = None
    tag: str | None = None
    title: str | None = None
    timestamp: str | None = None
    status: str | None = None
    crawl_id: str | None = None
    created_by_id: str | None = None
    created_by_username: str | None = None
    created_at: datetime | None = None
    created_at__gte: datetime | None = None
    created_at__lt: datetime | None = None
    modified_at: datetime | None = None
    modified_at__gte: datetime | None = None
    modified_at__lt: datetime | None = None
    bookmarked_at__gte: datetime | None = None
    bookmarked_at__lt: datetime | None = None
    domain: str | None = None  # the URL's host (the web UI's filter), with or without www.

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _conditions(f: SnapshotFilters, *, scan_tag: bool = False) -> list[Any]:
    conds: list[Any] = []
    if f.id:
        conds.append(col(Snapshot.id).startswith(f.id, autoescape=True))
    if f.url:
        conds.append(col(Snapshot.url) == f.url)
    if f.title:
        conds.append(func.lower(col(Snapshot.title)).contains(f.title.lower(), autoescape=True))
    if f.timestamp:
        conds.append(col(Snapshot.timestamp).startswith(f.timestamp, autoescape=True))
    if f.status:
        conds.append(col(Snapshot.status) == f.status)
    if f.domain:
        host = f.domain.strip().lower().removeprefix("www.")
        conds.append(
            or_(
                *(
                    col(Snapshot.url).startswith(f"{scheme}://{www}{host}{end}", autoescape=True)
                    for scheme in ("http", "https")
                    for www in ("", "www.")
                    for end in ("/", ":", "?")
                ),
                *(
                    col(Snapshot.url) == f"{scheme}://{www}{host}"
                    for scheme in ("http", "https")
                    for www in ("", "www.")
                ),
            )
        )
    if f.crawl_id:
        conds.append(col(Snapshot.crawl_id) == f.crawl_id)
    if f.created_by_id:
        conds.append(col(Snapshot.created_by_id) == f.created_by_id)
    if f.created_by_username:
        conds.append(
            col(Snapshot.created_by_id).in_(
                select(User.id).where(User.username == f.created_by_username)
            )
        )
    if f.tag:
        # IN (not a correlated EXISTS): the store probes the tag's snapshots by id
        # instead of testing every snapshot in list order.
        # scan_tag (SQLite): unary + keeps the planner from driving by id, see query_snapshots.
        member = literal_column("+snapshot.id") if scan_tag else col(Snapshot.id)
        conds.append(
            member.in_(
                select(SnapshotTag.snapshot_id)
                .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
                .where(col(Tag.name) == f.tag)
            )
        )
    ranges = [
        ("created_at", Snapshot.created_at),
        ("modified_at", Snapshot.modified_at),
        ("bookmarked_at", Snapshot.bookmarked_at),
    ]
    for name, column in ranges:
        exact = getattr(f, name, None)
        if exact is not None:
            conds.append(col(column) == exact)
        gte = getattr(f, f"{name}__gte")
        if gte is not None:
            conds.append(col(column) >= gte)
        lt = getattr(f, f"{name}__lt")
        if lt is not None:
            conds.append(col(column) < lt)
    return conds


SORTS: dict[str, Any] = {
    "added": col(Snapshot.created_at).desc(),
    "captured": col(Snapshot.downloaded_at).desc().nulls_last(),
    "title": func.lower(func.coalesce(col(Snapshot.title), col(Snapshot.url))).asc(),
}


def query_snapshots(
    session: Session,
    principal: Principal,
    filters: SnapshotFilters,
    *,
    limit: int,
    offset: int,
    sort: str = "added",
) -> tuple[list[Snapshot], int]:
    """Newest first (or by `sort`: a key of SORTS); `url=` is a URL's timeline."""
    conds = _conditions(filters)
    if not principal.is_admin:
        conds.append(col(Snapshot.workspace_id).in_(principal.workspace_ids))
    query = select(Snapshot)
    ranking: list[Any] = []
    if filters.search:
        found = search.hits(session, filters.search)  # ranked: best matches first
        if found is None:
            return [], 0
        query = query.join(found, found.c.snapshot_id == col(Snapshot.id))
        ranking.append(found.c.score)
    query = query.where(*conds)
    order = SORTS.get(sort, SORTS["added"])
    if ranking:
        # Rank ids only (the sort then carries a few bytes per match, not whole rows), with
        # the total from a window count over the same pass; then load the page's rows.
        ranked = session.execute(
            query.with_only_columns(col(Snapshot.id), func.count().over())
            .order_by(*ranking, order, col(Snapshot.id))
            .offset(offset)
            .limit(limit)
        ).all()
        if ranked:
            ids = [snapshot_id for snapshot_id, _ in ranked]
            loaded = {
                row.id: row
                for row in session.exec(select(Snapshot).where(col(Snapshot.id).in_(ids)))
            }
            return [loaded[i] for i in ids if i in loaded], int(ranked[0][1])
    if filters.tag and all(
        getattr(filters, name) in (None, "") for name in SnapshotFilters.names() if name != "tag"
    ):
        # Tag alone: count its links (a tag and its snapshots share one workspace).
        tagged = (
            select(func.count())
            .select_from(SnapshotTag)
            .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
            .where(col(Tag.name) == filters.tag)
        )
        if not principal.is_admin:
            tagged = tagged.where(col(Tag.workspace_id).in_(principal.workspace_ids))
        total = int(session.exec(tagged).one())
    else:
        total = count_rows(session, query.with_only_columns(col(Snapshot.id)))
    big_tag = filters.tag and not ranking and not filters.url and total > TAG_SCAN_FROM
    if big_tag and session.get_bind().dialect.name == "sqlite":
        # SQLite would fetch and sort every snapshot of a big tag; walking the list
        # order and testing membership finds a page after a few thousand steps.
        conds = _conditions(filters, scan_tag=True)
        if not principal.is_admin:
            conds.append(col(Snapshot.workspace_id).in_(principal.workspace_ids))
        query = select(Snapshot).where(*conds)
    rows = session.exec(
        query.order_by(*ranking, order, col(Snapshot.id)).offset(offset).limit(limit)
    ).all()
    return list(rows), int(total)
