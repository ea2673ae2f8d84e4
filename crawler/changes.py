"""Change alerts: a schedule's re-capture whose text moved more than the schedule's threshold.

After a capture made by a schedule succeeds, its text is diffed with the
previous succeeded capture of the same URL in the same workspace. A change
above the threshold becomes a `Change` row (the alert's record, listed by the
API); when the schedule names a webhook the row also carries the delivery
state, and `crawler.alerts` POSTs it later from the periodic job, never from
the capture. One row per re-capture: a second look at the same snapshot is a
no-op (unique on `after_snapshot_id`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import utcnow
from crawler.db import session_scope
from crawler.diffs.compare import TEXT, Missing, compare_text, output_blob
from crawler.diffs.text import DEFAULT_TIMEOUT
from crawler.models import Change, Schedule, Snapshot, SnapshotStatus
from crawler.urls import normalize_url

log = logging.getLogger(__name__)


def previous_capture(session: Session, snapshot: Snapshot) -> Snapshot | None:
    """The newest succeeded capture of the same URL in the same workspace before `snapshot`."""
    return session.exec(
        select(Snapshot)
        .where(
            col(Snapshot.workspace_id) == snapshot.workspace_id,
            col(Snapshot.normalized_url) == snapshot.normalized_url,
            col(Snapshot.status) == SnapshotStatus.succeeded,
            col(Snapshot.id) != snapshot.id,
            col(Snapshot.created_at) <= snapshot.created_at,
        )
        .order_by(col(Snapshot.created_at).desc(), col(Snapshot.id).desc())
        .limit(1)
    ).first()


@dataclass(frozen=True, slots=True)
class _Pair:
    schedule: Schedule
    before: Snapshot
    after: Snapshot
    sha_before: str
    sha_after: str


def _pair_for(session: Session, snapshot_id: str) -> _Pair | None:
    after = session.get(Snapshot, snapshot_id)
    if after is None or not after.schedule_id or after.status != SnapshotStatus.succeeded:
        return None
    schedule = session.get(Schedule, after.schedule_id)
    before = previous_capture(session, after)
    if schedule is None or before is None:
        return None
    results = snaps.results_for(session, [before.id, after.id])
    try:
        sha_before = output_blob(before, results[before.id], TEXT)
        sha_after = output_blob(after, results[after.id], TEXT)
    except Missing as exc:
        log.info("no change check for %s: %s", snapshot_id, exc.message)
        return None
    return _Pair(schedule, before, after, sha_before, sha_after)


def record_change(
    engine: Engine, blobs: BlobStore, snapshot_id: str, *, timeout: float = DEFAULT_TIMEOUT
) -> Change | None:
    """Compare a schedule's new capture with the one before; store a Change above the threshold."""
    with Session(engine) as session:
        pair = _pair_for(session, snapshot_id)
    if pair is None:
        return None
    diff = (
        None
        if pair.sha_before == pair.sha_after
        else compare_text(blobs, pair.sha_before, pair.sha_after, timeout=timeout)
    )
    if diff is None or diff.share_changed <= pair.schedule.notify_threshold:
        return None
    now = utcnow()
    change = Change(
        workspace_id=pair.after.workspace_id,
        schedule_id=pair.schedule.id,
        url=pair.after.url,
        before_snapshot_id=pair.before.id,
        after_snapshot_id=pair.after.id,
        created_at=now,
        share_changed=round(diff.share_changed, 6),
        words_inserted=diff.words_inserted,
        words_deleted=diff.words_deleted,
        excerpt=diff.excerpt(),
        notify_url=pair.schedule.notify_url,
        next_attempt_at=now if pair.schedule.notify_url else None,
    )
    try:
        with session_scope(engine) as session:
            session.add(change)
    except IntegrityError:
        return None  # this capture was already compared
    log.info("change on %s: %.1f%% of the text", change.url, 100 * change.share_changed)
    return change


def query_changes(
    session: Session,
    principal: Principal,
    *,
    url: str | None = None,
    schedule_id: str | None = None,
    snapshot_id: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Change], int]:
    """The caller's changes, newest first, filtered; and how many there are in all."""
    query = select(Change)
    if not principal.is_admin:
        query = query.where(col(Change.workspace_id).in_(principal.workspace_ids))
    if url:
        try:
            spellings = {url, normalize_url(url)}
        except ValueError:
            spellings = {url}
        query = query.where(col(Change.url).in_(spellings))
    if schedule_id:
        query = query.where(col(Change.schedule_id) == schedule_id)
    if snapshot_id:
        query = query.where(
            or_(
                col(Change.before_snapshot_id) == snapshot_id,
                col(Change.after_snapshot_id) == snapshot_id,
            )
        )
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Change.created_at).desc(), col(Change.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), int(total)
