"""Change alerts: a schedule re-captures a page that changed, and a webhook on 127.0.0.1 is
told (retried after a 500), small changes stay quiet, refused webhook addresses are a 422
(decided by the guard, no packet sent), `amber schedule run` alerts too, migration 0009."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect
from sqlmodel import Session, select

from crawler import db
from crawler.alerts import deliver_due
from crawler.auth import ensure_user, principal_for_user
from crawler.errors import FetchRefused
from crawler.models import Change
from crawler.webhooks import pin, post_json
from tests.conftest import _token_factory, amber_env, run_amber
from tests.services import AmberServer, PostgresServer
from tests.site import TestSite
from tests.test_diffs import capture, client_for


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every POST; the first `failures` get a 500."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                failing = receiver.failures > 0
                receiver.failures -= 1
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": json.loads(body),
                        "answered": 500 if failing else 204,
                    }
                )
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 90) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.requests) < count:
            time.sleep(0.2)
        return self.requests

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def alert_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AmberServer]:
    """`amber serve` whose webhook retries come quickly (0.3 s backoff instead of 30 s)."""
    env = amber_env(
        tmp_path_factory.mktemp("alerts"),
        AMBER_WEBHOOK_BACKOFF="0.3",
        AMBER_WEBHOOK_TIMEOUT="2",
    )
    server = AmberServer(env=env).start()
    yield server
    server.stop()


def due_now() -> str:
    return (datetime.now(UTC) - timedelta(seconds=1)).isoformat()


def wait_for_captures(client: httpx.Client, url: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 90
    listed: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listed = client.get("/api/v1/core/snapshots", params={"url": url}).json()["items"]
        if len(listed) >= count and all(s["status"] == "succeeded" for s in listed):
            return listed
        time.sleep(0.3)
    raise AssertionError(f"expected {count} captures of {url}, got {listed}")


def test_a_changed_page_is_alerted_and_a_failed_webhook_retried(
    alert_server: AmberServer, site: TestSite, receiver: Receiver
) -> None:
    receiver.failures = 1
    url = site.url("/changing/alert/page.html")
    with client_for(alert_server) as client:
        # Given a page captured once, which then changes
        site.versions["alert"] = 1
        first = capture(client, url, update=False)
        site.versions["alert"] = 2
        # When a due schedule with a webhook (that fails once) re-captures it
        created = client.post(
            "/api/v1/cli/schedule",
            json={
                "urls": [url],
                "every": "1h",
                "next_run_at": due_now(),
                "notify_url": receiver.url(),
                "notify_threshold": 0.005,
            },
        )
        assert created.status_code == 201, created.text
        schedule = created.json()
        assert schedule["notify_url"] == receiver.url() and schedule["notify_threshold"] == 0.005
        requests = receiver.wait_for(2)
        changes = client.get("/api/v1/core/changes", params={"schedule_id": schedule["id"]})
        by_url = client.get("/api/v1/core/changes", params={"url": url}).json()
        diff = client.get(requests[-1]["json"]["diff_url"]) if requests else None
        client.delete(f"/api/v1/cli/schedule/{schedule['id']}")

    # Then the webhook got a 500 first and the same alert again, which it accepted
    assert [r["answered"] for r in requests] == [500, 204], requests
    assert requests[0]["json"] == requests[1]["json"]
    alert = requests[1]["json"]
    assert requests[1]["path"] == "/hook"
    assert requests[1]["headers"]["Content-Type"] == "application/json"
    assert alert["event"] == "page.changed" and alert["url"] == url
    assert alert["schedule_id"] == schedule["id"]
    assert alert["before"]["snapshot_id"] == first["id"]
    assert alert["before"]["timestamp"] == first["timestamp"]
    after_id = alert["after"]["snapshot_id"]
    assert after_id != first["id"] and alert["after"]["timestamp"] > first["timestamp"]
    assert alert["after"]["captured_at"] and alert["before"]["captured_at"]
    assert alert["summary"]["words_inserted"] == 2 and alert["summary"]["words_deleted"] == 2
    assert "[-dawn-]{+noon+}" in alert["summary"]["excerpt"]
    assert 0.005 < alert["share_changed"] < 0.1
    assert alert["diff_url"] == (
        f"{alert_server.url}/api/v1/core/snapshots/{first['id']}/diff/{after_id}"
    )
    assert alert["diff_page_url"] == f"{alert_server.url}/diff/{first['id']}/{after_id}"
    # And the diff it links to answers
    assert diff is not None and diff.status_code == 200
    assert diff.json()["text"]["words_inserted"] == 2
    # And the API shows the change with its delivery state
    assert changes.status_code == 200
    page = changes.json()
    assert page["count"] == 1 and page["num_items"] == 1
    change = page["items"][0]
    assert change["id"] == alert["change_id"] and change["after_snapshot_id"] == after_id
    assert change["delivery"]["state"] == "delivered" and change["delivery"]["attempts"] == 2
    assert change["delivery"]["delivered_at"] and change["delivery"]["last_error"] is None
    assert [c["id"] for c in by_url["items"]] == [change["id"]]


def test_changes_are_private_and_filtered(
    alert_server: AmberServer, site: TestSite, receiver: Receiver
) -> None:
    url = site.url("/changing/filters/page.html")
    stranger = _token_factory(alert_server)("changes-stranger")
    with client_for(alert_server) as client, client_for(alert_server, stranger) as other:
        # Given a change recorded by a schedule without a webhook
        site.versions["filters"] = 1
        first = capture(client, url, update=False)
        site.versions["filters"] = 2
        schedule = client.post(
            "/api/v1/cli/schedule", json={"urls": url, "every": "1h", "next_run_at": due_now()}
        ).json()
        listed = wait_for_captures(client, url, 2)
        deadline = time.monotonic() + 30
        mine: dict[str, Any] = {}
        while time.monotonic() < deadline:
            mine = client.get("/api/v1/core/changes", params={"url": url}).json()
            if mine["count"]:
                break
            time.sleep(0.3)
        # When it is listed by snapshot id, by another tenant, or by an unrelated filter
        by_snapshot = client.get("/api/v1/core/changes", params={"snapshot_id": first["id"]})
        unrelated = client.get("/api/v1/core/changes", params={"schedule_id": "nope"})
        foreign = other.get("/api/v1/core/changes", params={"url": url})
        client.delete(f"/api/v1/cli/schedule/{schedule['id']}")
    # Then the owner sees it (no webhook: delivery state "none"), the stranger does not
    assert len(listed) == 2 and mine["count"] == 1
    item = mine["items"][0]
    assert item["before_snapshot_id"] == first["id"]
    assert item["delivery"] == {
        "state": "none",
        "attempts": 0,
        "next_attempt_at": None,
        "delivered_at": None,
        "last_error": None,
    }
    assert [c["id"] for c in by_snapshot.json()["items"]] == [item["id"]]
    assert unrelated.json()["count"] == 0
    assert foreign.status_code == 200 and foreign.json()["count"] == 0
    assert receiver.requests == []


def test_a_change_under_the_threshold_sends_nothing(
    alert_server: AmberServer, site: TestSite, receiver: Receiver
) -> None:
    url = site.url("/changing/quiet/page.html")
    with client_for(alert_server) as client:
        # Given a page captured once whose text then changes by a few percent
        site.versions["quiet"] = 1
        capture(client, url, update=False)
        site.versions["quiet"] = 2
        # When a schedule asking only about changes over half the text re-captures it
        schedule = client.post(
            "/api/v1/cli/schedule",
            json={
                "urls": [url],
                "every": "1h",
                "next_run_at": due_now(),
                "notify_url": receiver.url(),
                "notify_threshold": 0.5,
            },
        ).json()
        listed = wait_for_captures(client, url, 2)
        time.sleep(3)  # three more passes of the periodic job (every second in the tests)
        changes = client.get("/api/v1/core/changes", params={"url": url}).json()
        client.delete(f"/api/v1/cli/schedule/{schedule['id']}")
    # Then the re-capture happened, but no change was recorded and nothing was sent
    assert len(listed) == 2
    assert changes["count"] == 0
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("notify", "needle"),
    [
        ("http://127.0.0.2:9/hook", "127.0.0.2, a private/loopback/link-local address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://10.1.2.3/hook", "AMBER_ALLOWED_NETWORKS"),
        ("http://[::1]:9/hook", "::1"),
        ("ftp://127.0.0.1/hook", "only http and https"),
        ("http://user:secret@127.0.0.1:9/hook", "user name or password"),
        ("not a url", "notify_url"),
    ],
)
def test_a_refused_webhook_address_is_a_clear_422(
    sqlite_server: AmberServer, notify: str, needle: str
) -> None:
    with client_for(sqlite_server) as client:
        # Given the schedules so far
        count = client.get("/api/v1/cli/schedule").json()["count"]
        # When a schedule names a webhook the allow-list refuses (IP literals: nothing is sent)
        response = client.post(
            "/api/v1/cli/schedule",
            json={"urls": ["http://127.0.0.1:9/x"], "every": "1d", "notify_url": notify},
        )
        # Then it is a 422 saying why, and nothing was stored
        assert response.status_code == 422, response.text
        assert needle in response.json()["detail"]
        assert client.get("/api/v1/cli/schedule").json()["count"] == count


def test_a_threshold_outside_0_to_1_is_a_422(sqlite_server: AmberServer) -> None:
    with client_for(sqlite_server) as client:
        response = client.post(
            "/api/v1/cli/schedule",
            json={"urls": ["http://127.0.0.1:9/x"], "every": "1d", "notify_threshold": 1.5},
        )
    assert response.status_code == 422 and "notify_threshold" in response.text


def test_the_guard_pins_the_address_it_checked(receiver: Receiver) -> None:
    loopback = (ip_network("127.0.0.0/8"), ip_network("::1/128"))
    port = receiver.server.server_address[1]
    # Given a name that resolves (from /etc/hosts, no DNS packet) to loopback addresses
    # When it is not allowed, the guard refuses it before connecting anywhere
    with pytest.raises(FetchRefused, match="private/loopback/link-local"):
        pin(f"http://localhost:{port}/hook", ())
    assert receiver.requests == []
    # When it is allowed: the request goes to the checked address, named in Host
    target = pin(f"http://localhost:{port}/hook?x=1", loopback)
    assert str(target.address) in ("127.0.0.1", "::1")
    assert target.pinned_url.startswith(("http://127.0.0.1:", "http://[::1]:"))
    assert target.pinned_url.endswith(f":{port}/hook?x=1")
    sent = post_json(f"http://localhost:{port}/hook", {"ping": 1}, networks=loopback, timeout=5)
    assert sent.delivered and sent.status == 204
    assert receiver.requests[-1]["headers"]["Host"] == f"localhost:{port}"
    assert receiver.requests[-1]["json"] == {"ping": 1}
    # And a refused address is reported as an error to retry, not raised
    refused = post_json("http://10.9.8.7/hook", {"ping": 1}, networks=loopback, timeout=5)
    assert not refused.delivered and "private/loopback" in (refused.error or "")


def test_amber_schedule_run_sends_the_alert(
    tmp_path: Path, site: TestSite, receiver: Receiver
) -> None:
    env = amber_env(tmp_path)
    url = site.url("/changing/cli/page.html")
    # Given a page archived from the CLI, which then changes
    site.versions["cli"] = 1
    assert run_amber(env, "add", url).returncode == 0
    site.versions["cli"] = 2
    # And a schedule with a webhook (a refused one is rejected with one clear line)
    refused = run_amber(
        env, "schedule", "add", url, "--every", "1h", "--notify", "http://10.0.0.1/"
    )
    assert refused.returncode == 2 and "notify_url is refused" in refused.stderr
    added = run_amber(
        env,
        "schedule",
        "add",
        url,
        "--every",
        "1h",
        "--notify",
        receiver.url("/cli"),
        "--threshold",
        "0.005",
    )
    assert added.returncode == 0, added.stderr
    listed = run_amber(env, "schedule", "list")
    assert listed.returncode == 0 and "(>0.005)" in listed.stdout
    # When it is due and `amber schedule run` runs (as cron would)
    with sqlite3.connect(tmp_path / "amber.sqlite3") as conn:
        conn.execute("UPDATE schedule SET next_run_at = '2000-01-01 00:00:00.000000'")
    ran = run_amber(env, "schedule", "run")
    # Then it re-captured the page and told the webhook what changed
    assert ran.returncode == 0, ran.stderr
    assert "1 change alert(s) sent" in ran.stdout
    assert [r["path"] for r in receiver.requests] == ["/cli"]
    alert = receiver.requests[0]["json"]
    assert alert["url"] == url and alert["summary"]["words_deleted"] == 2
    with sqlite3.connect(tmp_path / "amber.sqlite3") as conn:
        rows = conn.execute(
            "SELECT schedule_id IS NOT NULL, status FROM snapshot ORDER BY created_at"
        ).fetchall()
        delivered = conn.execute("SELECT attempts, delivered_at IS NOT NULL FROM change").fetchall()
    assert rows == [(0, "succeeded"), (1, "succeeded")]
    assert delivered == [(1, 1)]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'changes.sqlite3'}"
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    return pg.create_database(f"changes_{time.time_ns()}")


def test_migration_0009_downgrades_and_upgrades(database_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    # Given a store at the newest schema, with a schedule from before the upgrade
    db.upgrade(database_url)
    engine = db.make_engine(database_url)
    try:
        command.downgrade(db.alembic_config(database_url), "changes@0005")
        engine.dispose()
        found = inspect(engine)
        assert "change" not in found.get_table_names()
        assert "schedule_id" not in {c["name"] for c in found.get_columns("snapshot")}
        assert "notify_url" not in {c["name"] for c in found.get_columns("schedule")}
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO workspace (id, name, created_at) VALUES ('w', 'w', :now)"),
                {"now": datetime.now(UTC)},
            )
            conn.execute(
                text(
                    'INSERT INTO "user" (id, username, is_admin, created_at) '
                    "VALUES ('u', 'u', false, :now)"
                ),
                {"now": datetime.now(UTC)},
            )
            conn.execute(
                text(
                    "INSERT INTO schedule (id, workspace_id, created_by_id, created_at, "
                    "modified_at, label, urls, tag, depth, every_seconds, next_run_at, runs) "
                    "VALUES ('s', 'w', 'u', :now, :now, '', 'http://a.example/', '', 0, 3600, "
                    ":now, 0)"
                ),
                {"now": datetime.now(UTC)},
            )
        # When it is upgraded again
        db.upgrade(database_url)
        engine.dispose()
        found = inspect(engine)
        # Then the change table, the snapshot's schedule and the alert settings are back,
        # and the old schedule got the default threshold and no webhook
        assert "change" in found.get_table_names()
        assert "ix_snapshot_schedule_id" in {i["name"] for i in found.get_indexes("snapshot")}
        assert "ix_change_next_attempt_at" in {i["name"] for i in found.get_indexes("change")}
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT notify_url, notify_threshold FROM schedule WHERE id = 's'")
            ).one()
            heads = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        assert tuple(row) == (None, 0.01)
        # 0009 itself, or the query branch's head (0020 depends on 0009, so once it is
        # applied it and the revisions after it stand for 0009)
        assert heads & {"0009", "0020", "0021", "0022", "0023", "0024", "0025"}
    finally:
        engine.dispose()


def test_an_alert_that_keeps_failing_is_given_up(tmp_path: Path, receiver: Receiver) -> None:
    # Given a stored change whose webhook always answers 500
    receiver.failures = 100
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        owner = principal_for_user(session, ensure_user(session, "alerted"))
        session.add(
            Change(
                workspace_id=owner.default_workspace_id,
                url="https://example.org/",
                before_snapshot_id="b",
                after_snapshot_id="a",
                share_changed=0.5,
                notify_url=receiver.url(),
                next_attempt_at=datetime.now(UTC),
            )
        )
    # When the periodic job runs three times (no backoff, at most two attempts)
    sent = [
        deliver_due(
            engine,
            networks=(ip_network("127.0.0.1/32"),),
            base_url="http://amber.test",
            timeout=5.0,
            max_attempts=2,
            backoff=0.0,
        )
        for _ in range(3)
    ]
    with Session(engine) as session:
        change = session.exec(select(Change)).one()
    engine.dispose()
    # Then it tried twice, gave up, and says why
    assert sent == [0, 0, 0]
    assert [r["answered"] for r in receiver.requests] == [500, 500]
    first = receiver.requests[0]["json"]
    assert first["diff_url"] == "http://amber.test/api/v1/core/snapshots/b/diff/a"
    assert first["before"] == {"snapshot_id": "b", "timestamp": None, "captured_at": None}
    assert change.attempts == 2 and change.next_attempt_at is None
    assert change.delivery_state == "failed" and change.last_error == "HTTP 500"
