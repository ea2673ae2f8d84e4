"""URL snapshots: adding them (deduplicated), finding them, their tags and results.

Their status changes live in `crawler.snapshot_states`, and nowhere else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_
from sqlmodel import Session, col, select

from crawler import snapshot_states as states
from crawler.auth import Principal
from crawler.clock import utcnow
from crawler.entries import UrlEntry
from crawler.errors import InvalidInput, NotFound
from crawler.models import (
    ArchiveResult,
    Snapshot,
    SnapshotStatus,
    SnapshotTag,
    Tag,
)
from crawler.urls import normalize_url, validate_url

LOOKUP_CHUNK = 500


@dataclass(slots=True)
class AddOutcome:
    snapshot_ids: list[str] = field(default_factory=list)
    queued_ids: list[str] = field(default_factory=list)
    duplicates: int = 0
    retried: int = 0  # URLs whose last capture failed, queued again instead of counted as dups


class _TimestampSource:
    """ArchiveBox-style ``"<unix>.<micro>"`` timestamps, strictly increasing per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> str:
        with self._lock:
            now = time.time_ns() // 1000
            self._last = max(now, self._last + 1)
            value = self._last
        return f"{value // 1_000_000}.{value % 1_000_000:06d}"

    def take(self, count: int) -> list[str]:
        """`count` consecutive values under one lock (a bulk import's batch)."""
        with self._lock:
            first = max(time.time_ns() // 1000, self._last + 1)
            self._last = first + count - 1
        return [f"{v // 1_000_000}.{v % 1_000_000:06d}" for v in range(first, first + count)]


timestamps = _TimestampSource()


def parse_tags(raw: str | Iterable[str] | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput("tags must be strings")
        name = item.strip()
        if len(name) > 200:
            raise InvalidInput("a tag name is longer than 200 characters")
        if name and name not in names:
            names.append(name)
    return tuple(names)


def get_or_create_tags(
    session: Session, *, workspace_id: str, user_id: str, names: Iterable[str]
) -> list[Tag]:
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    existing = {
        t.name: t
        for t in session.exec(
            select(Tag).where(Tag.workspace_id == workspace_id, col(Tag.name).in_(wanted))
        )
    }
    for name in wanted:
        if name not in existing:
            tag = Tag(workspace_id=workspace_id, created_by_id=user_id, name=name)
            session.add(tag)
            existing[name] = tag
    session.flush()
    return [existing[name] for name in wanted]


def set_snapshot_tags(
    session: Session, snapshot: Snapshot, names: Iterable[str], *, user_id: str
) -> None:
    tags = get_or_create_tags(
        session, workspace_id=snapshot.workspace_id, user_id=user_id, names=names
    )
    session.exec(delete(SnapshotTag).where(col(SnapshotTag.snapshot_id) == snapshot.id))  # type: ignore[call-overload]
    for tag in tags:
        session.add(SnapshotTag(snapshot_id=snapshot.id, tag_id=tag.id))


def existing_by_url(session: Session, workspace_id: str, keys: Sequence[str]) -> dict[str, str]:
    """Map normalised URL -> newest snapshot id for those already in the workspace."""
    found: dict[str, str] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        rows = session.exec(
            select(Snapshot.normalized_url, Snapshot.id)
            .where(Snapshot.workspace_id == workspace_id, col(Snapshot.normalized_url).in_(chunk))
            .order_by(col(Snapshot.created_at))
        )
        for key, snapshot_id in rows:
            found[key] = snapshot_id
    return found


def add_urls(
    session: Session,
    *,
    principal: Principal,
    entries: Sequence[UrlEntry],
    tags: Sequence[str] = (),
    depth: int = 0,
    crawl_id: str | None = None,
    update: bool = False,
    index_only: bool = False,
    redeliver_after: float = 300.0,
    workspace_id: str | None = None,
    persona_id: str | None = None,
) -> AddOutcome:
    """Insert snapshots for new URLs (deduped in the batch and against the archive).

    Nothing is sent here: the caller dispatches ``queued_ids`` after commit.
    """
    workspace = workspace_id or principal.default_workspace_id
    now = utcnow()
    outcome = AddOutcome()
    keyed: dict[str, UrlEntry] = {}
    for entry in entries:
        key = normalize_url(validate_url(entry.url))
        if key in keyed:
            outcome.duplicates += 1
            merged = tuple(dict.fromkeys(keyed[key].tags + entry.tags))
            keyed[key].tags = merged
            continue
        keyed[key] = entry
    previous = existing_by_url(session, workspace, list(keyed))
    existing = {} if update else previous
    # A re-capture keeps the URL's tags: the newest earlier capture's tags carry over.
    inherited = _tag_ids_of(session, list(previous.values())) if update else {}
    tag_names = list(dict.fromkeys([*tags, *(t for e in keyed.values() for t in e.tags)]))
    tag_rows = {
        t.name: t
        for t in get_or_create_tags(
            session, workspace_id=workspace, user_id=principal.user_id, names=tag_names
        )
    }
    # Re-adding a URL whose capture failed is how a user retries once the cause is fixed.
    failed = _failed(session, list(existing.values())) if not index_only else set()
    if failed:
        states.requeue(session, sorted(failed), redeliver_after=redeliver_after)
    for key, entry in keyed.items():
        if key in existing:
            outcome.snapshot_ids.append(existing[key])
            if existing[key] in failed:
                outcome.retried += 1
                outcome.queued_ids.append(existing[key])
            else:
                outcome.duplicates += 1
            continue
        snapshot = Snapshot(
            workspace_id=workspace,
            created_by_id=principal.user_id,
            crawl_id=crawl_id,
            created_at=now,
            modified_at=now,
            bookmarked_at=entry.bookmarked_at or now,
            url=entry.url.strip(),
            normalized_url=key,
            title=entry.title,
            timestamp=timestamps.next(),
            depth=depth,
            persona_id=persona_id,
            status=SnapshotStatus.queued,
            retry_at=None if index_only else now + timedelta(seconds=redeliver_after),
        )
        session.add(snapshot)
        outcome.snapshot_ids.append(snapshot.id)
        if not index_only:
            outcome.queued_ids.append(snapshot.id)
        tag_ids = [tag_rows[name].id for name in dict.fromkeys([*tags, *entry.tags])]
        tag_ids += inherited.get(previous.get(key, ""), [])
        for tag_id in dict.fromkeys(tag_ids):
            session.add(SnapshotTag(snapshot_id=snapshot.id, tag_id=tag_id))
    session.flush()
    return outcome


def _failed(session: Session, snapshot_ids: Sequence[str]) -> set[str]:
    """Which of these snapshots ended ``failed``."""
    out: set[str] = set()
    for start in range(0, len(snapshot_ids), LOOKUP_CHUNK):
        chunk = snapshot_ids[start : start + LOOKUP_CHUNK]
        out.update(
            session.exec(
                select(Snapshot.id).where(
                    col(Snapshot.id).in_(chunk), col(Snapshot.status) == SnapshotStatus.failed
                )
            ).all()
        )
    return out


def _tag_ids_of(session: Session, snapshot_ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for start in range(0, len(snapshot_ids), LOOKUP_CHUNK):
        chunk = snapshot_ids[start : start + LOOKUP_CHUNK]
        for sid, tag_id in session.exec(
            select(SnapshotTag.snapshot_id, SnapshotTag.tag_id).where(
                col(SnapshotTag.snapshot_id).in_(chunk)
            )
        ):
            out.setdefault(sid, []).append(tag_id)
    return out


def get_snapshot(session: Session, principal: Principal, ref: str) -> Snapshot:
    """Find by id, id prefix or timestamp; another tenant's snapshot is simply not found."""
    ref = (ref or "").strip()
    if not ref or len(ref) > 64:
        raise NotFound(f"Snapshot {ref!r} not found")
    matches = [col(Snapshot.id) == ref, col(Snapshot.timestamp) == ref]
    if len(ref) >= 4:
        matches.append(col(Snapshot.id).startswith(ref, autoescape=True))
    query = select(Snapshot).where(or_(*matches))
    if not principal.is_admin:
        query = query.where(col(Snapshot.workspace_id).in_(principal.workspace_ids))
    rows = session.exec(query.limit(2)).all()
    exact = [r for r in rows if r.id == ref or r.timestamp == ref]
    if exact:
        return exact[0]
    if len(rows) != 1:
        raise NotFound(f"Snapshot {ref!r} not found")
    return rows[0]


def urls_of(session: Session, snapshot_ids: Sequence[str]) -> list[str]:
    """The snapshots' URLs, in the order of `snapshot_ids`."""
    found: dict[str, str] = {}
    for start in range(0, len(snapshot_ids), LOOKUP_CHUNK):
        chunk = snapshot_ids[start : start + LOOKUP_CHUNK]
        found.update(
            session.exec(select(Snapshot.id, Snapshot.url).where(col(Snapshot.id).in_(chunk))).all()
        )
    return [found[sid] for sid in snapshot_ids if sid in found]


def snapshot_tags(session: Session, snapshot_ids: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {sid: [] for sid in snapshot_ids}
    for start in range(0, len(snapshot_ids), LOOKUP_CHUNK):
        chunk = snapshot_ids[start : start + LOOKUP_CHUNK]
        rows = session.exec(
            select(SnapshotTag.snapshot_id, Tag.name)
            .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
            .where(col(SnapshotTag.snapshot_id).in_(chunk))
        )
        for sid, name in rows:
            out[sid].append(name)
    return {sid: sorted(names) for sid, names in out.items()}


def results_for(session: Session, snapshot_ids: Sequence[str]) -> dict[str, list[ArchiveResult]]:
    out: dict[str, list[ArchiveResult]] = {sid: [] for sid in snapshot_ids}
    for start in range(0, len(snapshot_ids), LOOKUP_CHUNK):
        chunk = snapshot_ids[start : start + LOOKUP_CHUNK]
        for result in session.exec(
            select(ArchiveResult).where(col(ArchiveResult.snapshot_id).in_(chunk))
        ):
            out[result.snapshot_id].append(result)
    return out


def delete_snapshot(session: Session, snapshot: Snapshot) -> int:
    session.exec(delete(ArchiveResult).where(col(ArchiveResult.snapshot_id) == snapshot.id))  # type: ignore[call-overload]
    session.exec(delete(SnapshotTag).where(col(SnapshotTag.snapshot_id) == snapshot.id))  # type: ignore[call-overload]
    session.delete(snapshot)
    return 1


def due_for_delivery(
    session: Session, *, now: datetime | None = None, limit: int = 1000
) -> list[str]:
    """Queued snapshots whose redelivery deadline passed, expired leases first turned queued."""
    now = now or utcnow()
    states.expire_leases(session, now=now, limit=limit)
    queued = session.exec(
        select(Snapshot.id)
        .where(
            col(Snapshot.status) == SnapshotStatus.queued,
            col(Snapshot.retry_at).is_not(None),
            col(Snapshot.retry_at) <= now,
        )
        .order_by(col(Snapshot.retry_at))
        .limit(limit)
    ).all()
    return list(queued)


def scheduled_after(session: Session, *, after: str = "", limit: int = 1000) -> list[str]:
    """Every queued snapshot meant for delivery (index-only ones excluded), by id after `after`.

    After the broker lost its queue each of them may have lost its message, due
    or not; expired leases are first turned queued so their captures restart too.
    """
    states.expire_leases(session, now=utcnow(), limit=limit)
    rows = session.exec(
        select(Snapshot.id)
        .where(
            col(Snapshot.status) == SnapshotStatus.queued,
            col(Snapshot.retry_at).is_not(None),
            col(Snapshot.id) > after,
        )
        .order_by(col(Snapshot.id))
        .limit(limit)
    ).all()
    return list(rows)


def count_by_status(
    session: Session, *, workspace_ids: Sequence[str] | None = None, crawl_id: str | None = None
) -> dict[str, int]:
    query = select(Snapshot.status, func.count()).group_by(Snapshot.status)
    if workspace_ids is not None:
        query = query.where(col(Snapshot.workspace_id).in_(workspace_ids))
    if crawl_id is not None:
        query = query.where(Snapshot.crawl_id == crawl_id)
    return {str(status): int(n) for status, n in session.exec(query)}
