"""Filtering and paging the snapshot list (the ArchiveBox filter set)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal_column
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from crawler import search, snapshot_filters
from crawler.auth import Principal
from crawler.counts import Total, count_rows, count_total
from crawler.models import Snapshot, SnapshotTag, Tag, User
from crawler.snapshot_filters import Narrowing

TAG_SCAN_FROM = 2000
RARE_MIN, RARE_BELOW = 2_000, 50_000  # bounds of 'few candidates: sort them, not walk the list'
SAMPLE = 2_000  # newest rows whose share of matches estimates a common term's total


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


SORTS: dict[str, Any] = {
    "added": col(Snapshot.created_at).desc(),
    "captured": col(Snapshot.downloaded_at).desc().nulls_last(),
    "title": func.lower(func.coalesce(col(Snapshot.title), col(Snapshot.url))).asc(),
}


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
    session: Session,
    principal: Principal,
    filters: SnapshotFilters,
    *,
    limit: int,
    offset: int,
    sort: str = "added",
) -> tuple[list[Snapshot], int]:
    """Newest first (or by `sort`: a key of SORTS); `url=` is a URL's timeline."""
    page = query_page(session, principal, filters, limit=limit, offset=offset, sort=sort)
    return page.rows, page.total.value


def _visible(conds: list[Any], principal: Principal) -> list[Any]:
    if principal.is_admin:
        return conds
    return [*conds, col(Snapshot.workspace_id).in_(principal.workspace_ids)]


def query_page(
    session: Session,
    principal: Principal,
    filters: SnapshotFilters,
    *,
    limit: int,
    offset: int,
    sort: str = "added",
) -> Page:
    """One page in list order (relevance first with `search`) and the list's total."""
    dialect = session.get_bind().dialect.name
    conds = _visible(_conditions(filters), principal)
    narrow = narrowings(filters, dialect)
    if narrow and not filters.search and sort == "added":
        visible = count_rows(session, select(col(Snapshot.id)).where(*_visible([], principal)))
        return _narrowed_page(session, conds, narrow, visible, limit=limit, offset=offset)
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
    elif filters.tag and not ranking and not big_tag and dialect == "postgresql":
        # PostgreSQL walks the list order probing membership even for a tag with a
        # handful of snapshots (reading every row); start from the tag's links instead.
        links = (
            select(col(SnapshotTag.snapshot_id).label("id"))
            .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
            .where(col(Tag.name) == filters.tag)
            .cte("tagged")
            .prefix_with("MATERIALIZED")
        )
        query = query.join(links, links.c.id == col(Snapshot.id))
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


def _candidate_count(session: Session, narrow: list[Narrowing], upto: int) -> int | None:
    """The smallest candidate set's size, counted up to `upto`; None without an index."""
    sizes = [
        int(
            session.execute(select(func.count()).select_from(n.probe(upto).subquery())).scalar_one()
        )
        for n in narrow
        if n.probe is not None
    ]
    return min(sizes) if sizes else None


def _narrowed_page(
    session: Session,
    conds: list[Any],
    narrow: list[Narrowing],
    visible: int,
    *,
    limit: int,
    offset: int,
) -> Page:
    """A page under substring filters, found one of two ways, whichever is cheap.

    The trigram index says how many candidates a term has (counting stops at
    `RARE_BELOW`). A rare term's candidates are tested exactly and sorted: a
    short list, whatever the store's size. A common term instead walks the list
    order testing rows exactly: matches come every few rows, so the page fills
    fast; its total is estimated from a sample of the newest rows and counted
    in the background (crawler.counts). A term too short for trigrams walks too.
    """
    order = (col(Snapshot.created_at).desc(), col(Snapshot.id))
    exact = [n.exact(Snapshot) for n in narrow]
    candidates = [n.candidate for n in narrow if n.candidate is not None]
    found = (
        select(col(Snapshot.id).label("id"), col(Snapshot.created_at).label("created_at"))
        .where(*conds, *candidates, *exact)
        .cte("found")
        .prefix_with("MATERIALIZED")  # drive from the index's candidates, not list order
    )
    # Sorting C candidates costs ~3 lookups each; walking the list (other filters keep
    # the same share of candidates as of all rows) reads about wanted * visible / C
    # rows. They break even near sqrt(wanted * visible / 3) candidates.
    wanted = offset + limit
    rare_below = min(RARE_BELOW, max(RARE_MIN, int(math.sqrt(wanted * visible / 3))))
    size = _candidate_count(session, narrow, rare_below)
    if size is not None and size < rare_below:
        page = session.execute(
            select(found.c.id, func.count().over())
            .order_by(found.c.created_at.desc(), found.c.id)
            .offset(offset)
            .limit(limit)
        ).all()
        if not page:
            total = session.execute(select(func.count()).select_from(found)).scalar_one()
            return Page([], Total(int(total)))
        return Page(_load(session, [i for i, _ in page]), Total(int(page[0][1])))
    rows = session.exec(
        select(Snapshot).where(*conds, *exact).order_by(*order).offset(offset).limit(limit)
    ).all()
    base = count_rows(session, select(col(Snapshot.id)).where(*conds))
    return Page(list(rows), _estimated_total(session, conds, narrow, select(found.c.id), base))


def _estimated_total(
    session: Session, conds: list[Any], narrow: list[Narrowing], counting: Any, base: int
) -> Total:
    """Exact when the other filters leave few rows; else the share of matches among the
    newest `SAMPLE` rows times the rows of the other filters, until counted."""
    sample = (
        sa_select(
            col(Snapshot.url).label("url"),
            col(Snapshot.title).label("title"),
            col(Snapshot.normalized_url).label("normalized_url"),
        )
        .where(*conds)
        .order_by(col(Snapshot.created_at).desc(), col(Snapshot.id))
        .limit(SAMPLE)
        .subquery("sample")
    )
    matching = and_(*(n.exact(sample.c) for n in narrow))
    seen, hits = session.execute(
        select(func.count(), func.count(case((matching, 1)))).select_from(sample)
    ).one()
    if seen < SAMPLE:  # the sample held every row of the other filters
        return Total(int(hits))
    return count_total(session, counting, estimate=max(int(base * hits / seen), int(hits)))
