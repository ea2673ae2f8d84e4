"""Totals for paged lists without a full COUNT(*) on every page.

A list page needs its total (the envelope's ``count``), but counting a million
rows costs more than fetching the page. Small totals are counted exactly and
cheaply: the count stops at `EXACT_UP_TO` rows. Totals beyond that are counted
in full once and then reused for `LARGE_TTL` seconds for the same query, so a
client paging through a big archive pays for the count once, not per page.
Such a large total may lag writes by up to `LARGE_TTL` seconds (also when it
shrinks below the threshold meanwhile); small totals are always exact.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

EXACT_UP_TO = 10_000
LARGE_TTL = 30.0
CACHE_SIZE = 256

_lock = threading.Lock()
_cache: OrderedDict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[float, int]] = OrderedDict()


def _key(session: Session, query: Any) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    bind = session.get_bind()
    compiled = query.compile(dialect=bind.dialect)
    params = tuple(sorted((k, repr(v)) for k, v in compiled.params.items()))
    return str(bind.engine.url), str(compiled), params


def count_rows(session: Session, query: Any) -> int:
    """How many rows `query` (a SELECT) returns: exact when small, briefly cached when large."""
    key = _key(session, query)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < LARGE_TTL:
            _cache.move_to_end(key)
            return hit[1]
    capped = query.limit(EXACT_UP_TO + 1).subquery()
    small = int(session.execute(select(func.count()).select_from(capped)).scalar_one())
    if small <= EXACT_UP_TO:
        return small
    total = int(
        session.execute(
            select(func.count()).select_from(query.order_by(None).subquery())
        ).scalar_one()
    )
    with _lock:
        _cache[key] = (now, total)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return total
