"""Filtering and paging the snapshot list (the ArchiveBox filter set)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal_column
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from crawler import search, snapshot_filters
from crawler.auth import Principal
from crawler.counts import EXACT_UP_TO, Total, count_rows, count_total
from crawler.models import Snapshot, SnapshotTag, Tag, User
from crawler.snapshot_filters import Narrowing

TAG_SCAN_FROM = 2000
WINDOW = 20_000  # rows of list order a substring filter tests before asking its index


@dataclass(slots=True)
class SnapshotFilters:
    id: str | None = None
    url: str | None = None
    url__icontains: str | None = None
    domain: str | None = None
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

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _conditions(f: SnapshotFilters, *, scan_tag: bool = False) -> list[Any]:
    conds: list[Any] = []
    if f.id:
        conds.append(col(Snapshot.id).startswith(f.id, autoescape=True))
    if f.url:
        conds.append(col(Snapshot.url) == f.url)
    if f.timestamp:
        conds.append(col(Snapshot.timestamp).startswith(f.timestamp, autoescape=True))
    if f.status:
        conds.append(col(Snapshot.status) == f.status)
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


def narrowings(f: SnapshotFilters, dialect: str) -> list[Narrowing]:
    """The substring-like filters: each has an exact test and maybe an indexed superset."""
    found = []
    if f.title:
        found.append(snapshot_filters.contains("title", f.title, dialect, name="trgm_title"))
    if f.url__icontains:
        found.append(snapshot_filters.contains("url", f.url__icontains, dialect, name="trgm_url"))
    if f.domain:
        found.append(snapshot_filters.domain(f.domain, dialect))
    return found


@dataclass(slots=True)
class Page:
    rows: list[Snapshot]
    total: Total


def query_snapshots(
    session: Session, principal: Principal, filters: SnapshotFilters, *, limit: int, offset: int
) -> tuple[list[Snapshot], int]:
    """Newest first; `url=` is a URL's timeline (every capture of it, newest first)."""
    page = query_page(session, principal, filters, limit=limit, offset=offset)
    return page.rows, page.total.value


def _visible(conds: list[Any], principal: Principal) -> list[Any]:
    if principal.is_admin:
        return conds
    return [*conds, col(Snapshot.workspace_id).in_(principal.workspace_ids)]


def query_page(
    session: Session, principal: Principal, filters: SnapshotFilters, *, limit: int, offset: int
) -> Page:
    """One page in list order (relevance first with `search`) and the list's total."""
    dialect = session.get_bind().dialect.name
    conds = _visible(_conditions(filters), principal)
    narrow = narrowings(filters, dialect)
    if narrow and not filters.search:
        return _narrowed_page(session, conds, narrow, limit=limit, offset=offset)
    conds += [n.exact(Snapshot) for n in narrow]
    query = select(Snapshot)
    ranking: list[Any] = []
    if filters.search:
        found = search.hits(session, filters.search)  # ranked: best matches first
        if found is None:
            return Page([], Total(0))
        query = query.join(found, found.c.snapshot_id == col(Snapshot.id))
        ranking.append(found.c.score)
    query = query.where(*conds)
    order = col(Snapshot.created_at).desc()
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
            return Page(_load(session, ids), Total(int(ranked[0][1])))
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
        total = Total(int(session.exec(tagged).one()))
    else:
        total = count_total(session, query.with_only_columns(col(Snapshot.id)))
    big_tag = filters.tag and not ranking and not filters.url and total.value > TAG_SCAN_FROM
    if big_tag and dialect == "sqlite":
        # SQLite would fetch and sort every snapshot of a big tag; walking the list
        # order and testing membership finds a page after a few thousand steps.
        query = select(Snapshot).where(*_visible(_conditions(filters, scan_tag=True), principal))
    rows = session.exec(
        query.order_by(*ranking, order, col(Snapshot.id)).offset(offset).limit(limit)
    ).all()
    return Page(list(rows), total)


def _load(session: Session, ids: list[str]) -> list[Snapshot]:
    """Rows for `ids`, in that order."""
    if not ids:
        return []
    loaded = {
        row.id: row for row in session.exec(select(Snapshot).where(col(Snapshot.id).in_(ids)))
    }
    return [loaded[i] for i in ids if i in loaded]


def _narrowed_page(
    session: Session, conds: list[Any], narrow: list[Narrowing], *, limit: int, offset: int
) -> Page:
    """A page under substring filters, found one of two ways, whichever is cheap.

    1. Walk the newest `WINDOW` rows of the other filters in list order and test
       each exactly. A term that matches often fills the page there; the share of
       matches in the window also estimates the total.
    2. Otherwise the term is rare: take its candidates from the trigram index
       (a short list), test them exactly, and sort those.
    """
    order = (col(Snapshot.created_at).desc(), col(Snapshot.id))
    window = (
        sa_select(
            col(Snapshot.id),
            col(Snapshot.created_at),
            col(Snapshot.url),
            col(Snapshot.title),
            col(Snapshot.normalized_url),
        )
        .where(*conds)
        .order_by(*order)
        .limit(WINDOW)
        .subquery("window")
    )
    matching = and_(*(n.exact(window.c) for n in narrow))
    wanted = offset + limit
    ids = list(
        session.execute(
            select(window.c.id)
            .where(matching)
            .order_by(window.c.created_at.desc(), window.c.id)
            .limit(wanted)
        ).scalars()
    )
    exact = [n.exact(Snapshot) for n in narrow]
    candidates = [n.candidate for n in narrow if n.candidate is not None]
    found = (
        select(col(Snapshot.id).label("id"), col(Snapshot.created_at).label("created_at"))
        .where(*conds, *candidates, *exact)
        .cte("found")
        .prefix_with("MATERIALIZED")  # drive from the index's candidates, not list order
    )
    counting = select(found.c.id)
    if len(ids) >= wanted:
        seen, hits = session.execute(
            select(func.count(), func.count(case((matching, 1)))).select_from(window)
        ).one()
        if seen < WINDOW:  # the window held every row of the other filters: hits is exact
            return Page(_load(session, ids[offset:]), Total(int(hits)))
        base = count_rows(session, select(col(Snapshot.id)).where(*conds))
        estimate: int | None = int(base * hits / seen)
        if candidates and estimate is not None and estimate <= EXACT_UP_TO:
            estimate = None  # few candidates: counting them exactly is cheap
        total = count_total(session, counting, estimate=estimate)
        return Page(_load(session, ids[offset:]), total)
    seen = session.execute(select(func.count()).select_from(window)).scalar_one()
    if seen < WINDOW:  # the window held every row of the other filters
        return Page(_load(session, ids[offset:]), Total(len(ids)))
    if not candidates:  # short terms only: no index to ask, so walk the list order
        rows = session.exec(
            select(Snapshot).where(*conds, *exact).order_by(*order).offset(offset).limit(limit)
        ).all()
        base = count_rows(session, select(col(Snapshot.id)).where(*conds))
        guess = int(base * len(ids) / seen)  # counting exactly would scan every row
        return Page(list(rows), count_total(session, counting, estimate=guess))
    page = session.execute(
        select(found.c.id, func.count().over())
        .order_by(found.c.created_at.desc(), found.c.id)
        .offset(offset)
        .limit(limit)
    ).all()
    if not page:
        return Page(
            [], Total(int(session.execute(select(func.count()).select_from(found)).one()[0]))
        )
    return Page(_load(session, [i for i, _ in page]), Total(int(page[0][1])))
