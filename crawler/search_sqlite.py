"""SQLite's search engine: FTS5 finds the words; the count keeps the newest matches'
rowids, and the list order is walked among them before windows are tried
(crawler.search_windows).

FTS5 merges every list of a prefix's words before it answers any statement naming
the prefix, so the count first asks the words without their prefix, which it reads
only as far as asked; when they are already too many to rank, a near page walks the
list order and tests its rows a chunk at a time, indexed alone
(crawler.search_probe), and no merge is read."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from sqlalchemy import Integer, func, literal_column, or_, table
from sqlalchemy import column as column_
from sqlalchemy import text as sql_text
from sqlmodel import Session, col, select

from crawler import search_limits as limits
from crawler.counts import count_rows
from crawler.models import Snapshot
from crawler.search import SQLITE_SCORE, Term, fts5_query
from crawler.search_probe import newest_row_size, probe_rowids, text_size
from crawler.search_windows import LIST_ORDER, SEARCH_ROWS, Engine, Windows

_FTS = table("snapshot_fts", column_("rowid", Integer))


class SqliteEngine(Engine):
    def __init__(
        self,
        session: Session,
        terms: Sequence[Term],
        workspace_ids: Sequence[str] | None,
        wanted: int,
        limit: int,
    ) -> None:
        super().__init__(session, workspace_ids)
        self.fts = fts5_query(terms)
        # The words without their prefix ("news", not "news*"): FTS5 reads an exact word's
        # list as far as asked, but merges every list of a prefix's words first.
        prefixed = any(term.prefix for term in terms)
        self.exact = fts5_query([Term(t.tokens) for t in terms]) if prefixed else None
        self.deferred = False  # so they did: the newest matches were not read (yet)
        self.density = 0.0  # the share of the newest search rows that match (at least)
        self.estimate = 0  # about how many rows match (at least): what a merge reads
        self.rows = SEARCH_ROWS.alias("ss")
        self.wanted = wanted  # offset + limit: the rows up to the end of the page asked for
        self.limit = limit  # the rows of that page
        self.span = 0  # how many of the newest search rows count_upto read
        # count_upto's matches among the newest search rows: their rowids as a JSON
        # array, the rowid from which they are all the matches (0: all of them), and
        # whether every match was counted (at most limits.SORT_LIMIT) or kept
        self.newest_rowids = "[]"
        self.lowest_rowid = 0
        self.counted_all = False
        self.complete = False

    def _match(self, words: str | None = None) -> Any:
        """FTS5's test for the words (these, or the query's)."""
        query = self.fts if words is None else words
        return sql_text("snapshot_fts MATCH :fts_query").bindparams(fts_query=query)

    def _matches(self, *columns: Any, words: str | None = None) -> Any:
        """Visible matches joined to their search rows and snapshots."""
        joined = _FTS.join(self.rows, self.rows.c.id == _FTS.c.rowid).join(
            Snapshot, col(Snapshot.id) == self.rows.c.snapshot_id
        )
        return select(*columns).select_from(joined).where(self._match(words), *self.visible())

    def count_upto(self) -> int:
        if self.exact is not None:
            decided = self._exact_exceed()
            if decided is not None:
                return decided
        return self._count_newest()

    @cached_property
    def _bounds(self) -> tuple[int, int] | None:
        """The lowest and highest search rowid (None without search rows), read once:
        the exact words' check and the count both need them."""
        first, last = self.session.execute(
            sql_text(
                "SELECT (SELECT min(id) FROM snapshot_search), "
                "(SELECT max(id) FROM snapshot_search)"
            )
        ).one()
        return None if first is None or last is None else (int(first), int(last))

    def _span(self) -> int:
        """How many of the newest search rows the count reads."""
        return min(limits.MAX_SPAN, max(limits.NEWEST_SPAN, limits.SPAN_PER_ROW * self.wanted))

    def _exact_exceed(self) -> int | None:
        """More than `RANK_LIMIT` (returned) when the words without their prefix match that
        many among the newest search rows: then the words with it do too, and the newest
        matches are read only if a window needs them. None when they do not.

        Reading "news" newest first to its 2,001st visible match took 0.2 ms at 1M (3.5
        for a tenant, through the joins), where merging "news*" took 16-28 ms."""
        bounds, span = self._bounds, self._span()
        if bounds is None or bounds[1] - span + 1 <= bounds[0]:
            return None  # (none, or the count reads every row: exact, and few to merge)
        first, last = bounds
        bound = last - span + 1
        if self.workspaces is None:
            found = select(_FTS.c.rowid.label("rowid")).where(self._match(self.exact))
        else:
            # A tenant with too few rows among the newest to hold that many matches is
            # not asked: each match read is joined to test its workspace, and the count
            # that follows would join them again.
            visible = count_rows(self.session, select(col(Snapshot.id)).where(*self.visible()))
            if visible * span <= limits.RANK_LIMIT * (last - first + 1):
                return None
            found = self._matches(_FTS.c.rowid.label("rowid"), words=self.exact)
        nth = self.session.execute(
            found.where(_FTS.c.rowid >= bound)
            .order_by(_FTS.c.rowid.desc())
            .limit(1)
            .offset(limits.RANK_LIMIT)
        ).scalar()
        if nth is None:
            return None
        self.deferred = True
        self.density = (limits.RANK_LIMIT + 1) / (last - int(nth) + 1)
        self.estimate = round(self.density * (last - first + 1))
        return limits.RANK_LIMIT + 1

    def walk_pays(self, wanted: int, kept: float, *, walked_past: bool = True) -> bool:
        """Whether to walk the list order, testing a chunk at a time its rows that pass
        the other filters (`kept`: their share; `walked_past`: the others are read too,
        not an index of the passing rows alone), costs less than reading the newest
        matches: only once count_upto found the words without their prefix dense among
        the newest rows (too many to rank), and only when the rows walked and indexed
        alone for the page cost less than FTS5's merge of the prefix's lists. "news" (37%
        of 1M): ~200 rows for a page of 50 (~1.5 ms) against the merge (16-28 ms); for
        page 20 the ~4,000 rows would cost more."""
        if not self.deferred:
            return False
        tested = limits.MARGIN * wanted / max(self.density, 1e-9)
        walked = tested / max(kept, 1e-9) if walked_past else tested
        # (a captured page's text is indexed too: the newest rows say how long they run)
        chars = tested * newest_row_size(self.session)
        indexed = tested * limits.PROBE_ROW_COST + chars * limits.PROBE_CHAR_COST
        return indexed + walked * limits.WALK_ROW_COST <= self.estimate

    def _count_newest(self) -> int:
        # FTS5 merges every list of a prefix's words for each statement that asks for it
        # (~9 ms for "news*" at 1M, whatever rowids the statement wants; twice that read
        # highest rowid first), so one statement reads the matches among the newest
        # search rows: they count, and newest() looks for the page among them before it
        # asks FTS5 again. Only a word with few there is counted among all (to
        # limits.SORT_LIMIT), and a word with few in the newest rows has short lists. Without
        # workspaces to test, the FTS5 index alone counts (one search row per snapshot).
        # bm25 cannot be asked first: it counts every match of each word.
        self.deferred = False
        bounds = self._bounds
        if bounds is None:
            return 0
        first, last = bounds
        if self.workspaces is None:
            found = select(_FTS.c.rowid.label("rowid")).where(self._match())
        else:
            found = self._matches(_FTS.c.rowid.label("rowid"))
        span = self._span()
        bound = last - span + 1
        self.span = span
        self.complete = bound <= first
        newest = (found if self.complete else found.where(_FTS.c.rowid >= bound)).subquery()
        counted, listed = self.session.execute(
            select(func.count(), func.group_concat(newest.c.rowid))
        ).one()
        self.newest_rowids = f"[{listed or ''}]"  # handed back to SQLite as they came
        self.density = max(1, counted) / span
        rows = last - first + 1
        self.estimate = counted if self.complete else max(counted, round(self.density * rows))
        counted_all = self.complete
        if not self.complete and counted <= limits.RANK_LIMIT:
            capped = found.limit(limits.SORT_LIMIT + 1).subquery()
            everything = self.session.execute(select(func.count()).select_from(capped))
            total = int(everything.scalar_one())
            self.complete = total == counted
            counted, counted_all = total, True
            self.estimate = max(self.estimate, total)
        # Below the lowest kept a rowid is undecided, unless every match was kept.
        self.lowest_rowid = 0 if self.complete else bound
        self.counted_all = counted_all and counted <= limits.SORT_LIMIT
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
        if self.deferred:  # count_upto only found that they are many: read the newest now
            matching = self._count_newest()
        everything = count_rows(self.session, select(col(Snapshot.id)).where(*self.visible()))
        if wanted - self.limit >= everything:  # past the last row there can be
            scale = 1.0 if self.complete else everything / max(1, self.span)
            if tests:  # the words' count, scaled to the rows the other filters keep
                return [], max(1, round(matching * scale * kept)), False
            return [], round(matching * scale), self.complete
        if self.complete and matching <= limits.SORT_LIMIT:  # all kept: sorted whole, no FTS5
            return *self._ids(self._among(self.newest_rowids, wanted, tests)), True
        if self.counted_all:  # few enough to sort whole (with FTS5 once more)
            return *self._ids(self._window(wanted, tests, [])), True
        # The walk, unless the pages need more matches than the rows read hold (the
        # other filters aside: their share is counted only to limits.DRIVE_LIMIT here).
        density = 1.0 if self.complete else matching / max(1, self.span)
        walk = wanted <= density * self.span
        found = self._from_newest_rowids(wanted, tests, everything) if walk else None
        if found is not None:
            if self.complete and not tests:  # every match was counted
                return found[0], matching, True
            return found[0], found[1], len(found[0]) < wanted
        rows_in_list = everything
        # Words counted only to limits.SORT_LIMIT may match far more (370,528 for "news" at 1M):
        # the first window is then small, and the next sized from what it held.
        # Beside other filters it is larger (up to 6x), as fewer of its rows pass them:
        # each window read costs a merge of the words' lists (~9 ms for "news*" at 1M).
        widened = limits.FIRST_WINDOW * min(6.0, 1.0 / kept)
        first = min(limits.MARGIN * wanted / (matching * kept), widened / rows_in_list)
        windows = Windows(share=first, wanted=wanted)
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
            .order_by(*LIST_ORDER)
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
            .order_by(*LIST_ORDER)
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
        for _ in range(limits.WALK_ROUNDS):
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
                .order_by(*LIST_ORDER)
                .limit(wanted)
            )
            rows = self.session.execute(walk).all()
            undecided = [rowid for _, _, rowid in rows if rowid < lowest and rowid not in matching]
            if not undecided:
                break
            if len(undecided) > limits.UNDECIDED_LIMIT:
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
        """Which of these search rowids match. Few of them next to a prefix's matches are
        indexed alone (crawler.search_probe) when that reads less than FTS5's merge of the
        prefix's lists would. Otherwise one FTS5 statement reads the words' matches only in
        their range, each looked up in the list ("+ 0": not handed to FTS5, which would run
        the match once per rowid)."""
        if self.exact is not None and self._probe_pays(rowids):
            return probe_rowids(self.session, self.fts, rowids)
        listed = select(_json_values(json.dumps(rowids)).c.value)
        statement = select(_FTS.c.rowid).where(
            self._match(),
            _FTS.c.rowid.between(min(rowids), max(rowids)),
            (_FTS.c.rowid + 0).in_(listed),
        )
        return [int(rowid) for rowid in self.session.execute(statement).scalars()]

    def _probe_pays(self, rowids: list[int]) -> bool:
        """Whether indexing these rows alone costs less than merging the prefix's lists,
        as the matches' estimate says (a row indexed cost ~5.6 us, a character ~14 ns,
        a match merged ~0.04 us)."""
        budget = self.estimate
        if len(rowids) * limits.PROBE_ROW_COST > budget:
            return False
        size = text_size(self.session, rowids)
        return len(rowids) * limits.PROBE_ROW_COST + size * limits.PROBE_CHAR_COST <= budget

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
        self,
        wanted: int,
        driving: list[Any],
        *,
        stepwise: bool = False,
        rows: int | None = None,
        search_rowids: Sequence[Any] = (),
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
            .where(*self.visible(), *driving, *(self.rows.c.id.in_(r) for r in search_rowids))
            .order_by(*LIST_ORDER)
        )
        few = [] if stepwise else self.session.execute(listed).all()
        # (when count_upto read no newest matches, every row is tested)
        kept = set() if self.deferred else set(json.loads(self.newest_rowids))
        undecided_below = sys.maxsize if self.deferred else self.lowest_rowid
        density = max(self.density, 1e-9)  # the share of the newest rows that match
        found: list[str] = []
        decided = 0  # of the rows, in list order
        ran_out = not stepwise and not few
        while not ran_out and len(found) < wanted:
            needed = wanted - len(found)
            size = max(needed, math.ceil(limits.MARGIN * needed / density))
            if stepwise:
                chunk = self.session.execute(listed.offset(decided).limit(size)).all()
            else:
                chunk = few[decided : decided + size]
            older = [rowid for _, rowid in chunk if rowid < undecided_below]
            matched = set(self._matching_rowids(older)) if older else set()
            found += [sid for sid, rowid in chunk if rowid in kept or rowid in matched]
            decided += len(chunk)
            ran_out = len(chunk) < size if stepwise else decided == len(few)
        if ran_out:
            return found[:wanted], len(found), True
        if not few and rows is None:
            rows = count_rows(
                self.session, select(col(Snapshot.id)).where(*self.visible(), *driving)
            )
        return found[:wanted], round(len(found) * (len(few) or rows or 0) / max(1, decided)), False


def _json_values(array: str) -> Any:
    """The values of a JSON array as a table (``value``): how SQLite is handed a list of
    rowids in one parameter, whatever its length."""
    return func.json_each(array).table_valued("value")
