"""The snapshot state machine, walked cell by cell on real SQLite and PostgreSQL.

For every transition and every status a snapshot can be in, the row is put in
that status (held by worker ``w1``, its lease run out, in a crawl), the
transition is asked for, and the row read back: it moved when the table says
the move is legal, and did not change at all otherwise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from crawler import db
from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler.auth import ensure_user, principal_for_user
from crawler.clock import utcnow
from crawler.models import Crawl, Snapshot, SnapshotStatus
from tests.services import PostgresServer

WORKER = "w1"
Apply = Callable[[Session, str, str], object]

# How each transition is asked for, with every guard but the status satisfied.
APPLY: dict[str, Apply] = {
    "claim": lambda s, sid, crawl: states.claim(s, sid, worker_id=WORKER, lease=60),
    "extend_leases": lambda s, sid, crawl: states.extend_leases(
        s, worker_id=WORKER, snapshot_ids=[sid], lease=60
    ),
    "retry_later": lambda s, sid, crawl: states.retry_later(
        s, sid, worker_id=WORKER, retry_in=5, reason="again"
    ),
    "hand_back": lambda s, sid, crawl: states.hand_back(s, worker_id=WORKER, snapshot_ids=[sid]),
    "expire_leases": lambda s, sid, crawl: states.expire_leases(s, now=utcnow(), limit=10),
    "finish": lambda s, sid, crawl: states.finish(
        s, sid, worker_id=WORKER, status=SnapshotStatus.succeeded, title="T", error=None
    ),
    "defer": lambda s, sid, crawl: states.defer(s, [sid], until=utcnow() + timedelta(hours=1)),
    "requeue": lambda s, sid, crawl: states.requeue(s, [sid], redeliver_after=30),
    "rearchive": lambda s, sid, crawl: states.rearchive(s, sid, redeliver_after=30),
    "seal": lambda s, sid, crawl: states.seal(s, [sid]),
    "cancel": lambda s, sid, crawl: states.cancel(s, crawl_id=crawl),
}


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'states.sqlite3'}"
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        url = pg.create_database(f"states_{time.time_ns()}")
    db.upgrade(url)
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def snapshot(engine: Engine) -> tuple[str, str]:
    """One snapshot in one crawl: (snapshot id, crawl id)."""
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, "states"))
        crawl = Crawl(workspace_id=principal.default_workspace_id, created_by_id=principal.user_id)
        session.add(crawl)
        session.flush()
        outcome = snaps.add_urls(
            session,
            principal=principal,
            entries=[snaps.UrlEntry(url="https://states.example.com/")],
            crawl_id=crawl.id,
        )
        return outcome.snapshot_ids[0], crawl.id


def put_in(engine: Engine, snapshot_id: str, status: SnapshotStatus) -> dict[str, Any]:
    """Force the row into `status`, held by WORKER with its lease run out; returns the row."""
    with db.session_scope(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(Snapshot)
            .where(col(Snapshot.id) == snapshot_id)
            .values(
                status=status,
                worker_id=WORKER,
                retry_at=utcnow() - timedelta(minutes=1),
                attempts=1,
                last_error="before",
            )
        )
    return row(engine, snapshot_id)


def row(engine: Engine, snapshot_id: str) -> dict[str, Any]:
    with Session(engine) as session:
        found = session.get(Snapshot, snapshot_id)
        assert found is not None
        return found.model_dump()


def test_every_transition_is_tested() -> None:
    # Given the table in the module, Then this test asks for each transition in it
    assert set(APPLY) == {t.name for t in states.TRANSITIONS}


def test_the_docstring_draws_the_table_the_code_enforces() -> None:
    # Given the transition table drawn in the module docstring
    doc = states.__doc__ or ""
    drawn: dict[str, str] = {}
    name = ""
    for match in re.finditer(r"^\| (\w*) +\| ([\w, ]*?) *\|", doc, re.M):
        if match.group(1) and match.group(1) != "transition":
            name = match.group(1)
            drawn[name] = ""
        if name:
            drawn[name] += " " + match.group(2)
    # Then each transition's "from" column names exactly the states the code accepts
    for transition in states.TRANSITIONS:
        words = set(drawn[transition.name].replace(",", " ").split())
        expected = {s.value for s in transition.sources}
        assert words == ({"any"} if expected == set(SnapshotStatus) else expected), transition


@pytest.mark.parametrize("transition", states.TRANSITIONS, ids=lambda t: t.name)
def test_each_transition_moves_only_from_its_sources(
    engine: Engine, snapshot: tuple[str, str], transition: states.Transition
) -> None:
    snapshot_id, crawl_id = snapshot
    for status in SnapshotStatus:
        # Given the snapshot in `status`
        before = put_in(engine, snapshot_id, status)
        # When the transition is asked for
        with db.session_scope(engine) as session:
            moved = APPLY[transition.name](session, snapshot_id, crawl_id)
        after = row(engine, snapshot_id)
        if status in transition.sources:
            # Then a legal move happens and lands in one of its targets
            assert moved, (transition.name, status)
            assert after["status"] in transition.targets
            assert after != before
        else:
            # Then an illegal one is refused and the row is untouched
            assert not moved, (transition.name, status)
            assert after == before, (transition.name, status)


def test_worker_guards_refuse_another_workers_claim(
    engine: Engine, snapshot: tuple[str, str]
) -> None:
    snapshot_id, _ = snapshot
    # Given a snapshot started by w1
    before = put_in(engine, snapshot_id, SnapshotStatus.started)
    # When w2 tries to finish it, retry it, hand it back or extend its lease
    with db.session_scope(engine) as session:
        refused = [
            states.finish(
                session,
                snapshot_id,
                worker_id="w2",
                status=SnapshotStatus.failed,
                title=None,
                error="x",
            ),
            states.retry_later(session, snapshot_id, worker_id="w2"),
            states.hand_back(session, worker_id="w2", snapshot_ids=[snapshot_id]),
            states.extend_leases(session, worker_id="w2", snapshot_ids=[snapshot_id], lease=60),
        ]
    # Then nothing moved
    assert refused == [False, False, 0, 0]
    assert row(engine, snapshot_id) == before


def test_a_live_lease_does_not_expire(engine: Engine, snapshot: tuple[str, str]) -> None:
    snapshot_id, _ = snapshot
    # Given a started snapshot whose lease runs for another minute
    put_in(engine, snapshot_id, SnapshotStatus.started)
    with db.session_scope(engine) as session:
        assert states.extend_leases(session, worker_id=WORKER, snapshot_ids=[snapshot_id], lease=60)
    # When leases are expired now
    with db.session_scope(engine) as session:
        expired = states.expire_leases(session, now=utcnow(), limit=10)
    # Then it stays with its worker
    assert expired == 0
    assert row(engine, snapshot_id)["status"] == SnapshotStatus.started


def test_finish_ends_only_in_succeeded_or_failed(engine: Engine, snapshot: tuple[str, str]) -> None:
    snapshot_id, _ = snapshot
    before = put_in(engine, snapshot_id, SnapshotStatus.started)
    # When finish is asked to end anywhere else, Then it refuses before touching the row
    with db.session_scope(engine) as session, pytest.raises(ValueError, match="finish"):
        states.finish(
            session,
            snapshot_id,
            worker_id=WORKER,
            status=SnapshotStatus.sealed,
            title=None,
            error=None,
        )
    assert row(engine, snapshot_id) == before
