"""What both stores' search engines share: the search rows, the list order, the
windows of the newest rows and the engine interface (crawler.search_pages).

A window is a share of the newest rows, sized from what the last one held; every
match outside a window is older than every row in it, so a window holding the
page's matches gives exactly the list's page.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, table
from sqlalchemy import column as column_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col

from crawler import search_limits as limits
from crawler.models import Snapshot

SEARCH_ROWS = table(
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
LIST_ORDER = (col(Snapshot.created_at).desc(), col(Snapshot.id))  # the snapshot list's


class Windows:
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
        return self.share if self.rounds <= limits.MAX_ROUNDS else None

    def held(self, hits: int) -> None:
        """Record what the last window held (not enough, or too many), and pick the next."""
        if self.cap is not None and hits > self.cap:
            self.too_large = self.share
            target = self.share * limits.MARGIN * self.wanted / hits
        else:
            self.too_small = self.share
            factor = limits.GROWTH if hits == 0 else limits.MARGIN * self.wanted / hits
            target = self.share * min(limits.GROWTH, max(2.0, factor))
        if not self.too_small < target < self.too_large:
            target = math.sqrt(max(self.too_small, 1e-9) * min(self.too_large, 1.0))
        self.share = min(1.0, target)


class Engine:
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
        self,
        wanted: int,
        driving: list[Any],
        *,
        stepwise: bool = False,
        rows: int | None = None,
        search_rowids: Sequence[Any] = (),
    ) -> tuple[list[str], int, bool]:
        """The newest `wanted` of the few visible rows `driving` finds that match, how
        many match, and whether that count is exact (else estimated from the rows
        tested, of about `rows` when given, else counted): each row found is tested for
        the words. `stepwise`: the rows are many, read in list order as needed.
        `search_rowids` (SQLite): SELECTs their search rows' ids are among, too."""
        raise NotImplementedError

    def _ids(self, statement: Any) -> tuple[list[str], int]:
        """Run a page statement selecting (id, count over all): the ids and the count."""
        rows = self.session.execute(statement).all()
        return [str(sid) for sid, _ in rows], int(rows[0][1]) if rows else 0


def utc(moment: datetime | None) -> datetime | None:
    """A filter's time, comparable with the store's (a naive one is taken as UTC)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def share_from(bounds: list[datetime], moment: datetime) -> float:
    """About the share of the rows created at or after `moment`: `time_at_share`'s
    inverse."""
    if len(bounds) < 2 or moment <= bounds[0]:
        return 1.0
    if moment >= bounds[-1]:
        return 0.0
    step = bisect.bisect_right(bounds, moment) - 1
    start, end = bounds[step], bounds[step + 1]
    within = (moment - start) / (end - start) if end > start else 0.0
    return 1.0 - (step + within) / (len(bounds) - 1)


def time_at_share(bounds: list[datetime], share: float) -> datetime | None:
    """The time after which about `share` of the rows were created: interpolated
    between equal-share bounds (linearly in time within one step)."""
    if len(bounds) < 2:
        return None
    steps = len(bounds) - 1
    position = (1.0 - share) * steps
    step = min(steps - 1, max(0, math.floor(position)))
    start, end = bounds[step], bounds[step + 1]
    return start + (end - start) * (position - step)
