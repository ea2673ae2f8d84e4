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
need FTS5 again; windows are left for when they keep coming.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    table,
)
from sqlalchemy import column as column_
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlmodel import Session, col, select

from crawler.counts import Total, count_rows, count_total, planner_estimate
from crawler.models import Snapshot, SnapshotTag
from crawler.search import (
    PG_MATCH,
    SQLITE_SCORE,
    Term,
    fts5_query,
    parse_query,
    ref_hits,
    ts_query,
)
from crawler.snapshot_filters import confirm_contains, pg_candidates

RANK_LIMIT = 2_000  # ranked up to this many visible matches (~14 ms of reads at 10M)
SORT_LIMIT = 20_000  # SQLite: up to this many matches are sorted whole (~23 ms at 1M)
DRIVE_LIMIT = 5_000  # other filters leaving up to this many rows drive a newest-first page
MARGIN = 1.5  # a window is sized to hold this many times the matches the page needs
GROWTH = 16  # a window that held no match grows this many times
HITS_CAP = 4_000  # matches a window may read; more and it is shrunk instead
FIRST_WINDOW = 2_000  # SQLite: rows in the first window of a word with many matches
# PostgreSQL: a word the planner expects on at most this many rows is counted from its
# index entries; one with more than RANK_LIMIT * ENTRIES_MARGIN entries is not ranked,
# without counting its rows. The margin is for entries of dead rows not yet vacuumed:
# every updated row leaves one until then (a test that updated each row once saw twice
# the matches), so only a word with two in three of its entries dead is misjudged.
ENTRIES_UPTO = 100_000
ENTRIES_MARGIN = 3
TAG_INDEX_SHARE = 0.1  # PostgreSQL: a window this wide may ask GIN for the tag, status too
MAX_ROUNDS = 12  # windows tried before every match is sorted instead
WALK_ROUNDS = 4  # SQLite: walks of the list order before windows instead
# SQLite: the count reads the matches among this many of the newest search rows (at
# least; SPAN_PER_ROW for each row of the pages asked for): "news" + a 5% filter needs
# ~2,700 rows for a page of 50
NEWEST_SPAN = 20_000
SPAN_PER_ROW = 40
MAX_SPAN = 200_000  # (a deep page past that is found by windows)
UNDECIDED_LIMIT = 2_000  # SQLite: rows a walk may leave to FTS5 at once; more: windows
# PostgreSQL: testing a row for the words costs about this many GIN postings read
ROW_TEST_COST = 5
SHARE_SAMPLE = 1_000  # newest rows tested for a contains filter's share (when many)
# PostgreSQL: a word in at least this share of the search rows (their statistics' most
# common elements) is left out of a window's GIN scan when a rarer word stays, and tested
# on each row instead. GIN reads a word's whole posting list to intersect it: "news" + a
# 0.2% word at 10M read ~3.7M postings (18-23 ms) per statement, for ~75 rows; without
# "news" the window reads ~200 rows. At 10% both cost about the same.
COMMON_SHARE = 0.1

_SEARCH_ROWS = table(
    "snapshot_search",
    column_("id", Integer),
    column_("snapshot_id", String),
    column_("created_at"),
    column_("workspace_id", String),
    column_("document"),
    column_("tag_ids", ARRAY(String(64))),
    column_("status", String),
    column_("title", String),
)
_ENGLISH: Any = literal_column("'english'::regconfig")  # as crawler.search's PG_MATCH
_FTS = table("snapshot_fts", column_("rowid", Integer))
_LIST_ORDER = (col(Snapshot.created_at).desc(), col(Snapshot.id))  # the snapshot list's


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
    # When a tag and a status are all the other filters (either or both): the tag's ids
    # and the status. PostgreSQL's search rows carry their snapshot's tag ids (migration
    # 0022) and status (0025), so a window tests them without reading the snapshot (news +
    # a 2% tag at 10M: ~3,700 snapshot rows read for a page), and GIN finds a word's rows
    # of one status in the index.
    tag_ids: list[str] | None = None
    status: str | None = None
    title: str | None = None  # likewise a title term (contains), with the tag and status
    # A title or url contains filter's probe: a SELECT of up to n of its candidates, from
    # the trigram index alone. SQLite counts the rows left only when they are few: given
    # a common term ("news", 30% of titles at 1M) it would first gather every candidate.
    probes: list[Callable[[int], Any]] = field(default_factory=list)
    # A created_at range asked for (from, before; either may be open): PostgreSQL's
    # windows start at its end, not at the newest row (news + a week in the middle of
    # 10M snapshots: windows grew over half the rows to reach it, 405 ms).
    created: tuple[datetime | None, datetime | None] = (None, None)


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
    engine: _Engine = (
        _Postgres(session, terms, workspace_ids)
        if dialect == "postgresql"
        else _Sqlite(session, fts5_query(terms), workspace_ids, offset + limit, limit)
    )
    matching = engine.count_upto()
    if matching <= RANK_LIMIT:
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
    if others is not None:
        rows = select(col(Snapshot.id)).where(*engine.visible(), *others.driving)
        tag_alone = others.tag_ids if others.status is None and others.title is None else None
        if tag_alone is not None and workspace_ids is None and dialect == "sqlite":
            # A tag alone, for an admin: its links are counted on the tag's index alone
            # (a 2% tag's snapshots through the IN list took 14 ms to count to 5,001).
            tagged = col(SnapshotTag.tag_id).in_(tag_alone)
            rows = select(col(SnapshotTag.snapshot_id)).where(tagged)
        everything = select(col(Snapshot.id)).where(*engine.visible())
        # PostgreSQL's estimate of all the rows will do: this only sizes a first window
        # (an exact count of 10,000,000 took 340 ms, when not remembered).
        listed = planner_estimate(session, everything) or count_rows(session, everything)
        # A title term on PostgreSQL's search rows is found by their trigram index inside
        # each window, so it is not probed: a probe rechecks each candidate on its table
        # page (a word not asked before, at 10M: 143 ms to find 5,001).
        titled = dialect == "postgresql" and others.title is not None
        candidates = None if titled else _fewest_candidates(session, others.probes)
        share = None
        if titled or (candidates is not None and candidates > DRIVE_LIMIT):
            # (the planner's estimate of a trigram term was seen 4x off, both ways)
            share = _newest_share(session, everything, others.testing)
        if candidates is not None and candidates <= DRIVE_LIMIT:
            left = candidates  # no more rows than that: not counted again
        elif share is not None and (titled or share * SHARE_SAMPLE > 1):
            left = max(DRIVE_LIMIT + 1, round(share * listed))
        else:  # counted, also when the newest rows hold none: they may be few (/p/1234)
            left, planned_left = _rows_left(session, rows)
        # SQLite walks a range that ends before the newest rows in list order, newest
        # first (news + a week in the middle of 1M: windows from the newest row took
        # 654 ms to reach it).
        stepwise = dialect == "sqlite" and others.created[1] is not None
        if left <= DRIVE_LIMIT or stepwise:
            ids, count, exact = engine.driven(wanted, others.driving, stepwise=stepwise)
            total = _total(session, engine, others, count, exact)
            return SearchPage(ids[offset:wanted], total, SearchOrder.NEWEST)
        kept = min(1.0, left / max(1, listed))
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


def _total(
    session: Session, engine: _Engine, others: OtherFilters | None, count: int, exact: bool
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
    if planned is not None and planned > 2 * DRIVE_LIMIT:
        return planned, planned
    capped = rows.limit(DRIVE_LIMIT + 1).subquery()
    counted = int(session.execute(select(func.count()).select_from(capped)).scalar_one())
    return counted, planned


def _fewest_candidates(session: Session, probes: Sequence[Callable[[int], Any]]) -> int | None:
    """The fewest candidates a probe finds, counted to just past `DRIVE_LIMIT` (None
    without probes): the rows left are at most that many. PostgreSQL does not count a
    probe its planner expects to find many: a bitmap scan gathers every candidate before
    the first (`example.org` in urls at 10M: 100-120 ms)."""
    counts = []
    for probe in probes:
        planned = planner_estimate(session, probe(2 * DRIVE_LIMIT))
        if planned is not None and planned >= 2 * DRIVE_LIMIT:
            counts.append(DRIVE_LIMIT + 1)
            continue
        found = probe(DRIVE_LIMIT + 1).subquery()
        counts.append(int(session.execute(select(func.count()).select_from(found)).scalar_one()))
    return min(counts) if counts else None


def _newest_share(session: Session, everything: Any, tests: list[Any]) -> float:
    """The share of the newest visible rows that pass `tests`: where a newest-first
    page's matches are, so it sizes the first window (at least one in `SHARE_SAMPLE`)."""
    newest = everything.order_by(*_LIST_ORDER).limit(SHARE_SAMPLE)
    passing = select(func.count()).where(col(Snapshot.id).in_(newest), *tests)
    return max(1, int(session.execute(passing).scalar_one())) / SHARE_SAMPLE


class _Windows:
    """The shares of the newest rows to try, each sized from what the last one held:
    grown when it held fewer matches than the page needs, shrunk when it held more
    than `cap`, and never past a share already found too small or too large."""

    def __init__(self, *, share: float, wanted: int, cap: int | None = None) -> None:
        self.share = min(1.0, share)
        self.wanted = wanted
        self.cap = cap
        self.too_small = 0.0
        self.too_large = math.inf
        self.rounds = 0

    def next_share(self) -> float | None:
        """The share to try next; None after `MAX_ROUNDS` (the caller then sorts all)."""
        self.rounds += 1
        return self.share if self.rounds <= MAX_ROUNDS else None

    def held(self, hits: int) -> None:
        """Record what the last window held (not enough, or too many), and pick the next."""
        if self.cap is not None and hits > self.cap:
            self.too_large = self.share
            target = self.share * MARGIN * self.wanted / hits
        else:
            self.too_small = self.share
            factor = GROWTH if hits == 0 else MARGIN * self.wanted / hits
            target = self.share * min(GROWTH, max(2.0, factor))
        if not self.too_small < target < self.too_large:
            target = math.sqrt(max(self.too_small, 1e-9) * min(self.too_large, 1.0))
        self.share = min(1.0, target)


class _Engine:
    """One store's ways to a page."""

    def __init__(self, session: Session, workspace_ids: Sequence[str] | None) -> None:
        self.session = session
        self.workspaces = None if workspace_ids is None else list(workspace_ids)
        self.tag_ids: list[str] | None = None  # OtherFilters.tag_ids, for newest()
        self.created: tuple[datetime | None, datetime | None] = (None, None)  # likewise
        self.status: str | None = None  # OtherFilters.status, for newest()
        self.title: str | None = None  # OtherFilters.title, for newest()

    def visible(self) -> list[Any]:
        """The visibility test on ``Snapshot``."""
        if self.workspaces is None:
            return []
        return [col(Snapshot.workspace_id).in_(self.workspaces)]

    def count_upto(self) -> int:
        """How many snapshots visible here match, counted as far as this store needs to
        choose its way (past `RANK_LIMIT` at least)."""
        raise NotImplementedError

    def membership(self) -> Any:
        """The condition that ``Snapshot`` matches the words, with no ranking computed."""
        raise NotImplementedError

    def ranked(self) -> list[str]:
        """Every visible match's id, best first (called only when they are few)."""
        raise NotImplementedError

    def newest(
        self, wanted: int, matching: int, tests: list[Any], kept: float
    ) -> tuple[list[str], int, bool]:
        """The newest `wanted` visible matches passing `tests` in list order, how many
        there are, and whether that count is exact (else estimated from a window).
        `matching` counts the words' matches (at least), `kept` the share of rows
        `tests` keep: together they size the first window."""
        raise NotImplementedError

    def driven(
        self, wanted: int, driving: list[Any], *, stepwise: bool = False
    ) -> tuple[list[str], int, bool]:
        """The newest `wanted` of the few visible rows `driving` finds that match, how
        many match, and whether that count is exact (else estimated from the rows
        tested): each row found is tested for the words. `stepwise`: the rows are
        many but in list order on an index (a created_at range), read as needed."""
        raise NotImplementedError

    def _ids(self, statement: Any) -> tuple[list[str], int]:
        """Run a page statement selecting (id, count over all): the ids and the count."""
        rows = self.session.execute(statement).all()
        return [str(sid) for sid, _ in rows], int(rows[0][1]) if rows else 0


class _Postgres(_Engine):
    def __init__(
        self, session: Session, terms: Sequence[Term], workspace_ids: Sequence[str] | None
    ) -> None:
        super().__init__(session, workspace_ids)
        self.terms = list(terms)
        self.ts = ts = ts_query(terms)
        self.planned = 0  # the planner's estimate of the matches, once count_upto asked
        self.entries: int | None = None  # the index's entries for the words, if counted
        self.best: list[str] | None = None  # the matches ranked, when count_upto saw all
        self.rows = _SEARCH_ROWS.alias("ss")
        self.query = func.to_tsquery(_ENGLISH, bindparam("ts_query", ts))

    def _match(self) -> Any:
        return self.rows.c.document.op("@@")(self.query)

    def _visible_rows(self) -> list[Any]:
        if self.workspaces is None:
            return []
        return [self.rows.c.workspace_id.in_(self.workspaces)]

    def _rarer_terms(self) -> str | None:
        """The words for a window's GIN scan to find, as a tsquery, when some are too common
        to intersect there (`COMMON_SHARE`, by the statistics); None to find them all. Only
        words with a lexeme stay (a stopword's tsquery would match nothing)."""
        if len(self.terms) < 2:
            return None
        tokens = sorted({token for term in self.terms for token in term.tokens})
        found = self.session.execute(_LEXEME_SHARES, {"tokens": tokens}).all()
        lexical = {str(token) for token, _ in found}
        common = {str(token) for token, share in found if (share or 0) >= COMMON_SHARE}
        rarer = [
            term
            for term in self.terms
            if lexical.intersection(term.tokens)
            and not (len(term.tokens) == 1 and term.tokens[0] in common)
        ]
        if not rarer or len(rarer) == len(self.terms):
            return None
        return ts_query(rarer)

    def _matches(self, *columns: Any) -> Any:
        """The visible search rows matching the words (`columns` of the alias ``ss``)."""
        return select(*columns).select_from(self.rows).where(self._match(), *self._visible_rows())

    def _rows_in_table(self) -> int:
        """The planner's count of search rows (``reltuples``, kept by ANALYZE)."""
        counted = self.session.execute(
            sql_text("SELECT reltuples FROM pg_class WHERE oid = 'snapshot_search'::regclass")
        ).scalar()
        return max(1, int(counted or 0))

    def count_upto(self) -> int:
        # Counted only past RANK_LIMIT: PostgreSQL reads each counted row's page (its
        # bitmap scans skip no page here), ~7 us each at 10M from the OS cache (counting
        # a 19,900-match word took 140 ms there). The windows are sized by the planner.
        planned = self.session.execute(
            sql_text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM snapshot_search ss WHERE {PG_MATCH}"),
            {"ts_query": self.ts},
        ).scalar_one()
        self.planned = int(planned[0]["Plan"]["Plan Rows"])
        if self.workspaces is None and RANK_LIMIT < self.planned <= ENTRIES_UPTO:
            entries = self._index_entries()
            if entries is not None and entries > RANK_LIMIT * ENTRIES_MARGIN:
                self.entries = entries
                return entries
        # Counted by ranking them: a word with few matches is then ranked already (one
        # pass over its rows, not two: the first reads them from the OS cache).
        self.best = self._ranked(RANK_LIMIT + 1)
        return len(self.best)

    def _index_entries(self) -> int | None:
        """How many entries the GIN index holds for the words: what its bitmap scan found,
        as EXPLAIN ANALYZE reports it, with one row fetched. At least the visible matches
        (dead rows not yet vacuumed count too), and read without a page of the table per
        match: ~10 ms for a 19,900-match word at 10M instead of 22 for counting 2,001 of
        them. A word the planner knows to be common is counted the usual way: its rows
        are dense, and its bitmap would outgrow memory and count short."""
        setting = "enable_seqscan"  # off, so the one-row probe scans the index, not the table
        before = self.session.execute(
            sql_text("SELECT current_setting(:name)"), {"name": setting}
        ).scalar_one()
        self.session.execute(sql_text("SELECT set_config(:name, 'off', true)"), {"name": setting})
        try:
            plan = self.session.execute(
                sql_text(
                    "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) "
                    f"SELECT 1 FROM snapshot_search ss WHERE {PG_MATCH} LIMIT 1"
                ),
                {"ts_query": self.ts},
            ).scalar_one()
        finally:
            self.session.execute(
                sql_text("SELECT set_config(:name, :value, true)"),
                {"name": setting, "value": before},
            )
        found = [node for node in _plan_nodes(plan[0]["Plan"]) if node["Node Type"] == _GIN_SCAN]
        return int(found[0]["Actual Rows"]) if len(found) == 1 else None

    def membership(self) -> Any:
        return col(Snapshot.id).in_(
            select(self.rows.c.snapshot_id).select_from(self.rows).where(self._match())
        )

    def ranked(self) -> list[str]:
        return self.best if self.best is not None else self._ranked(None)

    def _ranked(self, upto: int | None) -> list[str]:
        """Up to `upto` matches (all, with None), ranked."""
        # Ranked inside a fence (LIMIT or OFFSET 0), so the sort carries three small
        # columns, not each match's tsvector.
        score = (-func.ts_rank(self.rows.c.document, self.query)).label("score")
        found = self._matches(self.rows.c.snapshot_id, self.rows.c.created_at, score)
        fenced = (found.limit(upto) if upto is not None else found.offset(0)).subquery("m")
        statement = select(fenced.c.snapshot_id).order_by(
            fenced.c.score, fenced.c.created_at.desc(), fenced.c.snapshot_id
        )
        return [str(sid) for sid in self.session.execute(statement).scalars()]

    def newest(
        self, wanted: int, matching: int, tests: list[Any], kept: float
    ) -> tuple[list[str], int, bool]:
        matching = max(matching, self.planned)  # counted only past RANK_LIMIT
        cap = max(HITS_CAP, 3 * wanted)
        expected = matching * kept  # the matches passing the tests, all told
        bounds = self._order_bounds()
        # Windows of a created_at range run from its end (`top`: the share of the rows
        # created after it) down to its start (`bottom`); inside it, every row passes
        # the range, and the other tests keep the rest of `kept`.
        after, before = (_utc(moment) for moment in self.created)
        top = _share_from(bounds, before) if before is not None else 0.0
        bottom = _share_from(bounds, after) if after is not None else 1.0
        inside = max(1e-6, bottom - top)
        first = MARGIN * wanted / (matching * min(1.0, kept / inside))
        on_rows = self.status is not None or self.tag_ids is not None
        if on_rows and expected * MARGIN <= cap:
            # GIN finds the word's rows of this status or tag in the index (0025): all of
            # them are fewer than a window's range of the created_at index (a 0.2% word,
            # failed, at 10M: ~1,000 rows, against ~750,000 in the window that held 50).
            first = 1.0
        windows = _Windows(share=first, wanted=wanted, cap=cap)
        narrow = self._rarer_terms()
        rows_in_table = self._rows_in_table()
        while (share := windows.next_share()) is not None:
            reach = top + share  # the window, from the newest row
            since = _time_at_share(bounds, reach) if reach < bottom else None
            # A word common in the window is tested on each of its rows: GIN would build
            # the word's whole posting list first (370,528 rows of 1M for "news": 34 ms,
            # for a window of 14,000 rows). The planner was seen to choose it anyway.
            by_row = since is not None and share * rows_in_table * ROW_TEST_COST < matching
            # A wide window lets GIN intersect the words with the tag and the status, kept
            # beside them in its index since 0025 (a 0.2% word under a 2% tag at 10M needs
            # ~2M rows of window: 166 ms; 45 ms intersected in the title+tag index).
            indexed = since is None or share >= TAG_INDEX_SHARE
            # A title term with fewer rows than the window is found by its trigrams: their
            # bitmap ANDed with the window's, and each row read tested for the words.
            titled = self.title is not None and kept * inside <= share
            window = self._window(
                wanted,
                tests,
                since,
                cap + 1,
                by_row=by_row or titled,
                indexed=indexed,
                narrow=narrow,
                titled=titled,
            )
            ids, hits = self._ids(window)
            if hits <= cap and (hits >= wanted or since is None):
                if since is None:
                    return ids, hits, True
                words_only = not tests and self.entries  # the index counted these
                return ids, words_only or round(hits * min(1.0, inside) / share), False
            windows.held(hits)
        titled = self.title is not None and kept * rows_in_table < matching
        everything = self._window(
            wanted, tests, None, None, by_row=titled, indexed=True, titled=titled
        )
        ids, hits = self._ids(everything)  # the windows never settled: every match
        return ids, hits, True

    def _window(
        self,
        wanted: int,
        tests: list[Any],
        since: datetime | None,
        cap: int | None,
        *,
        by_row: bool = False,
        indexed: bool = False,
        narrow: str | None = None,
        titled: bool = False,
    ) -> Any:
        """The newest `wanted` matches created from `since` on (all, without it) that pass
        `tests`, each with how many the window holds (up to `cap`). `by_row`: the words
        tested on each row of the window, in a form the GIN index does not serve;
        `indexed`: the tag and status tested in forms their GIN indexes serve; `narrow`:
        the rarer words (a tsquery) for GIN to find, all the words tested on each;
        `titled`: the title term's candidates found by its trigram index."""
        rows = self.rows.c
        found = self._matches(rows.snapshot_id, rows.created_at)
        if narrow is not None:
            rarer = func.to_tsquery(_ENGLISH, bindparam("narrow_query", narrow))
            found = select(rows.snapshot_id, rows.created_at).where(
                rows.document.op("@@")(rarer),
                _unindexed(rows.document).op("@@")(self.query),
                *self._visible_rows(),
            )
        if by_row:
            found = select(rows.snapshot_id, rows.created_at).where(
                _unindexed(rows.document).op("@@")(self.query), *self._visible_rows()
            )
        if self.tag_ids is not None:  # the tag, from the search row itself
            # Narrow windows, in a form no GIN index serves: the planner ANDed a 2% tag's
            # whole posting list with the window (200,000 rows at 10M: 35 ms).
            wanted_tags = cast(array(self.tag_ids or [""]), ARRAY(String(64)))
            tagged: Any = rows.tag_ids
            if not indexed:
                tagged = func.coalesce(rows.tag_ids, cast(array([""]), ARRAY(String(64))))
            found = found.where(tagged.op("&&")(wanted_tags))
        if self.status is not None:  # likewise the status (its GIN entries: every row's)
            status: Any = rows.status if indexed else func.coalesce(rows.status, "")
            found = found.where(status == self.status)
        if self.title is not None:  # the search row's title (the snapshot's, or '')
            found = found.where(confirm_contains(rows.title, self.title, "postgresql"))
            if titled:
                found = found.where(pg_candidates(rows.title, self.title))
        on_rows = self.tag_ids is not None or self.status is not None or self.title is not None
        if not on_rows and tests:
            found = found.join(Snapshot, col(Snapshot.id) == rows.snapshot_id).where(*tests)
        if since is not None:
            found = found.where(rows.created_at >= since)
        after, before = self.created
        if after is not None:  # (the range, on the search rows' index too)
            found = found.where(rows.created_at >= after)
        if before is not None:
            found = found.where(rows.created_at < before)
        inner = (found.limit(cap) if cap is not None else found.offset(0)).subquery("w")
        return (
            select(inner.c.snapshot_id, func.count().over())
            .order_by(inner.c.created_at.desc(), inner.c.snapshot_id)
            .limit(wanted)
        )

    def driven(
        self, wanted: int, driving: list[Any], *, stepwise: bool = False
    ) -> tuple[list[str], int, bool]:
        rows = self.rows.c
        matches = (
            select(literal(1))
            .select_from(self.rows)
            .where(rows.snapshot_id == col(Snapshot.id), self._match())
            .exists()
        )
        statement = (
            select(col(Snapshot.id), func.count().over())
            .where(*self.visible(), *driving, matches)
            .order_by(*_LIST_ORDER)
            .limit(wanted)
        )
        return *self._ids(statement), True

    def _order_bounds(self) -> list[datetime]:
        """``created_at`` at equal shares of the search rows, oldest first: the
        statistics' histogram (each step holds as many rows) between the oldest and
        newest row; just those two when there are no statistics."""
        ends = self.session.execute(
            sql_text("SELECT min(created_at), max(created_at) FROM snapshot_search")
        ).one()
        if ends[0] is None:
            return []
        histogram = self.session.execute(
            sql_text(
                "SELECT histogram_bounds::text::timestamptz[] FROM pg_stats "
                "WHERE schemaname = current_schema() AND tablename = 'snapshot_search' "
                "AND attname = 'created_at'"
            )
        ).scalar()
        # The histogram's ends are its sample's oldest and newest: the table's replace them.
        inner = [b for b in (histogram or [])[1:-1] if ends[0] < b < ends[1]]
        return [ends[0], *inner, ends[1]]


_GIN_SCAN = "Bitmap Index Scan"
# Each token's lexemes, with the share of the search rows holding each when the
# statistics count it among the document's most common elements.
_LEXEME_SHARES = sql_text(
    "SELECT t.token, e.share FROM unnest(CAST(:tokens AS text[])) AS t(token) "
    "CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('english'::regconfig, t.token))) "
    "AS l(lexeme) "
    "LEFT JOIN (SELECT m.elem, m.share FROM pg_stats s, "
    "unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS m(elem, share) "
    "WHERE s.schemaname = current_schema() AND s.tablename = 'snapshot_search' "
    "AND s.attname = 'document') e ON e.elem = l.lexeme"
)


def _unindexed(document: Any) -> Any:
    """The document in a form its GIN index does not serve: tested on each row read."""
    return func.coalesce(document, literal_column("''::tsvector"))


def _json_values(array: str) -> Any:
    """The values of a JSON array as a table (``value``): how SQLite is handed a list of
    rowids in one parameter, whatever its length."""
    return func.json_each(array).table_valued("value")


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A JSON plan's nodes, depth first."""
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def _utc(moment: datetime | None) -> datetime | None:
    """A filter's time, comparable with the store's (a naive one is taken as UTC)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _share_from(bounds: list[datetime], moment: datetime) -> float:
    """About the share of the rows created at or after `moment`: `_time_at_share`'s
    inverse."""
    if len(bounds) < 2 or moment <= bounds[0]:
        return 1.0
    if moment >= bounds[-1]:
        return 0.0
    step = bisect.bisect_right(bounds, moment) - 1
    start, end = bounds[step], bounds[step + 1]
    within = (moment - start) / (end - start) if end > start else 0.0
    return 1.0 - (step + within) / (len(bounds) - 1)


def _time_at_share(bounds: list[datetime], share: float) -> datetime | None:
    """The time after which about `share` of the rows were created: interpolated
    between equal-share bounds (linearly in time within one step)."""
    if len(bounds) < 2:
        return None
    steps = len(bounds) - 1
    position = (1.0 - share) * steps
    step = min(steps - 1, max(0, math.floor(position)))
    start, end = bounds[step], bounds[step + 1]
    return start + (end - start) * (position - step)


class _Sqlite(_Engine):
    def __init__(
        self,
        session: Session,
        fts: str,
        workspace_ids: Sequence[str] | None,
        wanted: int,
        limit: int,
    ) -> None:
        super().__init__(session, workspace_ids)
        self.fts = fts
        self.rows = _SEARCH_ROWS.alias("ss")
        self.wanted = wanted  # offset + limit: the rows up to the end of the page asked for
        self.limit = limit  # the rows of that page
        self.span = 0  # how many of the newest search rows count_upto read
        # count_upto's matches among the newest search rows: their rowids as a JSON
        # array, the rowid from which they are all the matches (0: all of them), and
        # whether every match was counted (at most SORT_LIMIT) or kept
        self.newest_rowids = "[]"
        self.lowest_rowid = 0
        self.counted_all = False
        self.complete = False

    def _match(self) -> Any:
        return sql_text("snapshot_fts MATCH :fts_query").bindparams(fts_query=self.fts)

    def _matches(self, *columns: Any) -> Any:
        """Visible matches joined to their search rows and snapshots."""
        joined = _FTS.join(self.rows, self.rows.c.id == _FTS.c.rowid).join(
            Snapshot, col(Snapshot.id) == self.rows.c.snapshot_id
        )
        return select(*columns).select_from(joined).where(self._match(), *self.visible())

    def count_upto(self) -> int:
        # FTS5 merges every list of a prefix's words for each statement that asks for it
        # (~9 ms for "news*" at 1M, whatever rowids the statement wants; twice that read
        # highest rowid first), so one statement reads the matches among the newest
        # search rows: they count, and newest() looks for the page among them before it
        # asks FTS5 again. Only a word with few there is counted among all (to
        # SORT_LIMIT), and a word with few in the newest rows has short lists. Without
        # workspaces to test, the FTS5 index alone counts (one search row per snapshot).
        # bm25 cannot be asked first: it counts every match of each word.
        first, last = self.session.execute(
            sql_text(
                "SELECT (SELECT min(id) FROM snapshot_search), "
                "(SELECT max(id) FROM snapshot_search)"
            )
        ).one()
        if last is None:
            return 0
        if self.workspaces is None:
            found = select(_FTS.c.rowid.label("rowid")).where(self._match())
        else:
            found = self._matches(_FTS.c.rowid.label("rowid"))
        span = min(MAX_SPAN, max(NEWEST_SPAN, SPAN_PER_ROW * self.wanted))
        bound = int(last) - span + 1
        self.span = span
        self.complete = bound <= int(first)
        newest = (found if self.complete else found.where(_FTS.c.rowid >= bound)).subquery()
        counted, listed = self.session.execute(
            select(func.count(), func.group_concat(newest.c.rowid))
        ).one()
        self.newest_rowids = f"[{listed or ''}]"  # handed back to SQLite as they came
        counted_all = self.complete
        if not self.complete and counted <= RANK_LIMIT:
            capped = found.limit(SORT_LIMIT + 1).subquery()
            everything = self.session.execute(select(func.count()).select_from(capped))
            total = int(everything.scalar_one())
            self.complete = total == counted
            counted, counted_all = total, True
        # Below the lowest kept a rowid is undecided, unless every match was kept.
        self.lowest_rowid = 0 if self.complete else bound
        self.counted_all = counted_all and counted <= SORT_LIMIT
        return int(counted)

    def _rowids(self) -> Any:
        return select(_FTS.c.rowid).where(self._match())

    def membership(self) -> Any:
        by_rowid = select(self.rows.c.snapshot_id).where(self.rows.c.id.in_(self._rowids()))
        return col(Snapshot.id).in_(by_rowid)

    def ranked(self) -> list[str]:
        score: Any = literal_column(SQLITE_SCORE).label("score")
        statement = self._matches(self.rows.c.snapshot_id, score).order_by(
            score, col(Snapshot.created_at).desc(), self.rows.c.snapshot_id
        )
        return [str(sid) for sid, _ in self.session.execute(statement)]

    def newest(
        self, wanted: int, matching: int, tests: list[Any], kept: float
    ) -> tuple[list[str], int, bool]:
        everything = count_rows(self.session, select(col(Snapshot.id)).where(*self.visible()))
        if wanted - self.limit >= everything:  # past the last row there can be
            scale = 1.0 if self.complete else everything / max(1, self.span)
            if tests:  # the words' count, scaled to the rows the other filters keep
                return [], max(1, round(matching * scale * kept)), False
            return [], round(matching * scale), self.complete
        if self.complete and matching <= SORT_LIMIT:  # all kept: sorted whole, no FTS5
            return *self._ids(self._among(self.newest_rowids, wanted, tests)), True
        if self.counted_all:  # few enough to sort whole (with FTS5 once more)
            return *self._ids(self._window(wanted, tests, [])), True
        # The walk, unless the pages need more matches than the rows read hold (the
        # other filters aside: their share is counted only to DRIVE_LIMIT here).
        density = 1.0 if self.complete else matching / max(1, self.span)
        walk = wanted <= density * self.span
        found = self._from_newest_rowids(wanted, tests, everything) if walk else None
        if found is not None:
            if self.complete and not tests:  # every match was counted
                return found[0], matching, True
            return found[0], found[1], len(found[0]) < wanted
        rows_in_list = everything
        # Words counted only to SORT_LIMIT may match far more (370,528 for "news" at 1M):
        # the first window is then small, and the next sized from what it held.
        # Beside other filters it is larger (up to 6x), as fewer of its rows pass them:
        # each window read costs a merge of the words' lists (~9 ms for "news*" at 1M).
        widened = FIRST_WINDOW * min(6.0, 1.0 / kept)
        first = min(MARGIN * wanted / (matching * kept), widened / rows_in_list)
        windows = _Windows(share=first, wanted=wanted)
        while (share := windows.next_share()) is not None:
            size = math.ceil(share * rows_in_list)
            if size >= rows_in_list:
                break
            first_id, oldest = self._edge(size)
            if first_id is None:
                break
            edge = [_FTS.c.rowid >= first_id, col(Snapshot.created_at) > oldest]
            ids, hits = self._ids(self._window(wanted, tests, edge))
            if hits >= wanted:
                return ids, round(hits * rows_in_list / size), False
            windows.held(hits)
        return *self._ids(self._window(wanted, tests, [])), True

    def _window(self, wanted: int, tests: list[Any], edge: list[Any]) -> Any:
        return (
            self._matches(col(Snapshot.id), func.count().over())
            .where(*tests, *edge)
            .order_by(*_LIST_ORDER)
            .limit(wanted)
        )

    def _among(self, rowids: str, wanted: int, tests: list[Any]) -> Any:
        """The page statement over the matches with these search rowids (a JSON array):
        the id and a count of them all, each rowid looked up on its own (FTS5 not asked)."""
        listed = _json_values(rowids)
        joined = listed.join(self.rows, self.rows.c.id == listed.c.value).join(
            Snapshot, col(Snapshot.id) == self.rows.c.snapshot_id
        )
        return (
            select(col(Snapshot.id), func.count().over())
            .select_from(joined)
            .where(*self.visible(), *tests)
            .order_by(*_LIST_ORDER)
            .limit(wanted)
        )

    def _from_newest_rowids(
        self, wanted: int, tests: list[Any], everything: int
    ) -> tuple[list[str], int] | None:
        """The page found by walking the list order (of the rows passing `tests`) and
        looking each row's search rowid up among the newest matches count_upto kept,
        and how many there are (estimated unless the walk ran out, from the `everything`
        visible rows); None when the walk
        keeps meeting rows older than those kept.

        The kept matches are every match from the lowest kept rowid up, so a row with a
        higher search rowid that is not among them does not match. Search rows are
        written as snapshots are, so the walk usually meets the page's matches before a
        lower rowid: "news" (37% of rows) needs ~135 rows walked for 50. A row the kept
        matches cannot decide (created out of that order) is tested with one FTS5
        statement for all such rows met, and the walk is run again."""
        lowest = self.lowest_rowid  # below it a rowid is undecided (0: none is)
        kept = self.newest_rowids  # a JSON array, with the undecided rows found to match
        matching: set[int] = set()
        ruled_out: list[int] = []
        search_rowid = self.rows.c.id + 0  # "+ 0": tested per row walked, not driving
        for _ in range(WALK_ROUNDS):
            among = select(_json_values(kept).c.value)
            unknown = search_rowid < lowest
            if ruled_out:
                out = select(_json_values(json.dumps(ruled_out)).c.value)
                unknown = unknown & search_rowid.not_in(out.scalar_subquery())
            walk = (
                select(col(Snapshot.id), col(Snapshot.created_at), self.rows.c.id)
                .select_from(Snapshot)
                .join(self.rows, self.rows.c.snapshot_id == col(Snapshot.id))
                .where(*self.visible(), *tests, or_(search_rowid.in_(among), unknown))
                .order_by(*_LIST_ORDER)
                .limit(wanted)
            )
            rows = self.session.execute(walk).all()
            undecided = [rowid for _, _, rowid in rows if rowid < lowest and rowid not in matching]
            if not undecided:
                break
            if len(undecided) > UNDECIDED_LIMIT:
                return None  # the walk ran far past the kept matches: windows instead
            matched = self._matching_rowids(undecided)
            matching.update(matched)
            kept = json.dumps([*json.loads(kept), *matched]) if matched else kept
            ruled_out += [rowid for rowid in undecided if rowid not in matched]
        else:
            return None  # rows out of order all along: windows instead
        ids = [str(snapshot_id) for snapshot_id, _, _ in rows]
        if len(rows) < wanted:
            return ids, len(rows)  # the walk ran out: every one of them
        # As many as the page needs within the list's rows up to its last: scaled to all.
        last_id, last_created = rows[-1][0], rows[-1][1]
        up_to_last = select(col(Snapshot.id)).where(
            *self.visible(),
            col(Snapshot.created_at) >= last_created,
            or_(col(Snapshot.created_at) > last_created, col(Snapshot.id) <= last_id),
        )
        walked = int(
            self.session.execute(
                select(func.count()).select_from(up_to_last.subquery())
            ).scalar_one()
        )
        return ids, max(len(rows), round(len(rows) * everything / max(1, walked)))

    def _matching_rowids(self, rowids: list[int]) -> list[int]:
        """Which of these search rowids match: one FTS5 statement, reading the words'
        matches only in their range, each looked up in the list ("+ 0": not handed to
        FTS5, which would run the match once per rowid)."""
        listed = select(_json_values(json.dumps(rowids)).c.value)
        statement = select(_FTS.c.rowid).where(
            self._match(),
            _FTS.c.rowid.between(min(rowids), max(rowids)),
            (_FTS.c.rowid + 0).in_(listed),
        )
        return [int(rowid) for rowid in self.session.execute(statement).scalars()]

    def _edge(self, size: int) -> tuple[int | None, Any]:
        """The smallest search rowid among the `size` newest visible snapshots, and their
        oldest ``created_at``. Every snapshot created after that time is among them, so
        its search row's rowid is at least that smallest one."""
        newest = (
            select(col(Snapshot.id).label("id"), col(Snapshot.created_at).label("created_at"))
            .where(*self.visible())
            .order_by(col(Snapshot.created_at).desc())
            .limit(size)
            .subquery("w")
        )
        statement = select(func.min(self.rows.c.id), func.min(newest.c.created_at)).select_from(
            newest.join(self.rows, self.rows.c.snapshot_id == newest.c.id)
        )
        first_id, oldest = self.session.execute(statement).one()
        return first_id, oldest

    def driven(
        self, wanted: int, driving: list[Any], *, stepwise: bool = False
    ) -> tuple[list[str], int, bool]:
        # The few rows are read in list order with their search rowids. Those among the
        # newest rows count_upto read are decided by the matches it kept; the rest are
        # tested in chunks, newest first, each chunk one FTS5 statement that reads the
        # words' matches only in the chunk's rowid range and looks each up in it. The
        # first chunk is sized to hold the page: "news" + a 0.2% title word at 1M tested
        # ~200 of ~2,000 rows, where testing all of them walked every one of the 370,528
        # matches of "news*" (54 ms). Probing FTS5 per row merged a prefix's lists again
        # each time (~10 ms a row). The rest are counted in the background.
        listed = (
            select(col(Snapshot.id), self.rows.c.id)
            .select_from(Snapshot)
            .join(self.rows, self.rows.c.snapshot_id == col(Snapshot.id))
            .where(*self.visible(), *driving)
            .order_by(*_LIST_ORDER)
        )
        few = [] if stepwise else self.session.execute(listed).all()
        kept = set(json.loads(self.newest_rowids))
        density = max(1, len(kept)) / max(1, self.span)  # matches among the newest rows
        found: list[str] = []
        decided = 0  # of the rows, in list order
        ran_out = not stepwise and not few
        while not ran_out and len(found) < wanted:
            needed = wanted - len(found)
            size = max(needed, math.ceil(MARGIN * needed / density))
            if stepwise:
                chunk = self.session.execute(listed.offset(decided).limit(size)).all()
            else:
                chunk = few[decided : decided + size]
            older = [rowid for _, rowid in chunk if rowid < self.lowest_rowid]
            matched = set(self._matching_rowids(older)) if older else set()
            found += [sid for sid, rowid in chunk if rowid in kept or rowid in matched]
            decided += len(chunk)
            ran_out = len(chunk) < size if stepwise else decided == len(few)
        if ran_out:
            return found[:wanted], len(found), True
        rows = len(few) or count_rows(self.session, select(col(Snapshot.id)).where(*driving))
        return found[:wanted], round(len(found) * rows / max(1, decided)), False
