"""Re-archiving over time: --update, update:true, schedules on an injected clock, ?url= order."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crawler.blobs import open_blob_store
from crawler.db import make_engine
from tests.conftest import ADMIN_TOKEN, TokenFactory, amber_env, run_amber
from tests.services import AmberServer
from tests.site import TestSite
from workers.periodic import JobContext, fire_schedules


def client_for(server: AmberServer, token: str = ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    )


def wait_done(client: httpx.Client, snapshot_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/core/snapshot/{snapshot_id}").json()
        if body["status"] in ("succeeded", "failed", "sealed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"snapshot {snapshot_id} did not finish")


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def snapshots_of(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    return client.get("/api/v1/core/snapshots", params={"url": url}).json()["items"]


def job_context(server: AmberServer, sent: list[str]) -> JobContext:
    """The server's own store, opened from the test, with a dispatch that only records."""
    data_dir = Path(server.env["AMBER_DATA_DIR"]).resolve()
    url = server.env.get("AMBER_DATABASE_URL") or f"sqlite:///{data_dir / 'amber.sqlite3'}"
    return JobContext(
        engine=make_engine(url),
        blobs=open_blob_store(str(data_dir / "blobs")),
        dispatch=sent.extend,
    )


def test_update_makes_a_new_snapshot_and_url_lists_them_in_time_order(
    api_server: AmberServer, site: TestSite
) -> None:
    # Given a URL archived once
    url = site.url("/p/9401")
    before = site.hits.get("/p/9401", 0)
    with client_for(api_server) as client:
        first = client.post("/api/v1/cli/add", json={"urls": [url]}).json()["snapshot_ids"][0]
        wait_done(client, first)
        # When it is added again without and then with update
        again = client.post("/api/v1/cli/add", json={"urls": [url]}).json()
        updated = client.post("/api/v1/cli/add", json={"urls": [url], "update": True}).json()
        second = updated["snapshot_ids"][0]
        wait_done(client, second)
        listed = snapshots_of(client, url)

    # Then only the update made (and captured) a second snapshot
    assert again["snapshot_ids"] == [first] and again["queued"] == 0
    assert second != first and updated["queued"] == 1
    assert site.hits.get("/p/9401", 0) == before + 2
    # And ?url= lists every snapshot of the URL (its timeline), newest first
    assert [s["id"] for s in listed] == [second, first]
    assert listed[0]["timestamp"] > listed[1]["timestamp"]
    assert parse_ts(listed[0]["created_at"]) > parse_ts(listed[1]["created_at"])
    assert all(s["status"] == "succeeded" for s in listed)


def test_amber_add_update_archives_again(tmp_path: Path, site: TestSite) -> None:
    # Given a URL already in the archive (stored index-only: no capture yet)
    env = amber_env(tmp_path)
    url = site.url("/p/9402")
    assert run_amber(env, "add", "--index-only", url).returncode == 0
    # When it is added again plainly, then with --update
    plain = run_amber(env, "add", url)
    update = run_amber(env, "add", "--update", url)
    # Then the plain add changed nothing and --update made and captured a new snapshot
    assert plain.returncode == 0 and "already archived" in plain.stdout
    assert update.returncode == 0, update.stderr
    with sqlite3.connect(tmp_path / "amber.sqlite3") as conn:
        rows = conn.execute("SELECT status FROM snapshot ORDER BY created_at").fetchall()
    assert rows == [("queued",), ("succeeded",)]


def test_schedule_fires_on_an_injected_clock(api_server: AmberServer, site: TestSite) -> None:
    url = site.url("/p/9403")
    before = site.hits.get("/p/9403", 0)
    sent: list[str] = []
    context = job_context(api_server, sent)
    with client_for(api_server) as client:
        # Given a daily schedule for a URL, tagging what it makes
        created = client.post(
            "/api/v1/cli/schedule", json={"urls": [url], "tag": "sched", "every": "1d"}
        )
        assert created.status_code == 201, created.text
        schedule = created.json()
        due = parse_ts(schedule["next_run_at"])
        assert due - parse_ts(schedule["created_at"]) == timedelta(days=1)
        assert schedule["every"] == 86400 and schedule["runs"] == 0

        # When the periodic job runs just before it is due: nothing happens
        fire_schedules(context, now=due - timedelta(seconds=1))
        assert sent == [] and snapshots_of(client, url) == []

        # When it runs once due (twice, as two nodes would): one new snapshot, dispatched
        fire_schedules(context, now=due + timedelta(seconds=1))
        fire_schedules(context, now=due + timedelta(seconds=1))
        assert len(sent) == 1
        made = client.get(f"/api/v1/core/snapshot/{sent[0]}").json()
        assert made["url"] == url and made["tags"] == ["sched"] and made["status"] == "queued"

        # When three days pass with nobody running it: missed firings collapse into one
        fire_schedules(context, now=due + timedelta(days=3, seconds=1))
        assert len(sent) == 2
        later = client.get(f"/api/v1/cli/schedule/{schedule['id']}").json()
        assert later["runs"] == 2
        assert parse_ts(later["next_run_at"]) == due + timedelta(days=4)

        # And a tag-only schedule re-archives every URL carrying that tag
        tagged = client.post("/api/v1/cli/schedule", json={"tag": "sched", "every": "6h"}).json()
        fire_schedules(context, now=parse_ts(tagged["next_run_at"]) + timedelta(seconds=1))
        assert len(sent) == 3
        assert client.get(f"/api/v1/core/snapshot/{sent[2]}").json()["url"] == url

        # Then the server captures each firing's snapshot once it is delivered
        for snapshot_id in sent:
            client.patch(f"/api/v1/core/snapshot/{snapshot_id}", json={"status": "queued"})
        finished = [wait_done(client, snapshot_id) for snapshot_id in sent]
        listed = snapshots_of(client, url)
        for schedule_id in (schedule["id"], tagged["id"]):
            assert client.delete(f"/api/v1/cli/schedule/{schedule_id}").status_code == 200
    context.engine.dispose()
    assert all(s["status"] == "succeeded" and s["tags"] == ["sched"] for s in finished)
    assert [s["id"] for s in listed] == sent[::-1]  # the URL's timeline, newest first
    assert site.hits.get("/p/9403", 0) == before + 3


def test_server_fires_a_due_schedule_by_itself(sqlite_server: AmberServer, site: TestSite) -> None:
    # Given an hourly schedule whose first run is already due
    url = site.url("/p/9404")
    first_run = datetime.now(UTC) - timedelta(seconds=1)
    with client_for(sqlite_server) as client:
        schedule = client.post(
            "/api/v1/cli/schedule",
            json={"urls": url, "every": 3600, "next_run_at": first_run.isoformat()},
        ).json()
        # When the server's periodic job runs (every second in the tests)
        deadline = time.monotonic() + 60
        listed: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            listed = snapshots_of(client, url)
            if listed and listed[0]["status"] == "succeeded":
                break
            time.sleep(0.3)
        after = client.get(f"/api/v1/cli/schedule/{schedule['id']}").json()
        client.delete(f"/api/v1/cli/schedule/{schedule['id']}")
    # Then it made and captured one snapshot and moved the next run an hour on
    assert len(listed) == 1 and listed[0]["status"] == "succeeded"
    assert after["runs"] == 1
    assert parse_ts(after["next_run_at"]) == parse_ts(schedule["next_run_at"]) + timedelta(hours=1)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"urls": ["http://127.0.0.1/"], "every": "0"}, "every"),
        ({"urls": ["http://127.0.0.1/"], "every": 30}, "every"),
        ({"urls": ["http://127.0.0.1/"], "every": "fortnightly"}, "every"),
        ({"urls": ["http://127.0.0.1/"]}, "every"),
        ({"every": "1d"}, "URLs or a tag"),
        ({"urls": ["javascript:alert(1)"], "every": "1d"}, "http"),
        ({"tag": "a,b", "every": "1d"}, "one tag"),
        ({"urls": ["http://127.0.0.1/"], "every": "1d", "depth": -1}, "depth"),
    ],
)
def test_bad_schedule_input_is_a_clear_4xx(
    sqlite_server: AmberServer, body: dict[str, Any], needle: str
) -> None:
    with client_for(sqlite_server) as client:
        # Given the schedules so far
        count = client.get("/api/v1/cli/schedule").json()["count"]
        # When a schedule with bad input is posted
        response = client.post("/api/v1/cli/schedule", json=body)
        # Then it is a 422 naming the problem, and nothing was stored
        assert response.status_code == 422, response.text
        assert needle.lower() in response.text.lower()
        assert client.get("/api/v1/cli/schedule").json()["count"] == count


def test_schedules_are_private_to_their_tenant(
    sqlite_server: AmberServer, sqlite_token: TokenFactory
) -> None:
    # Given a schedule of carol's
    carol = client_for(sqlite_server, sqlite_token("sched-carol"))
    dave = client_for(sqlite_server, sqlite_token("sched-dave"))
    with carol, dave:
        mine = carol.post(
            "/api/v1/cli/schedule", json={"urls": ["http://127.0.0.1:9/x"], "every": "1w"}
        ).json()
        # When dave lists, reads or deletes it, or anyone names an unknown id
        listed = dave.get("/api/v1/cli/schedule").json()["items"]
        responses = [
            dave.get(f"/api/v1/cli/schedule/{mine['id']}"),
            dave.delete(f"/api/v1/cli/schedule/{mine['id']}"),
            carol.delete("/api/v1/cli/schedule/nope"),
        ]
        # Then he never sees it and gets 404s; carol still has it and can delete it
        assert mine["id"] not in [s["id"] for s in listed]
        assert [r.status_code for r in responses] == [404, 404, 404]
        assert responses[0].json()["succeeded"] is False
        assert carol.get(f"/api/v1/cli/schedule/{mine['id']}").json()["every"] == 7 * 86400
        assert carol.delete(f"/api/v1/cli/schedule/{mine['id']}").json()["success"] is True
        assert httpx.get(f"{sqlite_server.url}/api/v1/cli/schedule").status_code == 401


def test_amber_schedule_add_list_run_remove(tmp_path: Path, site: TestSite) -> None:
    env = amber_env(tmp_path)
    url = site.url("/p/9405")
    # Given a schedule added from the CLI
    added = run_amber(env, "schedule", "add", url, "--every", "6h", "--tag", "cli-sched")
    assert added.returncode == 0, added.stderr
    schedule_id = added.stdout.strip().splitlines()[-1]
    # When it is listed
    listed = run_amber(env, "schedule", "list")
    assert listed.returncode == 0 and "21600s" in listed.stdout
    # And when it has come due and `amber schedule run` runs (as cron would)
    with sqlite3.connect(tmp_path / "amber.sqlite3") as conn:
        conn.execute("UPDATE schedule SET next_run_at = '2000-01-01 00:00:00.000000'")
    ran = run_amber(env, "schedule", "run")
    # Then it captured a new, tagged snapshot of the URL, and removal deletes the schedule
    assert ran.returncode == 0, ran.stderr
    assert "1 snapshot(s) from due schedules" in ran.stdout
    removed = run_amber(env, "schedule", "remove", schedule_id)
    assert removed.returncode == 0, removed.stderr
    with sqlite3.connect(tmp_path / "amber.sqlite3") as conn:
        assert conn.execute("SELECT url, status FROM snapshot").fetchall() == [(url, "succeeded")]
        assert conn.execute("SELECT count(*) FROM schedule").fetchone() == (0,)
        tags = conn.execute("SELECT name FROM tag").fetchall()
    assert tags == [("cli-sched",)]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["schedule", "add", "http://127.0.0.1/", "--every", "10s"], "every must be"),
        (["schedule", "add", "--every", "1d"], "URLs or a tag"),
        (["schedule", "remove", "no-such-schedule"], "not found"),
    ],
)
def test_amber_schedule_refuses_bad_input(tmp_path: Path, args: list[str], needle: str) -> None:
    # When the CLI gets a bad interval, nothing to archive, or an unknown id
    done = run_amber(amber_env(tmp_path), *args)
    # Then it exits 2 with one clear line
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr
