"""Delivering change alerts: the periodic job's side of `crawler.changes`.

Every node runs `deliver_due` from its periodic loop. A due alert is claimed by
a conditional update (its attempt counter), so two nodes never POST it twice at
once; the claim also pushes `next_attempt_at` past the request's timeout, so an
alert whose node died mid-delivery comes due again. A failed POST is retried
after `backoff * 2**(attempts - 1)` seconds (capped at a day) until
`max_attempts` is used up; then it stays failed with its last error, visible in
the API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawler.clock import iso, utcnow
from crawler.db import session_scope
from crawler.models import Change, Snapshot
from crawler.urls import Network
from crawler.webhooks import Delivery, post_json

log = logging.getLogger(__name__)

MAX_DELAY = 86400.0


def diff_paths(before_id: str, after_id: str) -> tuple[str, str]:
    """The diff's API path and UI page path (relative to the server's base URL)."""
    return f"/api/v1/core/snapshots/{before_id}/diff/{after_id}", f"/diff/{before_id}/{after_id}"


def _side(snapshot: Snapshot | None, snapshot_id: str) -> dict[str, Any]:
    return {
        "snapshot_id": snapshot_id,
        "timestamp": snapshot.timestamp if snapshot else None,
        "captured_at": iso(snapshot.downloaded_at) if snapshot else None,
    }


def payload(session: Session, change: Change, *, base_url: str) -> dict[str, Any]:
    """The webhook's JSON body (documented field by field in the README)."""
    before = session.get(Snapshot, change.before_snapshot_id)
    after = session.get(Snapshot, change.after_snapshot_id)
    api_path, page_path = diff_paths(change.before_snapshot_id, change.after_snapshot_id)
    base = base_url.rstrip("/")
    return {
        "event": "page.changed",
        "change_id": change.id,
        "url": change.url,
        "schedule_id": change.schedule_id,
        "detected_at": iso(change.created_at),
        "share_changed": change.share_changed,
        "summary": {
            "words_inserted": change.words_inserted,
            "words_deleted": change.words_deleted,
            "excerpt": change.excerpt,
        },
        "before": _side(before, change.before_snapshot_id),
        "after": _side(after, change.after_snapshot_id),
        "diff_url": base + api_path,
        "diff_page_url": base + page_path,
    }


def retry_delay(attempts: int, *, backoff: float) -> float:
    return float(min(MAX_DELAY, backoff * 2 ** max(0, attempts - 1)))


def _claim(session: Session, change: Change, *, now: datetime, hold: float) -> bool:
    claimed = session.exec(  # type: ignore[call-overload]
        update(Change)
        .where(
            col(Change.id) == change.id,
            col(Change.attempts) == change.attempts,
            col(Change.delivered_at).is_(None),
        )
        .values(attempts=change.attempts + 1, next_attempt_at=now + timedelta(seconds=hold))
    )
    return bool(claimed.rowcount == 1)


def _record(
    engine: Engine,
    change: Change,
    outcome: Delivery,
    *,
    attempts: int,
    max_attempts: int,
    backoff: float,
) -> None:
    now = utcnow()
    if outcome.delivered:
        values: dict[str, Any] = {"delivered_at": now, "next_attempt_at": None, "last_error": None}
    else:
        retry = attempts < max_attempts
        delay = retry_delay(attempts, backoff=backoff)
        values = {
            "last_error": outcome.error,
            "next_attempt_at": now + timedelta(seconds=delay) if retry else None,
        }
    with session_scope(engine) as session:
        session.exec(update(Change).where(col(Change.id) == change.id).values(**values))  # type: ignore[call-overload]


def deliver_due(
    engine: Engine,
    *,
    networks: Sequence[Network],
    base_url: str,
    timeout: float,
    max_attempts: int,
    backoff: float,
    now: datetime | None = None,
    limit: int = 50,
    budget: float = 20.0,
) -> int:
    """POST every alert that is due (oldest first) within `budget` seconds; returns how many."""
    started = time.monotonic()
    now = now or utcnow()
    with Session(engine) as session:
        due = list(
            session.exec(
                select(Change)
                .where(col(Change.next_attempt_at) <= now, col(Change.delivered_at).is_(None))
                .order_by(col(Change.next_attempt_at))
                .limit(limit)
            )
        )
    delivered = 0
    for change in due:
        if time.monotonic() - started > budget:
            break  # the rest wait for the next pass; the periodic loop has other jobs
        with session_scope(engine) as session:
            if not _claim(session, change, now=utcnow(), hold=timeout * 4 + 10):
                continue
            body = payload(session, change, base_url=base_url)
        attempts = change.attempts + 1
        if not change.notify_url:
            outcome = Delivery(False, error="the schedule has no webhook")
        else:
            outcome = post_json(change.notify_url, body, networks=networks, timeout=timeout)
        _record(
            engine, change, outcome, attempts=attempts, max_attempts=max_attempts, backoff=backoff
        )
        if outcome.delivered:
            delivered += 1
            log.info("change %s delivered to its webhook", change.id)
        else:
            log.warning(
                "change %s: webhook attempt %d failed: %s", change.id, attempts, outcome.error
            )
    return delivered
