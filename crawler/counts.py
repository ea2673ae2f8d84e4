"""Totals for paged lists without a full COUNT(*) on every page.

A list page needs its total (the envelope's ``count``), but counting a million
rows costs more than fetching the page. Small totals are counted exactly and
cheaply: the count stops at `EXACT_UP_TO` rows. Totals beyond that are counted
in full once and remembered for the same query, so a client paging through a
big archive pays for the count once, not per page. A remembered total older
than `LARGE_TTL` seconds is still answered at once while a background thread
recounts it (stale-while-revalidate), so no request waits on a large count
after the first. Large totals may therefore lag writes by about `LARGE_TTL`
seconds; small totals are always exact. A caller that can estimate a total
(`count_total`'s ``estimate``) gets the estimate, marked as one. The full count
starts in the background only when the same list is asked for again (a client
paging, a page reloaded): a one-off query (a search box, a random filter) would
otherwise start a scan per request, and at 10M snapshots a few of them took the
cores from the requests being answered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

EXACT_UP_TO = 10_000
LARGE_TTL = 30.0
CACHE_SIZE = 256
MAX_RECOUNTS = 2

Key = tuple[str, str, tuple[tuple[str, str], ...]]

log = logging.getLogger(__name__)
_lock = threading.Lock()
_cache: OrderedDict[Key, tuple[float, int]] = OrderedDict()
_refreshing: set[Key] = set()
_estimated: OrderedDict[Key, None] = OrderedDict()  # answered once with an estimate


def _key(session: Session, query: Any) -> Key:
    bind = session.get_bind()
    compiled = query.compile(dialect=bind.dialect)
    params = tuple(sorted((k, repr(v)) for k, v in compiled.params.items()))
    return str(bind.engine.url), str(compiled), params


def _full_count(query: Any) -> Any:
    return select(func.count()).select_from(query.order_by(None).subquery())


@dataclass(frozen=True, slots=True)
class Total:
    """A list's total; `exact` is False while a large total is still being counted."""

    value: int
    exact: bool = True


def planner_estimate(session: Session, query: Any) -> int | None:
    """PostgreSQL's own row estimate for `query` (EXPLAIN: planned, not run); None on SQLite,
    whose planner gives no row counts."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    # Expanding IN lists rendered as plain parameters: the driver gets the statement as is.
    compiled = query.compile(dialect=bind.dialect, compile_kwargs={"render_postcompile": True})
    plan = (
        session.connection()
        .exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params)
        .scalar_one()
    )
    return int(plan[0]["Plan"]["Plan Rows"])


def remembered(session: Session, query: Any) -> Total | None:
    """The remembered total of `query` (as `count_total` would answer it), or None:
    lets a caller skip the work of estimating a total that is already known."""
    key = _key(session, query)
    with _lock:
        hit = _cache.get(key)
    return None if hit is None else Total(hit[1])


def count_rows(session: Session, query: Any) -> int:
    """How many rows `query` (a SELECT) returns: exact when small, cached when large."""
    return count_total(session, query).value


def count_total(session: Session, query: Any, *, estimate: int | None = None) -> Total:
    """Like `count_rows`; given an `estimate` and nothing remembered, answers the
    estimate at once (marked inexact) and counts in the background instead of waiting.
    Such a total stays remembered even when small: counting it costs a scan."""
    key = _key(session, query)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is not None:
        stamp, total = hit
        if time.monotonic() - stamp >= LARGE_TTL:
            _refresh_later(session.get_bind().engine, key, query)
        return Total(total)
    if estimate is not None:
        if _asked_again(key):
            _refresh_later(session.get_bind().engine, key, query, keep=True)
        return Total(estimate, exact=False)
    capped = query.limit(EXACT_UP_TO + 1).subquery()
    small = int(session.execute(select(func.count()).select_from(capped)).scalar_one())
    if small <= EXACT_UP_TO:
        return Total(small)
    total = int(session.execute(_full_count(query)).scalar_one())
    _remember(key, total)
    return Total(total)


def _asked_again(key: Key) -> bool:
    """Whether `key` was answered with an estimate before (remembering that it now was)."""
    with _lock:
        if key in _estimated:
            _estimated.move_to_end(key)
            return True
        _estimated[key] = None
        while len(_estimated) > CACHE_SIZE:
            _estimated.popitem(last=False)
        return False


def _remember(key: Key, total: int, *, keep: bool = False) -> None:
    with _lock:
        if total <= EXACT_UP_TO and not keep:
            _cache.pop(key, None)  # small again: count exactly from now on
            return
        _cache[key] = (time.monotonic(), total)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def _refresh_later(engine: Engine, key: Key, query: Any, *, keep: bool = False) -> None:
    """Recount in the background; until it is done, callers get the previous total.

    At most `MAX_RECOUNTS` run at once: many distinct filters in a row would
    otherwise start as many full scans. A count not started now is tried again
    by the next request for it (which meanwhile gets the estimate again)."""
    with _lock:
        if key in _refreshing or len(_refreshing) >= MAX_RECOUNTS:
            return
        _refreshing.add(key)

    def run() -> None:
        try:
            with Session(engine) as session:
                if engine.dialect.name == "postgresql":
                    # One core for a background count: PostgreSQL would otherwise run it
                    # in parallel workers, taking every core from the requests being
                    # answered meanwhile (at 10M snapshots a count takes about a second).
                    session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
                total = int(session.execute(_full_count(query)).scalar_one())
                _remember(key, total, keep=keep)
        except SQLAlchemyError as exc:
            log.warning("recounting a large list failed: %s", exc)
            with _lock:
                _cache.pop(key, None)
        finally:
            with _lock:
                _refreshing.discard(key)

    threading.Thread(target=run, name="amber-recount", daemon=True).start()
