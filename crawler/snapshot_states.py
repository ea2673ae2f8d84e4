"""Every change of a URL snapshot's status, each a conditional update with its guard.

A snapshot is created ``queued`` (``retry_at`` NULL: *index-only*, stored and
not scheduled; otherwise ``retry_at`` is when the reconciler re-sends it; for a
``started`` one it is the lease expiry). The moves, and the only ones there are::

              claim                     finish
    queued ───────────▶ started ───────────────────▶ succeeded | failed
      ▲ ▲                  │                                │
      │ └──────────────────┘ retry_later, hand_back,         │
      │                      expire_leases                   │
      └──────────────────────────────────────────────────────┘ requeue, rearchive

    any ──seal──▶ sealed ──rearchive──▶ queued        queued ──cancel──▶ sealed

+---------------+---------------------------------+-----------+----------------------------+
| transition    | from                            | to        | guard (besides the status) |
+===============+=================================+===========+============================+
| claim         | queued                          | started   | none: first one wins       |
| extend_leases | started                         | started   | this worker holds it       |
| retry_later   | started                         | queued    | this worker holds it       |
| hand_back     | started                         | queued    | this worker holds it       |
| expire_leases | started                         | queued    | the lease has run out      |
| finish        | started                         | succ/fail | this worker holds it       |
| defer         | queued                          | queued    | none                       |
| requeue       | queued, succeeded, failed       | queued    | none                       |
| rearchive     | queued, succeeded, failed,      | queued    | none                       |
|               | sealed                          |           |                            |
| seal          | any                             | sealed    | none                       |
| cancel        | queued                          | sealed    | in the crawl               |
+---------------+---------------------------------+-----------+----------------------------+

Each transition is one ``UPDATE .. WHERE status IN (from) AND guard``, so a
change that lost a race (a second claim, a worker whose lease expired and whose
snapshot moved on) changes nothing and says so: the functions return whether,
or how many, rows moved. ``TRANSITIONS`` is the table above as data; a test
walks it and proves every other move is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from crawler.clock import utcnow
from crawler.models import Snapshot, SnapshotStatus

Q, S = SnapshotStatus.queued, SnapshotStatus.started
OK, FAILED, SEALED = SnapshotStatus.succeeded, SnapshotStatus.failed, SnapshotStatus.sealed
CHUNK = 500


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    sources: frozenset[SnapshotStatus]
    targets: frozenset[SnapshotStatus]


def _t(name: str, sources: set[SnapshotStatus], *targets: SnapshotStatus) -> Transition:
    return Transition(name, frozenset(sources), frozenset(targets))


CLAIM = _t("claim", {Q}, S)
EXTEND_LEASES = _t("extend_leases", {S}, S)
RETRY_LATER = _t("retry_later", {S}, Q)
HAND_BACK = _t("hand_back", {S}, Q)
EXPIRE_LEASES = _t("expire_leases", {S}, Q)
FINISH = _t("finish", {S}, OK, FAILED)
DEFER = _t("defer", {Q}, Q)
REQUEUE = _t("requeue", {Q, OK, FAILED}, Q)
REARCHIVE = _t("rearchive", {Q, OK, FAILED, SEALED}, Q)
SEAL = _t("seal", set(SnapshotStatus), SEALED)
CANCEL = _t("cancel", {Q}, SEALED)

TRANSITIONS = (
    CLAIM,
    EXTEND_LEASES,
    RETRY_LATER,
    HAND_BACK,
    EXPIRE_LEASES,
    FINISH,
    DEFER,
    REQUEUE,
    REARCHIVE,
    SEAL,
    CANCEL,
)


def _move(
    session: Session,
    transition: Transition,
    *guards: Any,
    target: SnapshotStatus | None = None,
    **values: Any,
) -> int:
    """The one conditional update: rows matching `guards` whose status `transition` leaves."""
    to = target or next(iter(transition.targets))
    if to not in transition.targets:
        raise ValueError(f"{transition.name} cannot end in {to}")
    result = session.exec(  # type: ignore[call-overload]
        update(Snapshot)
        .where(col(Snapshot.status).in_(sorted(transition.sources)), *guards)
        .values(status=to, **values)
    )
    return int(result.rowcount or 0)


def _held_by(worker_id: str) -> Any:
    return col(Snapshot.worker_id) == worker_id


def _ids(snapshot_ids: Sequence[str]) -> Any:
    return col(Snapshot.id).in_(list(snapshot_ids))


def claim(session: Session, snapshot_id: str, *, worker_id: str, lease: float) -> bool:
    """queued -> started; False when someone else got there first."""
    now = utcnow()
    return (
        _move(
            session,
            CLAIM,
            col(Snapshot.id) == snapshot_id,
            retry_at=now + timedelta(seconds=lease),
            worker_id=worker_id,
            attempts=Snapshot.attempts + 1,
            claimed_at=now,
            modified_at=now,
        )
        == 1
    )


def extend_leases(
    session: Session, *, worker_id: str, snapshot_ids: Sequence[str], lease: float
) -> int:
    """Push the lease of snapshots this worker is still capturing; returns how many it holds."""
    if not snapshot_ids:
        return 0
    deadline = utcnow() + timedelta(seconds=lease)
    return _move(session, EXTEND_LEASES, _ids(snapshot_ids), _held_by(worker_id), retry_at=deadline)


def retry_later(
    session: Session,
    snapshot_id: str,
    *,
    worker_id: str,
    retry_in: float = 0.0,
    reason: str | None = None,
) -> bool:
    """started -> queued for a worker that gives up its claim to try again after a backoff."""
    now = utcnow()
    return (
        _move(
            session,
            RETRY_LATER,
            col(Snapshot.id) == snapshot_id,
            _held_by(worker_id),
            retry_at=now + timedelta(seconds=retry_in),
            worker_id=None,
            last_error=reason,
            modified_at=now,
        )
        == 1
    )


def hand_back(session: Session, *, worker_id: str, snapshot_ids: Sequence[str]) -> int:
    """started -> queued for claims a stopping worker could not finish.

    The attempt is given back (the capture never failed) and the row is due at
    once, so the reconciler re-sends it on its next pass.
    """
    if not snapshot_ids:
        return 0
    now = utcnow()
    return _move(
        session,
        HAND_BACK,
        _ids(snapshot_ids),
        _held_by(worker_id),
        worker_id=None,
        retry_at=now,
        modified_at=now,
        attempts=Snapshot.attempts - 1,
    )


def expire_leases(session: Session, *, now: datetime, limit: int) -> int:
    """started -> queued for up to `limit` snapshots whose worker stopped renewing the lease."""
    expired = session.exec(
        select(Snapshot.id)
        .where(col(Snapshot.status) == S, col(Snapshot.retry_at) <= now)
        .limit(limit)
    ).all()
    if not expired:
        return 0
    return _move(
        session,
        EXPIRE_LEASES,
        _ids(expired),
        col(Snapshot.retry_at) <= now,
        worker_id=None,
        retry_at=now,
        modified_at=now,
    )


def finish(
    session: Session,
    snapshot_id: str,
    *,
    worker_id: str,
    status: SnapshotStatus,
    title: str | None,
    error: str | None,
) -> bool:
    """started -> succeeded | failed, only if this worker still holds the claim."""
    now = utcnow()
    values: dict[str, Any] = {
        "retry_at": None,
        "modified_at": now,
        "downloaded_at": now,
        "last_error": error,
        "worker_id": None,
    }
    if title:
        values["title"] = title
    moved = _move(
        session,
        FINISH,
        col(Snapshot.id) == snapshot_id,
        _held_by(worker_id),
        target=status,
        **values,
    )
    return moved == 1


def defer(session: Session, snapshot_ids: Sequence[str], *, until: datetime) -> int:
    """queued -> queued with a later delivery deadline (re-sent, put off, or set by hand)."""
    moved = 0
    for start in range(0, len(snapshot_ids), CHUNK):
        moved += _move(session, DEFER, _ids(snapshot_ids[start : start + CHUNK]), retry_at=until)
    return moved


def _fresh_capture(redeliver_after: float) -> dict[str, Any]:
    """What a snapshot queued for a new capture starts from: no attempts, no error."""
    now = utcnow()
    return {
        "retry_at": now + timedelta(seconds=redeliver_after),
        "worker_id": None,
        "attempts": 0,
        "last_error": None,
        "modified_at": now,
    }


def requeue(session: Session, snapshot_ids: Sequence[str], *, redeliver_after: float) -> int:
    """queued | succeeded | failed -> queued, due for a fresh capture (`amber update`).

    Snapshots being captured right now, or sealed meanwhile, are left alone.
    """
    moved = 0
    for start in range(0, len(snapshot_ids), CHUNK):
        chunk = snapshot_ids[start : start + CHUNK]
        moved += _move(session, REQUEUE, _ids(chunk), **_fresh_capture(redeliver_after))
    return moved


def rearchive(session: Session, snapshot_id: str, *, redeliver_after: float) -> bool:
    """Any state but started -> queued: a re-archive asked for by hand (a sealed one too)."""
    guard = col(Snapshot.id) == snapshot_id
    return _move(session, REARCHIVE, guard, **_fresh_capture(redeliver_after)) == 1


def seal(session: Session, snapshot_ids: Sequence[str]) -> int:
    """Any state -> sealed: never captured again; a capture in flight will lose its claim."""
    return _move(
        session, SEAL, _ids(snapshot_ids), retry_at=None, worker_id=None, modified_at=utcnow()
    )


def cancel(session: Session, *, crawl_id: str) -> int:
    """queued -> sealed for the crawl's snapshots not yet captured (sealing the crawl)."""
    return _move(
        session,
        CANCEL,
        col(Snapshot.crawl_id) == crawl_id,
        retry_at=None,
        worker_id=None,
        modified_at=utcnow(),
    )
