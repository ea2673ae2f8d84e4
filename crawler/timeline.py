"""Every capture of a URL over time: the timeline, the nearest capture, Wayback timestamps.

A URL's captures are the snapshots whose normalised URL matches, in the
workspaces the caller may read (all of them when replay is public). Only a
capture that succeeded and kept a WARC is a *memento* (it can be replayed);
the timeline lists the others too, with their status, so a failure is visible.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from crawler.auth import Principal
from crawler.clock import as_utc
from crawler.errors import InvalidInput
from crawler.models import ArchiveResult, Snapshot, SnapshotStatus
from crawler.urls import normalize_url, validate_url

WAYBACK_DIGITS = re.compile(r"^\d{4,14}$")
TIMELINE_LIMIT = 5000


def capture_time(snapshot: Snapshot) -> datetime:
    """When the page was captured: the claim that loaded it, else when it was queued."""
    moment = as_utc(snapshot.claimed_at) or as_utc(snapshot.created_at)
    assert moment is not None
    return moment


def to_wayback(moment: datetime) -> str:
    """14-digit UTC timestamp, as the Wayback Machine and pywb write them."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def from_wayback(digits: str) -> datetime:
    """A 4-14 digit timestamp; missing digits mean the start of that period."""
    if not WAYBACK_DIGITS.match(digits):
        raise InvalidInput(f"{digits!r} is not a timestamp of 4 to 14 digits")
    padded = digits + "0101000000"[len(digits) - 4 :] if len(digits) < 14 else digits
    try:
        return datetime.strptime(padded, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput(f"{digits!r} is not a valid date") from exc


def url_key(url: str) -> str:
    """The normalised form that groups a URL's captures (same rules as dedup)."""
    return normalize_url(validate_url(url))


def captures(
    session: Session,
    principal: Principal | None,
    url: str,
    *,
    replayable_only: bool = False,
    limit: int = TIMELINE_LIMIT,
) -> list[Snapshot]:
    """The URL's captures, newest first; `principal=None` means every workspace (public)."""
    query = select(Snapshot).where(col(Snapshot.normalized_url) == url_key(url))
    if principal is not None and not principal.is_admin:
        query = query.where(col(Snapshot.workspace_id).in_(principal.workspace_ids))
    if replayable_only:
        # Correlated EXISTS: probes the (snapshot_id, plugin) unique index per candidate
        # instead of listing every WARC result in the store.
        has_warc = (
            select(ArchiveResult.id)
            .where(
                col(ArchiveResult.snapshot_id) == col(Snapshot.id),
                col(ArchiveResult.plugin) == "warc",
                col(ArchiveResult.status) == "succeeded",
            )
            .exists()
        )
        query = query.where(col(Snapshot.status) == SnapshotStatus.succeeded, has_warc)
    rows = session.exec(
        query.order_by(col(Snapshot.created_at).desc(), col(Snapshot.id).desc()).limit(limit)
    ).all()
    return sorted(rows, key=lambda s: (capture_time(s), s.id), reverse=True)


def nearest(mementos: list[Snapshot], when: datetime | None) -> Snapshot | None:
    """The memento closest to `when` (the newest when `when` is None); ties go to the later."""
    if not mementos:
        return None
    if when is None:
        return mementos[0]
    return min(
        mementos,
        key=lambda s: (abs((capture_time(s) - when).total_seconds()), -capture_time(s).timestamp()),
    )


def neighbours(
    mementos: list[Snapshot], current: Snapshot
) -> tuple[Snapshot | None, Snapshot | None]:
    """(previous, next) in time around `current` within newest-first `mementos`."""
    ids = [m.id for m in mementos]
    if current.id not in ids:
        return None, None
    at = ids.index(current.id)
    newer = mementos[at - 1] if at > 0 else None
    older = mementos[at + 1] if at + 1 < len(mementos) else None
    return older, newer


def warc_sha256(session: Session, snapshot_id: str) -> str | None:
    """The blob hash of the snapshot's WARC, when its `warc` output succeeded."""
    result = session.exec(
        select(ArchiveResult).where(
            col(ArchiveResult.snapshot_id) == snapshot_id, col(ArchiveResult.plugin) == "warc"
        )
    ).first()
    if result is None or result.status != "succeeded":
        return None
    for meta in result.output_files.values():
        if str(meta.get("mimetype", "")).startswith("application/warc") and meta.get("sha256"):
            return str(meta["sha256"])
    return None
