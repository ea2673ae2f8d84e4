"""Filtering and paging the snapshot list (the ArchiveBox filter set)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, text
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from crawler import search, snapshot_filters
from crawler.auth import Principal
from crawler.counts import (
    EXACT_UP_TO,
    Total,
    count_rows,
    count_total,
    planner_estimate,
    remembered,
)
from crawler.models import Snapshot, SnapshotTag, Tag, User
from crawler.search_pages import OtherFilters, SearchOrder, search_page
from crawler.snapshot_filters import SEARCH_ROWS, Narrowing

TAG_SCAN_FROM = 2000  # a tag with more snapshots than this may be walked, not driven
WALK_PROBES_PER_LOOKUP = 8  # see _tagged_plan
RARE_MIN, RARE_BELOW = 2_000, 50_000  # bounds of 'few candidates: sort them, not walk the list'
SAMPLE = 2_000  # newest rows whose share of matches estimates a common term's total
# A wider window when SAMPLE cannot tell (PostgreSQL): expected matches at the walk/sort
# threshold, and the most rows it may read.
WIDE_HITS, WIDE_MAX = 16, 50_000
WIDE_FROM = 8_000  # the least `rare_below` (rechecks a probe may cost) that asks the window


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


def has_tag(named: Any, *, tag_ids: Sequence[str] | None = None) -> Any:
    """The snapshot has a tag whose name passes `named` (or one of `tag_ids`, looked up
    beforehand), tested row by row: for walking the list order (or another filter's
    index) past a big tag's snapshots.

    A correlated EXISTS probes the ``(snapshot_id, tag_id)`` primary key once per
    matching tag id (a short list, found once). ``+snapshot.id IN (tagged ids)`` would
    first copy every tagged id into a temporary index: 120 ms for 220,000 of them on
    SQLite, where a page needs a few hundred probes. The OFFSET 0 keeps it a probe on
    PostgreSQL, which otherwise may turn the EXISTS into a semi-join driven from the
    tag's side: a title word (2,000 candidates) under a 2% tag read all 20,000 tagged
    snapshots, 87 ms at 1,000,000 snapshots against 17 ms probing. Given the ids as
    constants, each probe is one index lookup, not a join to ``tag``.
    """
    wanted: Any = list(tag_ids) if tag_ids is not None else select(Tag.id).where(named)
    return (
        select(SnapshotTag.snapshot_id)
        .where(
            col(SnapshotTag.snapshot_id) == col(Snapshot.id),
            col(SnapshotTag.tag_id).in_(wanted),
        )
        .offset(0)
        .exists()
    )


def named_tag_ids(session: Session, name: str) -> list[str]:
    """The ids of the tags called `name` (one per workspace that has it)."""
    return list(session.exec(select(Tag.id).where(col(Tag.name) == name)).all())


def _conditions(
    f: SnapshotFilters, *, scan_tag: bool = False, tag_ids: Sequence[str] | None = None
) -> list[Any]:
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
    if f.tag and scan_tag:
        conds.append(has_tag(Tag.name == f.tag, tag_ids=tag_ids))
    elif f.tag:
        # IN (not a correlated EXISTS): the store probes the tag's snapshots by id
        # instead of testing every snapshot in list order.
        conds.append(
            col(Snapshot.id).in_(
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
    # With `search`: relevance, or newest first when it matches too many to rank
    # (crawler.search_pages); None without a search.
    search_order: SearchOrder | None = None


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
    own = _conditions(filters)
    conds = _visible(own, principal)
    narrow = narrowings(filters, dialect)
    if narrow and not filters.search and sort == "added":
        visible = count_rows(session, select(col(Snapshot.id)).where(*_visible([], principal)))
        tag = None
        if filters.tag:
            links = _tag_links(session, principal, filters.tag).value
            # The tag tested row by row: PostgreSQL, given the tag's IN, hashed all its
            # ids (196,000 at 10M snapshots: 1.8 s under a title filter with 20,000 rows).
            ids = named_tag_ids(session, filters.tag)
            probing = _visible(_conditions(filters, scan_tag=True, tag_ids=ids), principal)
            alone = not _conditions(_without(filters, "tag"))
            workspaces = None if principal.is_admin else list(principal.workspace_ids)
            tag = TagTest(
                links,
                probing,
                alone,
                _visible([], principal),
                _tag_ids(filters.tag),
                ids,
                workspaces,
            )
        return _narrowed_page(session, conds, narrow, visible, limit=limit, offset=offset, tag=tag)
    if filters.search and sort == "added" and all(n.candidate is not None for n in narrow):
        # Other filters too (any but a contains filter of under three letters): words
        # matching too many to rank are listed newest first; with few, None, and they are
        # joined and ranked below.
        workspaces = None if principal.is_admin else list(principal.workspace_ids)
        others = None
        if own or narrow:
            # A domain's index finds its rows in list order (walk); a contains filter's
            # trigram index finds candidates, each confirmed in a form no index serves.
            decided = [
                n.exact(Snapshot) if n.walk is not None else n.confirm(Snapshot) for n in narrow
            ]
            found_by = [n.walk if n.walk is not None else n.candidate for n in narrow]
            # (SQLite lists few rows with their search rows: the trigram candidates by rowid)
            by_rowid = [n.walk is None and n.search_rowids is not None for n in narrow]
            listed_by = [test for test, rowid in zip(found_by, by_rowid, strict=True) if not rowid]
            rowids = [n.search_rowids for n, rowid in zip(narrow, by_rowid, strict=True) if rowid]
            tag_ids = named_tag_ids(session, filters.tag) if filters.tag else None
            # A tag, a status and a title term are all: PostgreSQL's search rows carry them
            # (0019, 0022, 0025), with the title's trigrams in an index of their own.
            rest = _without(_without(_without(filters, "tag"), "status"), "title")
            on_rows = not filters.url__icontains and not filters.domain and not _conditions(rest)
            others = OtherFilters(
                driving=[*own, *found_by, *decided],
                testing=[*_conditions(filters, scan_tag=True, tag_ids=tag_ids), *decided],
                tag_ids=tag_ids if on_rows else None,
                status=filters.status if on_rows else None,
                title=filters.title if on_rows else None,
                probes=[n.probe for n in narrow if n.walk is None and n.probe is not None],
                created=(filters.created_at__gte, filters.created_at__lt),
                listing=([*own, *listed_by, *decided], rowids) if rowids else None,
            )
        searched = search_page(
            session,
            filters.search,
            workspace_ids=workspaces,
            limit=limit,
            offset=offset,
            others=others,
        )
        if searched is not None:
            return Page(_load(session, searched.ids), searched.total, searched.order)
    exact = [n.exact(Snapshot) for n in narrow]
    conds += exact
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
            return Page(_load(session, ids), Total(int(ranked[0][1])), SearchOrder.RELEVANCE)
    if filters.tag and not ranking and not filters.url:
        query, total = _tagged_plan(
            session, principal, filters, query, exact, dialect, offset + limit
        )
    else:
        total = count_total(session, query.with_only_columns(col(Snapshot.id)))
    rows = session.exec(
        query.order_by(*ranking, order, col(Snapshot.id)).offset(offset).limit(limit)
    ).all()
    return Page(list(rows), total, SearchOrder.RELEVANCE if ranking else None)


def _tag_ids(tag: str) -> Any:
    """The ids (as ``id``) of the snapshots tagged `tag`, from the tag's links."""
    return (
        select(col(SnapshotTag.snapshot_id).label("id"))
        .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
        .where(col(Tag.name) == tag)
    )


def _tag_links(session: Session, principal: Principal, tag: str) -> Total:
    """How many snapshots carry `tag` (visible to `principal`): an index-only count of
    its links, since a tag and its snapshots share one workspace."""
    tagged = (
        select(col(SnapshotTag.snapshot_id))
        .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
        .where(col(Tag.name) == tag)
    )
    if not principal.is_admin:
        tagged = tagged.where(col(Tag.workspace_id).in_(principal.workspace_ids))
    # Remembered when large (crawler.counts). Counting 200,000 links took ~100 ms at 10M
    # snapshots, so on PostgreSQL a tag the planner thinks large is first answered with
    # the planner's estimate (marked as one) while the count runs in the background.
    if remembered(session, tagged) is not None:
        return count_total(session, tagged)  # known: no plan to ask for
    planned = planner_estimate(session, tagged)
    if planned is None or planned <= EXACT_UP_TO:
        return count_total(session, tagged)
    capped = session.execute(
        select(func.count()).select_from(tagged.limit(EXACT_UP_TO + 1).subquery())
    ).scalar_one()
    if capped <= EXACT_UP_TO:  # the planner was wrong: small totals stay exact
        return Total(int(capped))
    return count_total(session, tagged, estimate=planned)


def _tagged_plan(
    session: Session,
    principal: Principal,
    filters: SnapshotFilters,
    query: Any,
    exact: list[Any],
    dialect: str,
    wanted: int,
) -> tuple[Any, Total]:
    """The page query and total under a `tag` filter (no search ranking, no ``url=``).

    Two ways to find tagged rows in list order: *drive* from the tag's links
    (look up each tagged snapshot, then sort the ones that pass the other
    filters), or *walk* the rows of the other filters in list order (an index:
    the list order itself, ``status`` or ``crawl_id``), testing membership
    in the tag's id set. Driving costs a lookup per link; walking costs a cheap
    probe per row walked, about `WALK_PROBES_PER_LOOKUP` times cheaper on SQLite
    (measured at 1M snapshots: 50,000 probes in 14 ms, 20,000 lookups in 44 ms).
    A tag alone is counted from its links. `exact` are the substring tests of
    `filters` (crawler.snapshot_filters), which `_conditions` leaves out.
    """
    tag_total = _tag_links(session, principal, filters.tag or "")
    links = tag_total.value
    others = _without(filters, "tag")
    alone = not any(_as_dict(others).values()) and not exact
    if links <= TAG_SCAN_FROM:
        if dialect == "postgresql":
            # PostgreSQL walks the list order probing membership even for a tag with a
            # handful of snapshots (reading every row); start from the tag's links instead.
            tagged = _tag_ids(filters.tag or "").cte("tagged").prefix_with("MATERIALIZED")
            query = query.join(tagged, tagged.c.id == col(Snapshot.id))
        total = tag_total if alone else count_total(session, _ids(query))
        return query, total
    ids = named_tag_ids(session, filters.tag or "")
    walking = select(Snapshot).where(
        *_visible(_conditions(filters, scan_tag=True, tag_ids=ids), principal), *exact
    )
    if alone:
        # A big tag alone: walk the list order probing each row's links. Left to itself
        # PostgreSQL hashed the tag's ids first (200,000 of them at 10M snapshots: ~100 ms
        # a page); a page needs ~wanted / share rows walked.
        return walking, tag_total
    rest = select(col(Snapshot.id)).where(*_visible(_conditions(others), principal), *exact)
    if dialect != "sqlite":
        # With other filters PostgreSQL picks between a hash of the tag's ids and a walk.
        return query, _joint_total(session, principal, walking, query, rest, links)
    budget = WALK_PROBES_PER_LOOKUP * links  # rows a walk may read for the cost of driving
    other_rows = int(
        session.execute(
            select(func.count()).select_from(rest.limit(budget).subquery())
        ).scalar_one()
    )
    if other_rows < budget:
        # Walking every row of the other filters is cheaper than driving: count that way.
        return walking, _joint_total(session, principal, walking, walking, rest, links)
    total = _joint_total(session, principal, walking, query, rest, links)
    # The page walks until `wanted` matches: about wanted * other_rows / total rows.
    if total.value and wanted * other_rows / total.value < budget:
        return walking, total
    return query, total


def _joint_total(
    session: Session, principal: Principal, walking: Any, query: Any, rest: Any, links: int
) -> Total:
    """The total of a big tag under other filters (`rest`: their rows).

    Few rows of the other filters are counted by probing each one's links (`walking`);
    PostgreSQL, given the tag's IN, hashed its 196,000 ids for 10,000 rows of a crawl at
    10M (170 ms). Counting many rows against a big tag took 410 ms (500,000 failed
    snapshots): that total is first estimated, taking tag and filters as unrelated (rows
    x the tag's share), and counted when asked again (crawler.counts).
    """
    other_rows = count_rows(session, rest)
    if other_rows <= EXACT_UP_TO:
        return count_total(session, _ids(walking))
    if links <= EXACT_UP_TO:
        return count_total(session, _ids(query))
    visible = count_rows(session, select(col(Snapshot.id)).where(*_visible([], principal)))
    return count_total(session, _ids(query), estimate=other_rows * links // max(visible, 1))


def _ids(query: Any) -> Any:
    return query.with_only_columns(col(Snapshot.id))


def _as_dict(filters: SnapshotFilters) -> dict[str, Any]:
    return {name: getattr(filters, name) for name in SnapshotFilters.names()}


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


def _term_size(
    session: Session, narrow: list[Narrowing], upto: int, visible: int, tag: TagTest | None
) -> int | None:
    """How many candidates the terms have, for choosing between driving and walking.

    Under a big tag the window of the newest rows was not read yet; when the terms'
    share there puts them well below `upto`, that share stands for the count (the
    estimate only picks the plan: counting 20,000 candidates took ~100 ms at 10M).
    """
    if tag is not None and tag.links > TAG_SCAN_FROM:
        seen, hits = window_stats(session, tag.visible, narrow)
        if hits and seen >= SAMPLE and visible * hits // seen < upto // 2:
            return visible * hits // seen
    return _candidate_count(session, narrow, upto)


@dataclass(frozen=True, slots=True)
class TagTest:
    """A `tag` filter under substring filters: its size, the conditions with the tag
    tested row by row (SQLite; not driving from its ids), and whether the tag is the
    only other filter."""

    links: int
    probing: list[Any]
    alone: bool
    visible: list[Any]  # the conditions of visibility alone
    ids: Any  # SELECT of the tagged snapshots' ids, as ``id``
    tag_ids: Sequence[str] = ()  # the ids of the tags so named
    workspaces: Sequence[str] | None = None  # the visible workspaces (None: all)


def _without(filters: SnapshotFilters, name: str) -> SnapshotFilters:
    return SnapshotFilters(**{**_as_dict(filters), name: None})


def _narrowed_page(
    session: Session,
    conds: list[Any],
    narrow: list[Narrowing],
    visible: int,
    *,
    limit: int,
    offset: int,
    tag: TagTest | None = None,
) -> Page:
    """A page under substring filters, found one of two ways, whichever is cheap.

    The trigram index says how many candidates a term has (counting stops at
    `RARE_BELOW`). A rare term's candidates are tested exactly and sorted: a
    short list, whatever the store's size. A common term instead walks the list
    order testing rows exactly: matches come every few rows, so the page fills
    fast; its total is estimated from a sample of the newest rows and counted
    in the background (crawler.counts). A term too short for trigrams walks too.

    With a `tag`, whichever set is smaller drives: the term's candidates or the
    tag's links; the other is probed. A walk of the list probes a big tag (a few
    thousand steps find a page) and drives from a small one. A big tag skips the
    window: its newest rows lie far apart.
    """
    exact = [n.exact(Snapshot) for n in narrow]
    candidates = [n.candidate for n in narrow if n.candidate is not None]
    confirmed = [n.confirm(Snapshot) for n in narrow]  # `exact`, beside the candidates
    walks = [n.walk for n in narrow if n.walk is not None]
    if tag is None and len(walks) == len(narrow):
        # Every narrowing is an index in list order that decides alone (a host): the page
        # is the first rows of that index, the total its count (remembered when large).
        # Testing the newest rows exactly first, as below, read 2,000 table rows for it.
        rows = _rows_in_order(session, [*conds, *walks, *exact], offset, limit)
        return Page(rows, count_total(session, select(col(Snapshot.id)).where(*conds, *walks)))
    if tag is not None and tag.links <= TAG_SCAN_FROM:
        # A small tag drives: its few snapshots are tested and sorted. The window of the
        # newest rows below would walk the whole list under a tag with fewer rows than
        # it holds (35 s at 10M snapshots on PostgreSQL).
        tagged = tag.ids.cte("tagged").prefix_with("MATERIALIZED")
        found = (
            select(col(Snapshot.id).label("id"), col(Snapshot.created_at).label("created_at"))
            .join(tagged, tagged.c.id == col(Snapshot.id))
            .where(*conds, *walks, *confirmed)  # no index: the tag's rows are the drivers
            .cte("found")
        )
        return _sorted_page(session, found, offset, limit)
    wanted = offset + limit
    rare_below = min(RARE_BELOW, max(RARE_MIN, int(math.sqrt(wanted * visible / 3))))
    big_tag = tag is not None and tag.links > TAG_SCAN_FROM
    if tag is not None and big_tag:
        # Walking the list past a big tag too reads about wanted * visible² / (C * links)
        # rows (term and tag taken as unrelated): candidates drive up to a larger C.
        with_tag = int(visible * math.sqrt(wanted / (3 * tag.links)))
        rare_below = min(RARE_BELOW, max(rare_below, with_tag))
    if tag is not None and big_tag:
        page = _tagged_candidates_page(session, narrow, tag, rare_below, offset, limit)
        if page is not None:
            return page
    seen = hits = 0
    window = [*conds, *walks]  # the window's share of matches is among rows passing walks too
    counting = select(col(Snapshot.id)).where(*conds, *candidates, *confirmed)
    if not big_tag:
        # First the newest SAMPLE rows, tested exactly: a common term fills the page there
        # (and gives its share for the estimate) without asking the trigram index, whose
        # candidate list for a common term is long (a GIN bitmap is built in full).
        seen, hits = window_stats(session, window, narrow)
        if seen < SAMPLE or hits >= wanted:
            return _window_page(session, window, narrow, counting, offset, limit, seen, hits)
    common = False
    if seen:  # the window above was read (no big tag) and held SAMPLE rows
        base = count_rows(session, select(col(Snapshot.id)).where(*window))
        common = base * hits / seen >= rare_below  # a deep page of a common term: walk
        wide = min(WIDE_MAX, WIDE_HITS * base // rare_below)
        postgres = session.get_bind().dialect.name == "postgresql"
        if not common and postgres and rare_below >= WIDE_FROM and wide > seen:
            # SAMPLE rows hold ~3 matches of a term near the threshold: too few to tell
            # a 0.2% term (walk) from a 0.05% one (sort). Asking pg_trgm instead made
            # PostgreSQL recheck up to `rare_below` candidates, each on its own table page
            # (~150-200 ms at 10M snapshots, one request in six). A wider window of the
            # newest rows, pages every list request keeps cached, tells them apart. In a
            # smaller store the recheck is cheaper than the window (1M: p50 29-42 ms
            # without it, 42-58 with it). SQLite's trigram table counts candidates
            # without reading the table.
            seen, hits = window_stats(session, window, narrow, size=wide)
            if seen < wide or hits >= wanted:
                return _window_page(
                    session,
                    window,
                    narrow,
                    counting,
                    offset,
                    limit,
                    seen,
                    hits,
                    size=wide,
                    base=base,
                )
            # Measured at 10M (warm): the recheck of a candidate costs ~5 times a walked row
            # and the sort reads the candidates twice, so walking wins from about half the
            # threshold on; below it, the candidates are few enough to recheck and sort.
            common = 2 * base * hits / seen >= rare_below
    size = None if common else _term_size(session, narrow, rare_below, visible, tag)
    # Few candidates drive (the tag's ids are probed) unless the tag has fewer rows.
    few = tag is not None and size is not None and size < tag.links
    driving = tag.probing if tag is not None and few else conds
    walking = tag.probing if tag is not None and tag.links > TAG_SCAN_FROM else conds
    found = (
        select(col(Snapshot.id).label("id"), col(Snapshot.created_at).label("created_at"))
        .where(*driving, *candidates, *confirmed)
        .cte("found")
        .prefix_with("MATERIALIZED")  # drive from the index's candidates, not list order
    )
    # Sorting C candidates costs ~3 lookups each; walking the list (other filters keep
    # the same share of candidates as of all rows) reads about wanted * visible / C
    # rows. They break even near sqrt(wanted * visible / 3) candidates (rare_below).
    if size is not None and size < rare_below:
        return _sorted_page(session, found, offset, limit)
    rows = _rows_in_order(session, [*walking, *walks, *exact], offset, limit, walk=True)
    least = offset + len(rows)  # an estimate below what the walk found would be wrong
    if tag is None and not walks and seen:
        # The walked rows are those the window above sampled: its share gives the estimate.
        return Page(rows, count_total(session, counting, estimate=_scaled(base, seen, hits, least)))
    sampled = walking
    if tag is not None and tag.alone:
        base = tag.links
        if walking is tag.probing:
            # Finding a big tag's newest SAMPLE rows walks ~SAMPLE / share rows; sample the
            # term's share among the newest rows of all (taking term and tag as unrelated:
            # an estimate until counted) instead.
            sampled = tag.visible
    else:
        base = count_rows(session, select(col(Snapshot.id)).where(*walking))
    return Page(rows, _estimated_total(session, sampled, narrow, select(found.c.id), base, least))


def _tagged_candidates_page(
    session: Session,
    narrow: list[Narrowing],
    tag: TagTest,
    rare_below: int,
    offset: int,
    limit: int,
) -> Page | None:
    """The page of a term under a big tag from candidates that carry the tag, when an index
    holds both (PostgreSQL's title, migration 0022) and they are few; else None.

    Without it, each of a 0.2% word's 20,000 candidates at 10M snapshots was rechecked on
    its own table page and then probed for the tag (116 ms warm); the index's intersection
    leaves the few hundred that hold both. Every term is still tested exactly. The tag ids
    of a search row are kept in step with the links by triggers, so a term and a tag alone
    are answered from the search rows; with other filters the candidates are joined to the
    snapshots and the tag is tested on the links (`probing`).
    """
    indexed = [n for n in narrow if n.tagged is not None]
    if not indexed or not tag.tag_ids:
        return None
    term, rows = indexed[0], SEARCH_ROWS.c
    assert term.tagged is not None
    candidates = term.tagged(tag.tag_ids)
    if tag.alone and narrow == indexed[:1]:
        # The term and the tag are all there is: the search rows hold the title, list
        # order, workspace and tag ids, so the table is not read at all (half of the
        # random pages), and the page is sorted from them.
        visible = [] if tag.workspaces is None else [rows.workspace_id.in_(tag.workspaces)]
        found = (
            sa_select(rows.snapshot_id.label("id"), rows.created_at.label("created_at"))
            .where(candidates, term.confirm(rows), *visible)
            .limit(rare_below)
            .cte("found")
            .prefix_with("MATERIALIZED")
        )
        return _capped_sorted_page(session, found, offset, limit, cap=rare_below)
    tagged = sa_select(rows.snapshot_id).where(candidates)
    size = session.execute(
        select(func.count()).select_from(tagged.limit(rare_below).subquery())
    ).scalar_one()
    if size >= rare_below:  # common in the tag too: walking the list finds a page sooner
        return None
    confirmed = [n.confirm(Snapshot) for n in narrow]
    found = (
        select(col(Snapshot.id).label("id"), col(Snapshot.created_at).label("created_at"))
        .where(*tag.probing, col(Snapshot.id).in_(tagged), *confirmed)
        .cte("found")
        .prefix_with("MATERIALIZED")
    )
    return _sorted_page(session, found, offset, limit)


def _scaled(base: int, seen: int, hits: int, least: int = 0) -> int:
    """A total estimated from a window's share: `hits` of `seen` rows, over `base` rows
    (never below the window's own matches, nor `least`)."""
    return max(int(base * hits / seen), int(hits), least)


def _window_page(
    session: Session,
    window: list[Any],
    narrow: list[Narrowing],
    counting: Any,
    offset: int,
    limit: int,
    seen: int,
    hits: int,
    *,
    size: int | None = None,
    base: int | None = None,
) -> Page:
    """The page from the newest `size` rows under `window`, which held `hits` matches
    among `seen` rows: exact when it held every row, else estimated (over `base` rows,
    counted here unless known) until `counting` is counted (crawler.counts)."""
    ids = _window_ids(session, window, narrow, offset, limit, size=size)
    if seen < (size or SAMPLE):  # the window held every row of the other filters
        return Page(_load(session, ids), Total(hits))
    if base is None:
        base = count_rows(session, select(col(Snapshot.id)).where(*window))
    estimate = _scaled(base, seen, hits)
    return Page(_load(session, ids), count_total(session, counting, estimate=estimate))


def _sorted_page(session: Session, found: Any, offset: int, limit: int) -> Page:
    """A page of `found` (a CTE of ``id``, ``created_at``) sorted into list order, with
    its exact total."""
    page = _capped_sorted_page(session, found, offset, limit, cap=None)
    assert page is not None
    return page


def _capped_sorted_page(
    session: Session, found: Any, offset: int, limit: int, *, cap: int | None
) -> Page | None:
    """`_sorted_page`, or None when `found` was cut at `cap` rows (too many to sort)."""
    page = session.execute(
        select(found.c.id, func.count().over())
        .order_by(found.c.created_at.desc(), found.c.id)
        .offset(offset)
        .limit(limit)
    ).all()
    total = int(page[0][1]) if page else None
    if total is None:
        total = int(session.execute(select(func.count()).select_from(found)).scalar_one())
    if cap is not None and total >= cap:
        return None
    return Page(_load(session, [i for i, _ in page]), Total(total))


def _rows_in_order(
    session: Session, conds: list[Any], offset: int, limit: int, *, walk: bool = False
) -> list[Snapshot]:
    """One page of the rows passing `conds` in list order; `walk`: read in list order.

    A walk was chosen because the term is common along the list. PostgreSQL, costing its
    pg_trgm candidates instead, read all 20,000 of a 0.2% word at 10M snapshots and sorted
    them (180-280 ms, against ~75 ms walking); GIN is only read through bitmap scans, so
    turning those off for the one statement keeps the walk. Sequential scans go too: for
    a word it has no statistics of, PostgreSQL expects ~0.01% of rows to match, so a walk
    to 50 of them looked like half the table and it read all of it and sorted instead
    (1.5 s at 1M snapshots for a 0.2% word, against ~20 ms walking).
    """
    statement = (
        select(Snapshot)
        .where(*conds)
        .order_by(col(Snapshot.created_at).desc(), col(Snapshot.id))
        .offset(offset)
        .limit(limit)
    )
    if not (walk and session.get_bind().dialect.name == "postgresql"):
        return list(session.exec(statement).all())
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    try:
        return list(session.exec(statement).all())
    finally:
        session.execute(text("SET LOCAL enable_bitmapscan = on"))
        session.execute(text("SET LOCAL enable_seqscan = on"))


def _window(conds: list[Any], size: int | None = None) -> Any:
    """The newest `size` (default `SAMPLE`) rows under `conds`, with the columns the exact
    tests read."""
    return (
        sa_select(
            col(Snapshot.id).label("id"),
            col(Snapshot.created_at).label("created_at"),
            col(Snapshot.url).label("url"),
            col(Snapshot.title).label("title"),
            col(Snapshot.normalized_url).label("normalized_url"),
        )
        .where(*conds)
        .order_by(col(Snapshot.created_at).desc(), col(Snapshot.id))
        .limit(size or SAMPLE)
        .subquery("window")
    )


def window_stats(
    session: Session, conds: list[Any], narrow: list[Narrowing], *, size: int | None = None
) -> tuple[int, int]:
    """(rows, matches) in the window of `conds`."""
    window = _window(conds, size)
    matching = and_(*(n.exact(window.c) for n in narrow))
    seen, hits = session.execute(
        select(func.count(), func.count(case((matching, 1)))).select_from(window)
    ).one()
    return int(seen), int(hits)


def _window_ids(
    session: Session,
    conds: list[Any],
    narrow: list[Narrowing],
    offset: int,
    limit: int,
    *,
    size: int | None = None,
) -> list[str]:
    """The page's ids among the window's matches, in list order."""
    window = _window(conds, size)
    matching = and_(*(n.exact(window.c) for n in narrow))
    return list(
        session.execute(
            select(window.c.id)
            .where(matching)
            .order_by(window.c.created_at.desc(), window.c.id)
            .offset(offset)
            .limit(limit)
        ).scalars()
    )


def _estimated_total(
    session: Session,
    conds: list[Any],
    narrow: list[Narrowing],
    counting: Any,
    base: int,
    least: int = 0,
) -> Total:
    """Exact when the other filters leave few rows; else the share of matches among the
    newest `SAMPLE` rows times the rows of the other filters (at least `least`, what the
    page already found), until counted."""
    seen, hits = window_stats(session, conds, narrow)
    if seen < SAMPLE:  # the sample held every row of the other filters
        return Total(int(hits))
    return count_total(session, counting, estimate=_scaled(base, seen, hits, least))
