"""What the archiving commands share: the local user, waiting with a progress bar, the outcome.

`amber add`, `amber crawl`, `amber import`, `amber update` and `amber schedule
run` all queue snapshots, wait for them here, and print how they went; keeping
that in one module is what lets those commands not import each other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cli.common import console, progress_bar
from crawler import crawls, db
from crawler import snapshots as snaps
from crawler.auth import Principal, ensure_user, principal_for_user
from crawler.models import Snapshot, SnapshotStatus

TERMINAL = [SnapshotStatus.succeeded, SnapshotStatus.failed, SnapshotStatus.sealed]
ACTIVE = [SnapshotStatus.queued, SnapshotStatus.started]
LOCAL_USER = "local"
POLL_CHUNK = 500


def local_principal(session: Session, username: str = LOCAL_USER) -> Principal:
    """The CLI acts as a local admin user, so everything it adds is visible in the API too."""
    return principal_for_user(session, ensure_user(session, username, admin=True))


def wait_all(
    engine: Engine, snapshot_ids: Sequence[str], *, label: str, poll: float = 0.5
) -> dict[str, int]:
    """Progress bar until every snapshot is terminal; polls only the ones still pending.

    Returns how many ended in each status (a snapshot deleted meanwhile counts as "deleted").
    """
    pending = list(snapshot_ids)
    outcome: dict[str, int] = {}
    with progress_bar() as progress:
        task = progress.add_task(label, total=len(pending))
        while pending:
            still: list[str] = []
            with Session(engine) as session:
                for start in range(0, len(pending), POLL_CHUNK):
                    chunk = pending[start : start + POLL_CHUNK]
                    rows = dict(
                        session.exec(
                            select(Snapshot.id, Snapshot.status).where(col(Snapshot.id).in_(chunk))
                        ).all()
                    )
                    for snapshot_id in chunk:
                        status = rows.get(snapshot_id)
                        if status is None or status in TERMINAL:
                            key = str(status or "deleted")
                            outcome[key] = outcome.get(key, 0) + 1
                        else:
                            still.append(snapshot_id)
            pending = still
            progress.update(task, completed=len(snapshot_ids) - len(pending))
            if pending:
                time.sleep(poll)
    return outcome


def _crawl_progress(engine: Engine, crawl_id: str) -> tuple[int, int]:
    """(all snapshots, finished snapshots) of the crawl; the total grows as links are found."""
    with Session(engine) as session:
        rows = dict(
            session.exec(
                select(Snapshot.status, func.count())
                .where(Snapshot.crawl_id == crawl_id)
                .group_by(Snapshot.status)
            ).all()
        )
    total = sum(int(n) for n in rows.values())
    active = sum(int(rows.get(s, 0)) for s in ACTIVE)
    return total, total - active


def wait_for_crawl(engine: Engine, crawl_id: str, *, label: str) -> list[str]:
    """Show a progress bar until nothing in the crawl is queued or started, then seal it."""
    with progress_bar() as progress:
        task = progress.add_task(label, total=None)
        while True:
            total, done = _crawl_progress(engine, crawl_id)
            progress.update(task, total=total, completed=done)
            if done >= total:
                break
            time.sleep(0.25)
    with db.session_scope(engine) as session:
        crawls.seal_if_done(session, crawl_id)
        return crawls.crawl_snapshot_ids(session, crawl_id)


def print_snapshots(engine: Engine, snapshot_ids: Sequence[str]) -> list[Snapshot]:
    """One line per snapshot (status, URL), its outputs and, when it failed, why."""
    with Session(engine) as session:
        rows = session.exec(select(Snapshot).where(col(Snapshot.id).in_(list(snapshot_ids)))).all()
        results = snaps.results_for(session, [r.id for r in rows])
    order = {sid: i for i, sid in enumerate(snapshot_ids)}
    rows = sorted(rows, key=lambda r: order.get(r.id, 0))
    for row in rows:
        done = sorted(r.plugin for r in results[row.id] if r.status == "succeeded")
        colour = {"succeeded": "green", "failed": "red"}.get(row.status, "yellow")
        line = f"{row.id}  [{colour}]{row.status}[/{colour}]  {row.url}"
        console.print(line, highlight=False)
        if done:
            console.print(
                f"    outputs: {', '.join(done)}  (archive/{row.timestamp}/)", highlight=False
            )
        if row.last_error:
            console.print(f"    reason: {row.last_error}", highlight=False, markup=False)
    return list(rows)
