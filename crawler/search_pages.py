"""A plain search's page: ranked by relevance when its matches are few, newest first when many.

Ranking reads every match: ``ts_rank`` each match's tsvector, bm25 each match's
column sizes, both each match's ``created_at`` for the tie-break. A word in 37% of
1,000,000 snapshots ("news") took 354 ms on PostgreSQL and 904 ms on SQLite, and a
0.2% word at 10,000,000 read ~19,800 scattered pages. No index of either engine
keeps a word's matches in rank order, but both can find a word's matches among
the newest rows. So a search with at most `RANK_LIMIT` visible matches is ranked
(relevance, then newest, then id); one with more is listed newest first, as the
snapshot list is (and as ArchiveBox lists its own search results), and the page
says which order it used.

Newest first is found in *windows* of the newest rows, grown until one holds
the page: on PostgreSQL the word's GIN posting list ANDed with a range of the
search rows' ``created_at`` index (migration 0024); on SQLite the FTS5 match
limited to the rowids of the window's search rows. Only matches inside the
window are read. Every match outside a window is older than every row in it, so
a window holding the page's matches gives exactly the list's page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import String, bindparam
from sqlalchemy import text as sql_text
from sqlmodel import Session, col, select

from crawler.counts import Total, count_rows, count_total
from crawler.models import Snapshot
from crawler.search import (
    PG_MATCH,
    PG_SCORE,
    SQLITE_SCORE,
    fts5_query,
    parse_query,
    ref_hits,
    ts_query,
)

RANK_LIMIT = 2_000  # ranked up to this many visible matches (~14 ms of reads at 10M)
SORT_LIMIT = 20_000  # SQLite: up to this many matches are sorted whole (~23 ms at 1M)
MARGIN = 1.5  # a window is sized to hold this many times the matches the page needs
GROWTH = 16  # a window that held no match grows this many times
HITS_CAP = 4_000  # matches a window may read; more and it is shrunk instead
MAX_ROUNDS = 12  # windows tried before every match is sorted instead


class SearchOrder(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"


@dataclass(frozen=True, slots=True)
class SearchPage:
    ids: list[str]
    total: Total
    order: SearchOrder


def plain_search_page(
    session: Session,
    query: str,
    *,
    workspace_ids: Sequence[str] | None,
    limit: int,
    offset: int,
) -> SearchPage | None:
    """The page of `query` with no other filter, in list order ``added``; None where
    this cannot answer (no words, or a query that is also an id or timestamp prefix)."""
    terms = parse_query(query)
    if not terms or ref_hits(query) is not None:
        return None
    dialect = session.get_bind().dialect.name
    engine: _Engine = (
        _Postgres(session, ts_query(terms), workspace_ids)
        if dialect == "postgresql"
        else _Sqlite(session, fts5_query(terms), workspace_ids)
    )
    matching = engine.count_upto()
    if matching <= RANK_LIMIT:
        ranked = engine.ranked()
        return SearchPage(
            ranked[offset : offset + limit], Total(len(ranked)), SearchOrder.RELEVANCE
        )
    wanted = offset + limit
    ids, count, exact = engine.newest(wanted, matching)
    # An estimate from the last window is counted in the background, then remembered.
    total = Total(count) if exact else count_total(session, engine.counting(), estimate=count)
    return SearchPage(ids[offset:wanted], total, SearchOrder.NEWEST)


class _Engine:
    """One store's two ways to a page."""

    def count_upto(self) -> int:
        """How many snapshots visible here match, counted as far as this store needs to
        choose its way (past `RANK_LIMIT` at least)."""
        raise NotImplementedError

    def counting(self) -> Any:
        """A SELECT of one row per visible match, unranked: for the counts in memory."""
        raise NotImplementedError

    def ranked(self) -> list[str]:
        """Every visible match's id, best first (called only when they are few)."""
        raise NotImplementedError

    def newest(self, wanted: int, matching: int) -> tuple[list[str], int, bool]:
        """The newest `wanted` visible matches in list order, how many match in all, and
        whether that count is exact (else estimated from a window's share of the rows)."""
        raise NotImplementedError


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


class _Postgres(_Engine):
    def __init__(self, session: Session, ts: str, workspace_ids: Sequence[str] | None) -> None:
        self.session = session
        self.params: dict[str, Any] = {"ts_query": ts}
        self.where = PG_MATCH
        if workspace_ids is not None:
            self.where += " AND ss.workspace_id IN :workspaces"
            self.params["workspaces"] = list(workspace_ids)

    def _run(self, sql: str, **params: Any) -> list[Any]:
        statement = sql_text(sql)
        if ":workspaces" in sql:
            statement = statement.bindparams(bindparam("workspaces", expanding=True))
        return list(self.session.execute(statement, {**self.params, **params}))

    def count_upto(self) -> int:
        # No column of the rows is read: pages all-visible in the visibility map are
        # counted from the index alone (unless the workspaces must be tested). Counting
        # further only tells a common word from a very common one, which the windows'
        # sizes take from the planner instead (to 20,000: 20 ms more at 1M).
        return int(
            self._run(
                "SELECT count(*) FROM (SELECT 1 FROM snapshot_search ss "
                f"WHERE {self.where} LIMIT :upto) m",
                upto=RANK_LIMIT + 1,
            )[0][0]
        )

    def counting(self) -> Any:
        statement = sql_text(f"SELECT ss.snapshot_id FROM snapshot_search ss WHERE {self.where}")
        if ":workspaces" in self.where:
            statement = statement.bindparams(bindparam("workspaces", expanding=True))
        found = statement.bindparams(**self.params).columns(snapshot_id=String).subquery("m")
        return select(found.c.snapshot_id)

    def ranked(self) -> list[str]:
        # Ranked inside a fence, so the sort carries three small columns, not tsvectors.
        rows = self._run(
            "SELECT snapshot_id FROM (SELECT ss.snapshot_id, ss.created_at, "
            f"{PG_SCORE} AS score FROM snapshot_search ss WHERE {self.where} OFFSET 0) m "
            "ORDER BY score, created_at DESC, snapshot_id"
        )
        return [str(sid) for (sid,) in rows]

    def newest(self, wanted: int, matching: int) -> tuple[list[str], int, bool]:
        if matching > RANK_LIMIT:  # the planner's estimate may say how many more
            planned = self.session.execute(
                sql_text(
                    f"EXPLAIN (FORMAT JSON) SELECT 1 FROM snapshot_search ss WHERE {PG_MATCH}"
                ),
                {"ts_query": self.params["ts_query"]},
            ).scalar_one()
            matching = max(matching, int(planned[0]["Plan"]["Plan Rows"]))
        cap = max(HITS_CAP, 3 * wanted)
        windows = _Windows(share=MARGIN * wanted / matching, wanted=wanted, cap=cap)
        bounds = self._order_bounds()
        while (share := windows.next_share()) is not None:
            since = _time_at_share(bounds, share) if share < 1.0 else None
            window = f"{self.where} AND ss.created_at >= :since" if since else self.where
            rows = self._run(
                "SELECT snapshot_id, count(*) OVER () FROM (SELECT ss.snapshot_id, "
                f"ss.created_at FROM snapshot_search ss WHERE {window} LIMIT :cap) w "
                "ORDER BY created_at DESC, snapshot_id LIMIT :wanted",
                since=since,
                cap=cap + 1,
                wanted=wanted,
            )
            hits = int(rows[0][1]) if rows else 0
            if hits <= cap and (hits >= wanted or since is None):
                ids = [str(sid) for sid, _ in rows]
                return (ids, hits, True) if since is None else (ids, round(hits / share), False)
            windows.held(hits)
        return self._all_sorted(wanted)

    def _all_sorted(self, wanted: int) -> tuple[list[str], int, bool]:
        """The windows could not settle (matches bunched in time): every match sorted."""
        rows = self._run(
            "SELECT snapshot_id, count(*) OVER () FROM (SELECT ss.snapshot_id, ss.created_at "
            f"FROM snapshot_search ss WHERE {self.where} OFFSET 0) m "
            "ORDER BY created_at DESC, snapshot_id LIMIT :wanted",
            wanted=wanted,
        )
        return [str(sid) for sid, _ in rows], int(rows[0][1]) if rows else 0, True

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
    def __init__(self, session: Session, fts: str, workspace_ids: Sequence[str] | None) -> None:
        self.session = session
        self.params: dict[str, Any] = {"fts_query": fts}
        self.visible = ""
        if workspace_ids is not None:
            self.visible = " AND s.workspace_id IN :workspaces"
            self.params["workspaces"] = list(workspace_ids)

    def _run(self, sql: str, **params: Any) -> list[Any]:
        statement = sql_text(sql)
        if ":workspaces" in sql:
            statement = statement.bindparams(bindparam("workspaces", expanding=True))
        return list(self.session.execute(statement, {**self.params, **params}))

    _MATCHES = (
        "FROM snapshot_fts JOIN snapshot_search ss ON ss.id = snapshot_fts.rowid "
        "JOIN snapshot s ON s.id = ss.snapshot_id WHERE snapshot_fts MATCH :fts_query"
    )

    def count_upto(self) -> int:
        # Counted to SORT_LIMIT: how many there are chooses between sorting and windows.
        # Without workspaces to test, the FTS5 index alone counts (one search row per
        # snapshot). bm25 cannot be asked first: it counts every match of each word.
        if not self.visible:
            sql = (
                "SELECT count(*) FROM (SELECT snapshot_fts.rowid FROM snapshot_fts "
                "WHERE snapshot_fts MATCH :fts_query LIMIT :upto)"
            )
        else:
            sql = f"SELECT count(*) FROM (SELECT 1 {self._MATCHES}{self.visible} LIMIT :upto)"
        return int(self._run(sql, upto=SORT_LIMIT + 1)[0][0])

    def counting(self) -> Any:
        if self.visible:
            sql = f"SELECT s.id AS snapshot_id {self._MATCHES}{self.visible}"
        else:  # one search row per snapshot: the index alone counts
            sql = (
                "SELECT rowid AS snapshot_id FROM snapshot_fts WHERE snapshot_fts MATCH :fts_query"
            )
        statement = sql_text(sql)
        if self.visible:
            statement = statement.bindparams(bindparam("workspaces", expanding=True))
        found = statement.bindparams(**self.params).columns(snapshot_id=String).subquery("m")
        return select(found.c.snapshot_id)

    def ranked(self) -> list[str]:
        rows = self._run(
            f"SELECT ss.snapshot_id, {SQLITE_SCORE} AS score {self._MATCHES}{self.visible} "
            "ORDER BY score, s.created_at DESC, ss.snapshot_id"
        )
        return [str(sid) for sid, _ in rows]

    def newest(self, wanted: int, matching: int) -> tuple[list[str], int, bool]:
        if matching <= SORT_LIMIT:  # few enough to sort whole
            return self._sorted(wanted, "")
        rows_in_list = count_rows(self.session, self._list_rows())
        windows = _Windows(share=MARGIN * wanted / matching, wanted=wanted)
        while (share := windows.next_share()) is not None:
            size = math.ceil(share * rows_in_list)
            if size >= rows_in_list:
                break
            first_id, oldest = self._window(size)
            if first_id is None:
                break
            window = " AND snapshot_fts.rowid >= :first_id AND s.created_at > :oldest"
            ids, hits, _ = self._sorted(wanted, window, first_id=first_id, oldest=oldest)
            if hits >= wanted:
                return ids, round(hits * rows_in_list / size), False
            windows.held(hits)
        return self._sorted(wanted, "")

    def _list_rows(self) -> Any:
        visible = select(col(Snapshot.id))
        if "workspaces" in self.params:
            visible = visible.where(col(Snapshot.workspace_id).in_(self.params["workspaces"]))
        return visible

    def _window(self, size: int) -> tuple[int | None, str | None]:
        """The smallest search rowid among the `size` newest visible snapshots, and their
        oldest ``created_at``. Every snapshot created after that time is among them, so
        its search row's rowid is at least that smallest one."""
        visible = self.visible.replace("s.workspace_id", "workspace_id")
        row = self._run(
            "SELECT min(ss.id), min(w.created_at) FROM (SELECT id, created_at FROM snapshot "
            f"WHERE 1 = 1{visible} ORDER BY created_at DESC LIMIT :size) w "
            "JOIN snapshot_search ss ON ss.snapshot_id = w.id",
            size=size,
        )[0]
        return row[0], row[1]

    def _sorted(self, wanted: int, window: str, **params: Any) -> tuple[list[str], int, bool]:
        """The newest `wanted` matches (within `window`, if any) and how many it holds."""
        rows = self._run(
            f"SELECT s.id, count(*) OVER () {self._MATCHES}{self.visible}{window} "
            "ORDER BY s.created_at DESC, s.id LIMIT :wanted",
            wanted=wanted,
            **params,
        )
        return [str(sid) for sid, _ in rows], int(rows[0][1]) if rows else 0, True
