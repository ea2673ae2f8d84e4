"""The worker registry: one row per worker process, written by its heartbeat.

The database is the only thing every node of a fleet shares, so the fleet's
view of itself lives here too: `amber workers`, `GET /api/v1/workers` and
`/metrics` all read these rows. A worker that stops heart-beating is *lost*;
one that shut down cleanly is *stopped*. (Heart-beats also extend the leases of
the snapshots the worker is capturing: `crawler.snapshot_states`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from crawler.clock import as_utc, iso, utcnow
from crawler.models import FleetWorker, Snapshot

# The bounds of the histograms a worker keeps in `FleetWorker.stats` (as plain bucket
# counts): workers fill them, `/metrics` renders them.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class WorkerState(StrEnum):
    alive = "alive"
    lost = "lost"
    stopped = "stopped"


@dataclass(frozen=True, slots=True)
class Beat:
    """What a worker says about itself on every heartbeat."""

    worker_id: str
    host: str
    pid: int
    version: str
    threads: int
    started_at: datetime
    current: tuple[str, ...]
    done: int
    failed: int
    stats: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WorkerView:
    row: FleetWorker
    state: WorkerState


def heartbeat(session: Session, beat: Beat) -> None:
    """Insert or refresh this worker's row (only its own process ever writes it)."""
    now = utcnow()
    values: dict[str, Any] = {
        "host": beat.host,
        "pid": beat.pid,
        "version": beat.version,
        "threads": beat.threads,
        "started_at": beat.started_at,
        "last_heartbeat": now,
        "stopped_at": None,
        "current": list(beat.current),
        "done": beat.done,
        "failed": beat.failed,
        "stats": beat.stats,
    }
    result = session.exec(  # type: ignore[call-overload]
        update(FleetWorker).where(col(FleetWorker.id) == beat.worker_id).values(**values)
    )
    if result.rowcount == 0:
        session.add(FleetWorker(id=beat.worker_id, **values))


def mark_stopped(session: Session, worker_id: str) -> None:
    now = utcnow()
    session.exec(  # type: ignore[call-overload]
        update(FleetWorker)
        .where(col(FleetWorker.id) == worker_id)
        .values(stopped_at=now, last_heartbeat=now, current=[])
    )


def lost_after(heartbeat_seconds: float) -> float:
    """Silence after which a worker counts as lost: three missed beats, at least two seconds."""
    return max(3 * heartbeat_seconds, heartbeat_seconds + 2)


def state_of(row: FleetWorker, *, now: datetime, lost_after: float) -> WorkerState:
    if row.stopped_at is not None:
        return WorkerState.stopped
    beat = as_utc(row.last_heartbeat)
    if beat is None or now - beat > timedelta(seconds=lost_after):
        return WorkerState.lost
    return WorkerState.alive


def list_workers(
    session: Session, *, lost_after: float, include_stopped: bool = True
) -> list[WorkerView]:
    """Every registered worker, newest first, with its state as of now."""
    now = utcnow()
    query = select(FleetWorker).order_by(col(FleetWorker.started_at).desc())
    if not include_stopped:
        query = query.where(col(FleetWorker.stopped_at).is_(None))
    rows = session.exec(query).all()
    return [WorkerView(row, state_of(row, now=now, lost_after=lost_after)) for row in rows]


def describe(view: WorkerView) -> dict[str, Any]:
    """One worker as `amber workers --json` and `GET /api/v1/workers` show it."""
    row = view.row
    beat = as_utc(row.last_heartbeat)
    return {
        "id": row.id,
        "host": row.host,
        "pid": row.pid,
        "version": row.version,
        "state": view.state.value,
        "threads": row.threads,
        "started_at": iso(row.started_at),
        "last_heartbeat": iso(row.last_heartbeat),
        "seconds_since_heartbeat": round((utcnow() - beat).total_seconds(), 1) if beat else None,
        "stopped_at": iso(row.stopped_at),
        "current_snapshot": row.current[0] if row.current else None,
        "current_snapshot_ids": list(row.current),
        "captures_done": row.done,
        "captures_failed": row.failed,
        "browser_recycles": int((row.stats or {}).get("recycles", 0)),
    }


def prune(session: Session, *, stopped_for: float, lost_for: float) -> int:
    """Forget workers that stopped, or went silent, long ago."""
    now = utcnow()
    result = session.exec(  # type: ignore[call-overload]
        delete(FleetWorker).where(
            or_(
                col(FleetWorker.stopped_at) < now - timedelta(seconds=stopped_for),
                col(FleetWorker.last_heartbeat) < now - timedelta(seconds=lost_for),
            )
        )
    )
    return int(result.rowcount or 0)


def snapshot_url_and_status(session: Session, snapshot_id: str) -> tuple[str, str] | None:
    """The URL and status of one snapshot: what the politeness limiter needs to decide."""
    row = session.exec(
        select(Snapshot.url, Snapshot.status).where(col(Snapshot.id) == snapshot_id)
    ).first()
    return (str(row[0]), str(row[1])) if row else None


def visible_snapshot_ids(
    session: Session, snapshot_ids: Sequence[str], workspace_ids: Sequence[str]
) -> set[str]:
    """Which of these snapshots belong to the caller's workspaces (tenants see only theirs)."""
    if not snapshot_ids:
        return set()
    rows = session.exec(
        select(Snapshot.id).where(
            col(Snapshot.id).in_(list(snapshot_ids)),
            col(Snapshot.workspace_id).in_(list(workspace_ids)),
        )
    ).all()
    return set(rows)
