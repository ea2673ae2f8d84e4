"""PostgreSQL's search engine: GIN finds the words, windows of the search rows'
``created_at`` index find the newest (crawler.search_windows)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, func, literal, literal_column, select
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlmodel import Session, col

from crawler import search_limits as limits
from crawler.models import Snapshot
from crawler.search import PG_MATCH, Term, ts_query
from crawler.search_windows import (
    LIST_ORDER,
    SEARCH_ROWS,
    Engine,
    Windows,
    share_from,
    time_at_share,
    utc,
)
from crawler.snapshot_filters import confirm_contains, pg_candidates

_ENGLISH: Any = literal_column("'english'::regconfig")  # as crawler.search's PG_MATCH


class PostgresEngine(Engine):
    def __init__(
        self, session: Session, terms: Sequence[Term], workspace_ids: Sequence[str] | None
    ) -> None:
        super().__init__(session, workspace_ids)
        self.terms = list(terms)
        self.ts = ts = ts_query(terms)
        self.planned = 0  # the planner's estimate of the matches, once count_upto asked
        self.entries: int | None = None  # the index's entries for the words, if counted
        self.best: list[str] | None = None  # the matches ranked, when count_upto saw all
        self.rows = SEARCH_ROWS.alias("ss")
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
        common = {str(token) for token, share in found if (share or 0) >= limits.COMMON_SHARE}
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
        # Counted only past limits.RANK_LIMIT: PostgreSQL reads each counted row's page (its
        # bitmap scans skip no page here), ~7 us each at 10M from the OS cache (counting
        # a 19,900-match word took 140 ms there). The windows are sized by the planner.
        planned = self.session.execute(
            sql_text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM snapshot_search ss WHERE {PG_MATCH}"),
            {"ts_query": self.ts},
        ).scalar_one()
        self.planned = int(planned[0]["Plan"]["Plan Rows"])
        if self.workspaces is None and limits.RANK_LIMIT < self.planned <= limits.ENTRIES_UPTO:
            entries = self._index_entries()
            if entries is not None and entries > limits.RANK_LIMIT * limits.ENTRIES_MARGIN:
                self.entries = entries
                return entries
        # Counted by ranking them: a word with few matches is then ranked already (one
        # pass over its rows, not two: the first reads them from the OS cache).
        self.best = self._ranked(limits.RANK_LIMIT + 1)
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
        matching = max(matching, self.planned)  # counted only past limits.RANK_LIMIT
        cap = max(limits.HITS_CAP, 3 * wanted)
        expected = matching * kept  # the matches passing the tests, all told
        bounds = self._order_bounds()
        # Windows of a created_at range run from its end (`top`: the share of the rows
        # created after it) down to its start (`bottom`); inside it, every row passes
        # the range, and the other tests keep the rest of `kept`.
        after, before = (utc(moment) for moment in self.created)
        top = share_from(bounds, before) if before is not None else 0.0
        bottom = share_from(bounds, after) if after is not None else 1.0
        inside = max(1e-6, bottom - top)
        first = limits.MARGIN * wanted / (matching * min(1.0, kept / inside))
        on_rows = self.status is not None or self.tag_ids is not None
        if on_rows and expected * limits.MARGIN <= cap:
            # GIN finds the word's rows of this status or tag in the index (0025): all of
            # them are fewer than a window's range of the created_at index (a 0.2% word,
            # failed, at 10M: ~1,000 rows, against ~750,000 in the window that held 50).
            first = 1.0
        windows = Windows(share=first, wanted=wanted, cap=cap)
        narrow = self._rarer_terms()
        rows_in_table = self._rows_in_table()
        while (share := windows.next_share()) is not None:
            reach = top + share  # the window, from the newest row
            since = time_at_share(bounds, reach) if reach < bottom else None
            # A word common in the window is tested on each of its rows: GIN would build
            # the word's whole posting list first (370,528 rows of 1M for "news": 34 ms,
            # for a window of 14,000 rows). The planner was seen to choose it anyway.
            by_row = since is not None and share * rows_in_table * limits.ROW_TEST_COST < matching
            # A wide window lets GIN intersect the words with the tag and the status, kept
            # beside them in its index since 0025 (a 0.2% word under a 2% tag at 10M needs
            # ~2M rows of window: 166 ms; 45 ms intersected in the title+tag index).
            indexed = since is None or share >= limits.TAG_INDEX_SHARE
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
        self,
        wanted: int,
        driving: list[Any],
        *,
        stepwise: bool = False,
        rows: int | None = None,
        search_rowids: Sequence[Any] = (),
    ) -> tuple[list[str], int, bool]:
        del rows, search_rowids  # (counted exactly here, with the page; no such rowids)
        search_rows = self.rows.c
        matches = (
            select(literal(1))
            .select_from(self.rows)
            .where(search_rows.snapshot_id == col(Snapshot.id), self._match())
            .exists()
        )
        statement = (
            select(col(Snapshot.id), func.count().over())
            .where(*self.visible(), *driving, matches)
            .order_by(*LIST_ORDER)
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


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A JSON plan's nodes, depth first."""
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)
