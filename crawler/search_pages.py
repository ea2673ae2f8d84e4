"""A search's page: ranked by relevance when its matches are few, newest first when many.

Ranking reads every match: ``ts_rank`` each match's tsvector, bm25 each match's
column sizes, both each match's ``created_at`` for the tie-break. A word in 37% of
1,000,000 snapshots ("news") took 354 ms on PostgreSQL and 904 ms on SQLite, and a
0.2% word at 10,000,000 read ~19,800 scattered pages. No index of either engine
keeps a word's matches in rank order, but both can find a word's matches among
the newest rows. So a search whose words match at most `RANK_LIMIT` visible
snapshots is ranked (relevance, then newest, then id); one whose words match more
is listed newest first, as the snapshot list is (and as ArchiveBox lists its own
search results), and the page says which order it used. The words alone decide,
so a search keeps its order when other filters are added.

Newest first is found in *windows* of the newest rows, grown until one holds
the page: on PostgreSQL the word's GIN posting list ANDed with a range of the
search rows' ``created_at`` index (migration 0024); on SQLite the FTS5 match
limited to the rowids of the window's search rows. Only matches inside the
window are read. Every match outside a window is older than every row in it, so
a window holding the page's matches gives exactly the list's page. Other filters
are tested on the window's matches; when they leave few rows (`DRIVE_LIMIT`),
those rows drive instead and each is tested for the words.

SQLite tries something cheaper first. FTS5 merges all the lists of a prefix's words
for every statement that matches it (~9 ms for "news*" at 1M, whatever rowids the
statement asks for), so the count keeps the newest matches' rowids, and the list
order is walked (on the other filters' index when they have one), each row's search
rowid looked up among them. Only rows whose search rows are older than those kept
need FTS5 again; windows are left for when they keep coming. Before all that it
asks the words without their prefix, which FTS5 reads without a merge: when they
already match too many to rank, a near page walks the list order instead, each
chunk of rows passing the other filters tested by indexing them alone.

This module decides the way and assembles the page; the engines are in
crawler.search_pg and crawler.search_sqlite, what they share (windows, the
engine interface) in crawler.search_windows, and the limits in
crawler.search_limits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from crawler import search_limits as limits
from crawler.counts import Total, count_rows, count_total, planner_estimate
from crawler.models import Snapshot, SnapshotTag
from crawler.search import parse_query, ref_hits
from crawler.search_pg import PostgresEngine
from crawler.search_sqlite import SqliteEngine
from crawler.search_windows import LIST_ORDER, Engine


class SearchOrder(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"


@dataclass(frozen=True, slots=True)
class SearchPage:
    ids: list[str]
    total: Total
    order: SearchOrder


@dataclass(frozen=True, slots=True)
class OtherFilters:
    """The filters beside the words, as conditions on ``Snapshot`` (visibility apart).

    `driving` is how an index finds their rows (a tag's links as an IN list);
    `testing` is the same filters as a test of one row (a tag probed by id), for the
    matches a window holds.
    """

    driving: list[Any] = field(default_factory=list)
    testing: list[Any] = field(default_factory=list)
    # When a tag, a status and a title term are all the other filters (any of them): the
    # tag's ids, the status, the term. PostgreSQL's search rows carry the snapshot's title
    # (0019), tag ids (0022) and status (0025), so a window tests them without reading the
    # snapshot (news + a 2% tag at 10M: ~3,700 snapshot rows read for a page); GIN finds a
    # word's rows of one status or tag, and the title's trigram index the term's rows.
    tag_ids: list[str] | None = None
    status: str | None = None
    title: str | None = None
    # A title or url contains filter's probe: a SELECT of up to n of its candidates, from
    # the trigram index. The rows left are counted only when the probes find few: given a
    # common term ("news", 30% of titles at 1M) a count would first gather every candidate.
    probes: list[Callable[[int], Any]] = field(default_factory=list)
    # A created_at range asked for (from, before; either may be open): PostgreSQL's
    # windows start at its end, not at the newest row (news + a week in the middle of
    # 10M snapshots: windows grew over half the rows to reach it, 405 ms).
    created: tuple[datetime | None, datetime | None] = (None, None)
    # SQLite: `driving` with its trigram candidate tests left out, and those candidates
    # as SELECTs of their search rows' ids (Narrowing.search_rowids), for listing the
    # few rows; None without such candidates.
    listing: tuple[list[Any], list[Any]] | None = None


def search_page(
    session: Session,
    query: str,
    *,
    workspace_ids: Sequence[str] | None,
    limit: int,
    offset: int,
    others: OtherFilters | None = None,
) -> SearchPage | None:
    """The page of `query` (and `others`) in list order ``added``. None where this does
    not answer: no words, a query that is also an id or timestamp prefix, or words with
    few enough matches to rank beside other filters (the caller joins and ranks them)."""
    terms = parse_query(query)
    if not terms or ref_hits(query) is not None:
        return None
    dialect = session.get_bind().dialect.name
    engine: Engine = (
        PostgresEngine(session, terms, workspace_ids)
        if dialect == "postgresql"
        else SqliteEngine(session, terms, workspace_ids, offset + limit, limit)
    )
    matching = engine.count_upto()
    if matching <= limits.RANK_LIMIT:
        if others is not None:
            return None
        ranked = engine.ranked()
        return SearchPage(
            ranked[offset : offset + limit], Total(len(ranked)), SearchOrder.RELEVANCE
        )
    wanted = offset + limit
    tests = others.testing if others else []
    kept = 1.0  # the share of the rows the other filters leave
    planned_left = None  # the planner's estimate of those rows, when it was asked
    share = None  # or their share of the newest rows, when many and not counted
    listed = 0  # about how many rows are visible (with other filters: counted or planned)
    if others is not None:
        # SQLite walks a range that ends before the newest rows in list order, newest
        # first (news + a week in the middle of 1M: windows from the newest row took
        # 654 ms to reach it).
        if dialect == "sqlite" and others.created[1] is not None:
            return _driven_page(session, engine, others, wanted, offset)
        rows = select(col(Snapshot.id)).where(*engine.visible(), *others.driving)
        tag_alone = others.tag_ids if others.status is None and others.title is None else None
        if tag_alone is not None and workspace_ids is None and dialect == "sqlite":
            # A tag alone, for an admin: its links are counted on the tag's index alone
            # (a 2% tag's snapshots through the IN list took 14 ms to count to 5,001).
            tagged = col(SnapshotTag.tag_id).in_(tag_alone)
            rows = select(col(SnapshotTag.snapshot_id)).where(tagged)
        everything = select(col(Snapshot.id)).where(*engine.visible())
        # A title term on PostgreSQL's search rows is found by their trigram index inside
        # each window, so it is not probed: a probe rechecks each candidate on its table
        # page (a word not asked before, at 10M: 143 ms to find 5,001).
        titled = dialect == "postgresql" and others.title is not None
        candidates = None if titled else _fewest_candidates(session, others.probes)
        left: int | None = None  # the rows the other filters leave (at least)
        if candidates is not None and candidates <= limits.DRIVE_LIMIT:
            left = candidates  # no more rows than that: not counted again
        elif titled or candidates is not None:
            # (the planner's estimate of a trigram term was seen 4x off, both ways)
            share, seen = _newest_share(session, everything, others.testing)
            if not titled and seen <= 1:
                share = None  # none among the newest rows: they may be few (/p/1234)
        if left is None and share is None:
            left, planned_left = _rows_left(session, rows)
        if left is not None and left <= limits.DRIVE_LIMIT:
            by, search_rowids = others.listing or (None, [])
            return _driven_page(
                session, engine, others, wanted, offset, stepwise=False, by=by, rowids=search_rowids
            )
        # PostgreSQL's estimate of all the rows will do: this only sizes a first window
        # (an exact count of 10,000,000 took 340 ms, when not remembered).
        listed = max(1, planner_estimate(session, everything) or count_rows(session, everything))
        if share is not None:
            left = max(limits.DRIVE_LIMIT + 1, round(share * listed))
        assert left is not None  # counted, probed or from the share
        kept = min(1.0, left / listed)
    if isinstance(engine, SqliteEngine) and engine.deferred:
        # SQLite found the words dense without reading their newest matches (FTS5 merges
        # a prefix's lists to read any: 16-28 ms for "news*" at 1M). When the page is near
        # and the other filters keep enough rows, the list order is walked instead and
        # its rows passing them tested a chunk at a time: "news" + url contains a 10%
        # term, ~2,000 rows walked and ~200 tested.
        if others is not None and share is None:  # (SQLite counted them only to a cap)
            share, _ = _newest_share(
                session, select(col(Snapshot.id)).where(*engine.visible()), tests
            )
            kept = share
        # (a status alone is read off its index in list order: no row is walked past)
        if engine.walk_pays(wanted, kept, walked_past=not _status_alone(others)):
            passing = None if others is None else round(kept * listed)
            return _driven_page(
                session, engine, others or OtherFilters(), wanted, offset, by=tests, rows=passing
            )
    engine.tag_ids = others.tag_ids if others else None
    engine.status = others.status if others else None
    engine.title = others.title if others else None
    engine.created = others.created if others else (None, None)
    ids, count, exact = engine.newest(wanted, matching, tests, kept)
    if not exact and others is None:  # never fewer than were counted to choose this order
        count = max(count, matching)
    if not exact and planned_left is not None:
        # Never more than the other filters leave: the newest rows' share overstates a
        # filter that keeps mostly new rows (news + created_at in the last month at 1M:
        # 369,333 estimated, 26,000 there).
        count = min(count, planned_left)
    count = max(count, len(ids))  # at least the matches found for these pages
    total = _total(session, engine, others, count, exact)
    return SearchPage(ids[offset:wanted], total, SearchOrder.NEWEST)


def _status_alone(others: OtherFilters | None) -> bool:
    """Whether a status is the only filter beside the words."""
    return (
        others is not None
        and others.status is not None
        and others.tag_ids is None
        and others.title is None
    )


def _driven_page(
    session: Session,
    engine: Engine,
    others: OtherFilters,
    wanted: int,
    offset: int,
    *,
    stepwise: bool = True,
    by: list[Any] | None = None,
    rows: int | None = None,
    rowids: Sequence[Any] = (),
) -> SearchPage:
    """The page found from the other filters' rows (found `by` these conditions, else
    their driving ones, and the search `rowids`; about `rows` of them, else counted),
    each tested for the words. `stepwise`: they are many, read in list order a chunk at
    a time."""
    driving = others.driving if by is None else by
    ids, count, exact = engine.driven(
        wanted, driving, stepwise=stepwise, rows=rows, search_rowids=rowids
    )
    total = _total(session, engine, others, count, exact)
    return SearchPage(ids[offset:wanted], total, SearchOrder.NEWEST)


def _total(
    session: Session, engine: Engine, others: OtherFilters | None, count: int, exact: bool
) -> Total:
    """The page's total: `count`, or when that is estimated (from a window, or the part
    of the few rows tested), counted in the background and then remembered."""
    if exact:
        return Total(count)
    counting = select(col(Snapshot.id)).where(
        *engine.visible(), *(others.driving if others else []), engine.membership()
    )
    return count_total(session, counting, estimate=count)


def _rows_left(session: Session, rows: Any) -> tuple[int, int | None]:
    """How many rows the other filters leave (at least), and PostgreSQL's estimate of
    it (None on SQLite). The estimate answers when it is well past `DRIVE_LIMIT`
    (counting a 2% tag's 20,000 rows took 24-66 ms at 1M); otherwise they are counted
    up to just past `DRIVE_LIMIT`."""
    planned = planner_estimate(session, rows)
    if planned is not None and planned > 2 * limits.DRIVE_LIMIT:
        return planned, planned
    capped = rows.limit(limits.DRIVE_LIMIT + 1).subquery()
    counted = int(session.execute(select(func.count()).select_from(capped)).scalar_one())
    return counted, planned


def _fewest_candidates(session: Session, probes: Sequence[Callable[[int], Any]]) -> int | None:
    """The fewest candidates a probe finds, counted to just past `DRIVE_LIMIT` (None
    without probes): the rows left are at most that many. PostgreSQL does not count a
    probe its planner expects to find many: a bitmap scan gathers every candidate before
    the first (`example.org` in urls at 10M: 100-120 ms)."""
    counts = []
    for probe in probes:
        planned = planner_estimate(session, probe(2 * limits.DRIVE_LIMIT))
        if planned is not None and planned >= 2 * limits.DRIVE_LIMIT:
            counts.append(limits.DRIVE_LIMIT + 1)
            continue
        found = probe(limits.DRIVE_LIMIT + 1).subquery()
        counts.append(int(session.execute(select(func.count()).select_from(found)).scalar_one()))
    return min(counts) if counts else None


def _newest_share(session: Session, everything: Any, tests: list[Any]) -> tuple[float, int]:
    """The share of the newest visible rows (up to `SHARE_SAMPLE`) that pass `tests`,
    counting at least one, and how many passed: where a newest-first page's matches
    are, so it sizes the first window. A tenant with fewer rows is sampled whole."""
    newest = everything.order_by(*LIST_ORDER).limit(limits.SHARE_SAMPLE)
    sampled = select(func.count()).select_from(newest.subquery())
    passing = select(func.count()).where(col(Snapshot.id).in_(newest), *tests)
    seen = int(session.execute(passing).scalar_one())
    return max(1, seen) / max(1, int(session.execute(sampled).scalar_one())), seen
