"""A lost broker queue is noticed by its missing marker and re-sent whole, by one reconciler.

Real Redis (FLUSHALL is how a queue is lost here; the fleet test restarts Redis
instead) and a real SQLite store; `dispatch` records what would be sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from crawler import db
from crawler import snapshots as snaps
from crawler.auth import ensure_user, principal_for_user
from crawler.clock import utcnow
from crawler.models import Snapshot, SnapshotStatus
from tests.services import RedisServer
from workers.broker import redis_client
from workers.broker_watch import LOCK_KEY, MARKER_KEY, BrokerWatch
from workers.reconciler import Reconciler


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'watch.sqlite3'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


def add(engine: Engine, *urls: str, index_only: bool = False) -> list[str]:
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, "watch"))
        outcome = snaps.add_urls(
            session,
            principal=principal,
            entries=[snaps.UrlEntry(url=u) for u in urls],
            index_only=index_only,
        )
        return outcome.snapshot_ids


def start(engine: Engine, snapshot_id: str, *, lease_left: float) -> None:
    """Put a snapshot in `started`, its lease running out in `lease_left` seconds."""
    with db.session_scope(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(Snapshot)
            .where(col(Snapshot.id) == snapshot_id)
            .values(
                status=SnapshotStatus.started,
                worker_id="gone:1:1",
                retry_at=utcnow() + timedelta(seconds=lease_left),
            )
        )


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """This test's own Redis: it flushes and stops it."""
    server = RedisServer().start()
    yield server
    server.stop()


def test_a_lost_queue_is_re_sent_whole_by_one_reconciler(
    engine: Engine, redis_server: RedisServer
) -> None:
    client = redis_client(redis_server.url)
    # Given queued snapshots (their redelivery deadline minutes away), an index-only one,
    # one whose worker died (lease run out) and one still being captured
    queued = add(engine, *(f"https://watch.example/{n}" for n in range(3)))
    [index_only] = add(engine, "https://watch.example/index", index_only=True)
    dead, alive = add(engine, "https://watch.example/dead", "https://watch.example/alive")
    start(engine, dead, lease_left=-1)
    start(engine, alive, lease_left=60)
    sent: list[str] = []

    def dispatch(ids: Sequence[str]) -> None:
        sent.extend(ids)

    def reconciler() -> Reconciler:
        return Reconciler(
            engine, dispatch, interval=60, redeliver_after=300, watch=BrokerWatch(client)
        )

    first, second = reconciler(), reconciler()
    # When the marker is missing (a fresh or emptied broker), Then one reconciler re-sends
    # every snapshot meant for delivery at once, and sets the marker again
    assert first.check_broker() == 4
    assert sorted(sent) == sorted([*queued, dead])
    assert index_only not in sent and alive not in sent
    assert client.exists(MARKER_KEY) and not client.exists(LOCK_KEY)
    # and while the marker is there, nothing more is sent
    assert second.check_broker() == 0 and first.check_broker() == 0
    # When the queue is lost again (FLUSHALL), Then the next check re-sends the same four
    sent.clear()
    client.flushall()
    # (another reconciler holding the recovery lock makes this one stand aside)
    client.set(LOCK_KEY, "someone-else", ex=60)
    assert second.check_broker() == 0 and sent == []
    client.delete(LOCK_KEY)
    assert second.check_broker() == 4
    assert sorted(sent) == sorted([*queued, dead])
    # And a broker that cannot be reached is not a lost queue
    redis_server.stop()
    try:
        assert first.check_broker() == 0
    finally:
        redis_server.start()
