"""The fleet end to end: `amber serve` plus two `amber worker` processes on Redis + PostgreSQL.

One worker is killed with SIGKILL mid-capture and Redis is restarted (losing
every message) mid-run; all 30 pages must still end `succeeded`, each with
exactly one ArchiveResult per plugin.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from crawler import db
from crawler.settings import Settings
from extractors.registry import EXTRACTORS
from tests.conftest import ADMIN_TOKEN, amber_env, run_amber
from tests.fleet_support import (
    AmberWorker,
    add_urls,
    all_terminal,
    results_by_snapshot,
    snapshot_rows,
    wait_until,
)
from tests.services import AmberServer, PostgresServer, RedisServer
from tests.site import TestSite
from workers.broker import redis_client
from workers.broker_watch import MARKER_KEY

pytestmark = pytest.mark.fleet

PLUGINS = sorted(EXTRACTORS)


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def metric(body: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in body.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def started_by(engine: Engine, pid: int) -> list[str]:
    """The snapshots the worker process `pid` holds claims on right now."""
    prefix = f"{socket.gethostname()}:{pid}:%"
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT id FROM snapshot WHERE status = 'started' AND worker_id LIKE :p"),
                {"p": prefix},
            ).scalars()
        )


def test_fleet_survives_a_killed_worker_and_a_redis_restart(
    site: TestSite, postgres_server: PostgresServer, redis: RedisServer, tmp_path: Path
) -> None:
    # Given PostgreSQL, Redis, a shared blob dir, the schema from `amber db upgrade`,
    env = amber_env(
        tmp_path,
        AMBER_DATABASE_URL=postgres_server.create_database("fleet"),
        AMBER_BROKER_URL=redis.url,
        AMBER_BLOB_URL=str(tmp_path / "shared-blobs"),
    )  # and default timings: what users get
    upgraded = run_amber(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    engine = db.make_engine(env["AMBER_DATABASE_URL"])
    # an API node (no workers in fleet mode) and two worker processes of two threads
    api = AmberServer(env=env).start()
    workers = [AmberWorker(env, threads=2).start() for _ in range(2)]
    client = httpx.Client(
        base_url=api.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    try:
        wait_until(
            lambda: client.get("/api/v1/workers").json()["alive"] == 2,
            timeout=60,
            what="two workers to register",
        )
        victim, survivor = workers

        # When 30 pages are added through the API
        ids = add_urls(client, [site.url(f"/p/{n}") for n in range(1, 31)])
        assert len(set(ids)) == 30
        # and one worker is killed with SIGKILL in the middle of a capture
        wait_until(
            lambda: started_by(engine, victim.pid), timeout=60, interval=0.02, what="a capture"
        )
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait(timeout=10)
        killed = started_by(engine, victim.pid)  # the captures it died in the middle of
        assert killed
        # and Redis restarts, losing the messages of every page still queued
        pending = sum(1 for r in snapshot_rows(engine, ids).values() if r["status"] == "queued")
        broker = redis_client(redis.url)
        assert broker.exists(MARKER_KEY), "the reconcilers keep a marker beside the queue"
        redis.restart()
        back = time.monotonic()
        assert pending > 0, "every page was claimed before Redis restarted; nothing was lost"

        # Then a reconciler notices the loss (the marker went with the queue) and re-sends
        # every queued snapshot at once, within 30 s of Redis coming back: the marker is set
        # again only after a full re-send
        wait_until(lambda: broker.exists(MARKER_KEY), timeout=30, what="the queue re-sent")
        resent = time.monotonic() - back
        # and the killed worker's captures are taken back within one lease (default 30 s;
        # plus a reconciler pass and room for a loaded machine)
        lease = Settings.model_fields["lease_seconds"].default
        wait_until(
            lambda: not started_by(engine, victim.pid),
            timeout=lease + 20,
            what="the killed worker's captures to come back",
        )
        released = time.monotonic() - killed_at
        # and every snapshot ends succeeded (the surviving worker's two threads capture the
        # rest: how long that takes depends on the machine, not on delivery)
        rows = wait_until(lambda: all_terminal(engine, ids), timeout=240, interval=0.5, what="30")
        print(
            f"\nrecovery: {pending} lost messages re-sent {resent:.1f}s after Redis came back; "
            f"killed captures back {released:.1f}s after the kill; "
            f"all 30 succeeded {time.monotonic() - back:.1f}s after Redis came back"
        )
        assert {r["status"] for r in rows.values()} == {"succeeded"}, {
            sid: (r["status"], r["last_error"]) for sid, r in rows.items()
        }
        # with exactly one ArchiveResult per plugin, each done (a page without an icon
        # has its favicon result skipped)
        results = results_by_snapshot(engine, ids)
        for snapshot_id in ids:
            assert sorted(plugin for plugin, _ in results[snapshot_id]) == PLUGINS
            outcome = dict(results[snapshot_id])
            assert {p for p, status in outcome.items() if status != "succeeded"} <= {"favicon"}
            assert outcome["favicon"] in ("succeeded", "skipped")
        # and the killed captures were claimed again once their leases expired
        for snapshot_id in killed:
            assert rows[snapshot_id]["attempts"] == 2
            assert rows[snapshot_id]["worker_id"] is None

        # And the fleet view shows the killed worker lost and the other alive
        listed = wait_until(
            lambda: (w := client.get("/api/v1/workers").json())["lost"] == 1 and w,
            timeout=30,
            what="the killed worker to show as lost",
        )
        states = {w["pid"]: w for w in listed["items"]}
        assert states[victim.pid]["state"] == "lost"
        assert states[survivor.pid]["state"] == "alive"
        assert states[survivor.pid]["captures_done"] >= 1
        assert states[survivor.pid]["version"]
        table = run_amber(env, "workers")
        assert table.returncode == 0 and "lost" in table.stdout and "alive" in table.stdout
        # and /metrics has the queue from the database and the workers' counters
        body = client.get("/metrics").text
        assert metric(body, "amber_queue_depth", status="succeeded") == 30
        assert metric(body, "amber_queue_depth", status="queued") == 0
        assert metric(body, "amber_workers", state="lost") == 1
        assert metric(body, "amber_captures_total", outcome="succeeded") >= 1
        assert metric(body, "amber_capture_duration_seconds_count", extractor="screenshot") >= 1

        # When a finished snapshot is re-queued with PATCH
        again = ids[0]
        patched = client.patch(f"/api/v1/core/snapshot/{again}", json={"status": "queued"})
        assert patched.status_code == 200, patched.text

        # Then the surviving worker captures it again, still one result per plugin
        def recaptured() -> bool:
            row = snapshot_rows(engine, [again])[again]
            return (
                row["status"] == "succeeded" and row["downloaded_at"] > rows[again]["downloaded_at"]
            )

        wait_until(recaptured, timeout=60, what="the re-queued snapshot")
        assert sorted(p for p, _ in results_by_snapshot(engine, [again])[again]) == PLUGINS
    finally:
        client.close()
        for worker in workers:
            worker.stop(timeout=20)
        api.stop()
        engine.dispose()


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
def test_db_upgrade_creates_the_fleet_schema(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Given an empty SQLite file or PostgreSQL database
    extra: dict[str, str] = {}
    if store_kind == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        extra["AMBER_DATABASE_URL"] = pg.create_database("upgrade_check")
    env = amber_env(tmp_path, **extra)

    # When `amber db upgrade` runs (twice: it must be idempotent)
    first = run_amber(env, "db", "upgrade")
    second = run_amber(env, "db", "upgrade")

    # Then the schema is at every head, the fleet branch included
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    url = extra.get("AMBER_DATABASE_URL") or f"sqlite:///{tmp_path / 'amber.sqlite3'}"
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            heads = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
            assert "0006" in heads
            conn.execute(text("SELECT id, last_heartbeat, stats FROM fleet_worker")).all()
            conn.execute(text("SELECT claimed_at FROM snapshot")).all()
        # And `amber workers` works on the fresh schema
        listed = run_amber(env, "workers", "--json")
        assert listed.returncode == 0 and listed.stdout.strip() == "[]"
    finally:
        engine.dispose()


def test_fleet_views_need_auth_and_show_the_embedded_worker(
    api_server: AmberServer, admin_client: httpx.Client, make_token: Callable[..., str]
) -> None:
    # Given `amber serve` in embedded mode (it captures, so it heart-beats as a worker)
    # When the fleet views are called without a token
    anonymous = httpx.get(f"{api_server.url}/api/v1/workers", timeout=10)
    metrics_anonymous = httpx.get(f"{api_server.url}/metrics", timeout=10)

    # Then they answer 401 in the archive dialect, while /healthz needs no token
    assert anonymous.status_code == 401 and "detail" in anonymous.json()
    assert metrics_anonymous.status_code == 401
    assert httpx.get(f"{api_server.url}/healthz", timeout=10).json() == {"status": "ok"}

    # When an ordinary user lists the workers and an admin scrapes /metrics with ?api_key=
    token = make_token(f"fleet-viewer-{os.getpid()}")
    listed = httpx.get(
        f"{api_server.url}/api/v1/workers", headers={"X-ArchiveBox-API-Key": token}, timeout=10
    )
    scraped = httpx.get(f"{api_server.url}/metrics", params={"api_key": ADMIN_TOKEN}, timeout=10)

    # Then the server's own worker is listed alive, with its process details
    assert listed.status_code == 200
    body = listed.json()
    assert body["alive"] >= 1 and body["count"] == len(body["items"])
    alive = [w for w in body["items"] if w["state"] == "alive"]
    assert alive[0]["pid"] == api_server.process.pid  # type: ignore[union-attr]
    assert alive[0]["host"] == socket.gethostname()
    assert alive[0]["threads"] >= 1 and alive[0]["started_at"].endswith("Z")
    # And /metrics is Prometheus text with the queue and worker families
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert "# TYPE amber_queue_depth gauge" in scraped.text
    assert metric(scraped.text, "amber_workers", state="alive") >= 1
    assert "# TYPE amber_capture_duration_seconds histogram" in scraped.text
