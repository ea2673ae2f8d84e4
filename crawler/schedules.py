"""Re-archiving over time: a schedule makes a new snapshot of its URLs every N seconds.

A schedule names URLs (optionally tagging each new snapshot) or only a tag
(then every URL archived with that tag is re-archived, and the new snapshot
carries the tag too). With ``depth`` > 0 each firing is a crawl instead.

Every API and worker node runs `fire_due` periodically; a firing is claimed by
a conditional update of the schedule's run counter, so with several nodes each
firing still happens once. Missed firings (all nodes were down) collapse into
one: the next run is the first multiple of the interval after now.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawler import crawls
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.clock import as_utc, utcnow
from crawler.crawl_rules import seed_urls
from crawler.db import session_scope
from crawler.errors import AmberError, InvalidInput, NotFound
from crawler.models import DEFAULT_NOTIFY_THRESHOLD, Schedule, Snapshot, SnapshotTag, Tag
from crawler.urls import Network
from crawler.webhooks import check_webhook_url

log = logging.getLogger(__name__)

MIN_EVERY = 60
MAX_EVERY = 366 * 86400
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
WORDS = {
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}
DEFAULT_THRESHOLD = DEFAULT_NOTIFY_THRESHOLD
EVERY_RE = re.compile(r"^\s*([0-9]{1,12})\s*([smhdw]?)\s*$", re.IGNORECASE)

Dispatch = Callable[[Sequence[str]], None]


def parse_every(value: str | int | float) -> int:
    """'1d', '6h', '30m', '90s', '2w', 'day', or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise InvalidInput("every must be a duration such as '1d', '6h' or a number of seconds")
    if isinstance(value, int | float):
        seconds = int(value)
    else:
        text = value.strip().lower()
        match = EVERY_RE.match(text)
        if text in WORDS:
            seconds = WORDS[text]
        elif match:
            seconds = int(match.group(1)) * UNITS[match.group(2) or "s"]
        else:
            raise InvalidInput(
                f"every must be a duration such as '1d', '6h', '30m' or seconds, not {value!r}"
            )
    if not MIN_EVERY <= seconds <= MAX_EVERY:
        raise InvalidInput(f"every must be between {MIN_EVERY}s and {MAX_EVERY // 86400}d")
    return seconds


def create_schedule(
    session: Session,
    *,
    principal: Principal,
    every: str | int | float,
    urls: Sequence[str] = (),
    tag: str = "",
    depth: int = 0,
    label: str = "",
    next_run_at: datetime | None = None,
    notify_url: str | None = None,
    notify_threshold: float | None = None,
    networks: Sequence[Network] = (),
) -> Schedule:
    """Store a schedule; `notify_url` must pass the capture allow-list (`networks`) now."""
    seconds = parse_every(every)
    tags = snaps.parse_tags(tag)
    if len(tags) > 1:
        raise InvalidInput("a schedule takes one tag")
    seeds = seed_urls(list(urls)) if urls else []
    if not seeds and not tags:
        raise InvalidInput("a schedule needs URLs or a tag")
    if not 0 <= depth <= crawls.MAX_DEPTH:
        raise InvalidInput(f"depth must be between 0 and {crawls.MAX_DEPTH}")
    threshold = DEFAULT_THRESHOLD if notify_threshold is None else notify_threshold
    if not 0 <= threshold <= 1:
        raise InvalidInput("notify_threshold must be a share of the text between 0 and 1")
    if notify_url:
        notify_url = check_webhook_url(notify_url, networks)
    now = utcnow()
    schedule = Schedule(
        workspace_id=principal.default_workspace_id,
        created_by_id=principal.user_id,
        created_at=now,
        modified_at=now,
        label=label,
        urls="\n".join(seeds),
        tag=tags[0] if tags else "",
        depth=depth,
        every_seconds=seconds,
        next_run_at=as_utc(next_run_at) or now + timedelta(seconds=seconds),
        notify_url=notify_url or None,
        notify_threshold=threshold,
    )
    session.add(schedule)
    session.flush()
    return schedule


def list_schedules(session: Session, principal: Principal) -> list[Schedule]:
    query = select(Schedule).order_by(col(Schedule.created_at))
    if not principal.is_admin:
        query = query.where(col(Schedule.workspace_id).in_(principal.workspace_ids))
    return list(session.exec(query))


def get_schedule(session: Session, principal: Principal, schedule_id: str) -> Schedule:
    schedule = session.get(Schedule, schedule_id) if 0 < len(schedule_id) <= 64 else None
    if schedule is None or not principal.can_read(schedule.workspace_id):
        raise NotFound(f"Schedule {schedule_id!r} not found")
    return schedule


def next_after(due_at: datetime, every: int, now: datetime) -> datetime:
    """The first run time on the schedule's grid that is later than `now`."""
    due = as_utc(due_at)
    assert due is not None
    if due > now:
        return due
    missed = int((now - due).total_seconds() // every) + 1
    return due + timedelta(seconds=missed * every)


def _urls_with_tag(session: Session, workspace_id: str, tag: str) -> list[str]:
    rows = session.exec(
        select(Snapshot.url, Snapshot.normalized_url)
        .join(SnapshotTag, col(SnapshotTag.snapshot_id) == col(Snapshot.id))
        .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
        .where(Snapshot.workspace_id == workspace_id, Tag.name == tag)
        .order_by(col(Snapshot.created_at))
    )
    newest: dict[str, str] = {}
    for url, key in rows:
        newest[key] = url
    return list(newest.values())


def fire(
    session: Session, schedule: Schedule, *, now: datetime, redeliver_after: float = 300.0
) -> list[str] | None:
    """Claim this run and create its snapshots; None when another node already fired it."""
    claimed = session.exec(  # type: ignore[call-overload]
        update(Schedule)
        .where(col(Schedule.id) == schedule.id, col(Schedule.runs) == schedule.runs)
        .values(
            runs=schedule.runs + 1,
            last_run_at=now,
            modified_at=now,
            next_run_at=next_after(schedule.next_run_at, schedule.every_seconds, now),
        )
    )
    if claimed.rowcount != 1:
        return None
    owner = Principal(
        user_id=schedule.created_by_id,
        username="",
        is_admin=False,
        workspace_ids=(schedule.workspace_id,),
    )
    urls = schedule.urls.split() or _urls_with_tag(session, schedule.workspace_id, schedule.tag)
    if not urls:
        return []
    if schedule.depth:
        _, outcome = crawls.create_crawl(
            session,
            principal=owner,
            urls=urls,
            max_depth=schedule.depth,
            tags_str=schedule.tag,
            label=schedule.label or f"schedule {schedule.id}",
            config={"scope": "any"},
            redeliver_after=redeliver_after,
        )
    else:
        outcome = snaps.add_urls(
            session,
            principal=owner,
            entries=[snaps.UrlEntry(url=u) for u in urls],
            tags=[schedule.tag] if schedule.tag else [],
            update=True,
            redeliver_after=redeliver_after,
        )
    if outcome.queued_ids:  # remembered so a re-capture can be compared with the one before
        session.exec(  # type: ignore[call-overload]
            update(Snapshot)
            .where(col(Snapshot.id).in_(outcome.queued_ids))
            .values(schedule_id=schedule.id)
        )
    return outcome.queued_ids


def fire_due(
    engine: Engine,
    *,
    now: datetime,
    dispatch: Dispatch,
    redeliver_after: float = 300.0,
    limit: int = 100,
) -> list[str]:
    """Fire every schedule due at `now` (injected, so tests need no sleeping).

    Each firing commits on its own before its snapshots are dispatched.
    Returns the ids of the snapshots it queued.
    """
    with Session(engine) as session:
        due = list(
            session.exec(
                select(Schedule)
                .where(col(Schedule.next_run_at) <= now)
                .order_by(col(Schedule.next_run_at))
                .limit(limit)
            )
        )
    queued: list[str] = []
    for schedule in due:
        try:
            with session_scope(engine) as session:
                ids = fire(session, schedule, now=now, redeliver_after=redeliver_after)
        except AmberError as exc:
            log.warning("schedule %s could not fire: %s", schedule.id, exc.message)
            continue
        if ids:
            log.info("schedule %s queued %d snapshot(s)", schedule.id, len(ids))
            dispatch(ids)
            queued.extend(ids)
    return queued
