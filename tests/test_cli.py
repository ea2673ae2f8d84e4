"""The `amber` CLI as a user runs it: real subprocesses, real Chromium, a fresh data dir."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from extractors.registry import EXTRACTORS
from tests.conftest import amber_env, run_amber
from tests.services import AmberServer
from tests.site import TestSite


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return amber_env(tmp_path / "data")


def rows(env: dict[str, str], query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(Path(env["AMBER_DATA_DIR"]) / "amber.sqlite3") as conn:
        return conn.execute(query).fetchall()


def test_add_captures_and_reports_each_snapshot(env: dict[str, str], site: TestSite) -> None:
    # Given a fresh data dir, When a page is added
    done = run_amber(env, "add", site.url("/page.html?cli=1"), "--tag", "cli,test")
    # Then it exits 0 and prints the snapshot id, status and outputs
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout
    assert "warc" in done.stdout and "screenshot" in done.stdout
    snapshot = rows(env, "select id, status, title from snapshot")
    assert len(snapshot) == 1 and snapshot[0][1] == "succeeded"
    assert snapshot[0][0] in done.stdout
    assert snapshot[0][2] == "Amber Rich Page"
    plugins = rows(env, "select plugin, status from archiveresult")
    assert len(plugins) == len(EXTRACTORS) and all(status == "succeeded" for _, status in plugins)
    tags = rows(env, "select name from tag order by name")
    assert tags == [("cli",), ("test",)]
    blobs = list((Path(env["AMBER_DATA_DIR"]) / "blobs").glob("??/??/*"))
    assert len(blobs) >= 7
    # And `amber status` lists it
    listed = run_amber(env, "status")
    assert listed.returncode == 0 and "succeeded" in listed.stdout


def test_add_exits_non_zero_when_a_capture_fails(env: dict[str, str], site: TestSite) -> None:
    done = run_amber(env, "add", site.url("/final.html?cli=2"), site.url("/loop?cli=2"))
    assert done.returncode == 1
    assert "failed" in done.stdout and "redirect loop" in done.stdout
    statuses = dict(rows(env, "select url, status from snapshot"))
    assert statuses[site.url("/final.html?cli=2")] == "succeeded"
    assert statuses[site.url("/loop?cli=2")] == "failed"
    first = dict(rows(env, "select url, downloaded_at from snapshot"))
    # When both are added again, Then the failed one is captured again (a user who fixed
    # the cause gets a new attempt) and only the succeeded one is already archived
    again = run_amber(env, "add", site.url("/final.html?cli=2"), site.url("/loop?cli=2"))
    assert "1 failed before and were captured again" in again.stdout, again.stdout
    assert "1 already archived" in again.stdout
    later = dict(rows(env, "select url, downloaded_at from snapshot"))
    assert len(later) == 2 and later[site.url("/loop?cli=2")] > first[site.url("/loop?cli=2")]
    assert later[site.url("/final.html?cli=2")] == first[site.url("/final.html?cli=2")]


@pytest.mark.parametrize(
    "bad", ["not a url", "ftp://example.com/", "http://", "file:///etc/passwd"]
)
def test_malformed_urls_are_refused_and_never_queued(env: dict[str, str], bad: str) -> None:
    done = run_amber(env, "add", bad)
    assert done.returncode == 2
    assert "error" in done.stderr.lower()
    db = Path(env["AMBER_DATA_DIR"]) / "amber.sqlite3"
    assert not db.exists() or rows(env, "select count(*) from snapshot") == [(0,)]


def test_already_archived_url_is_not_captured_again(env: dict[str, str], site: TestSite) -> None:
    url = site.url("/final.html?cli=3")
    assert run_amber(env, "add", url).returncode == 0
    again = run_amber(env, "add", url + "#same")
    assert again.returncode == 0 and "already archived" in again.stdout
    assert rows(env, "select count(*) from snapshot") == [(1,)]
    updated = run_amber(env, "add", "--update", url)
    assert updated.returncode == 0
    assert rows(env, "select count(*) from snapshot where status = 'succeeded'") == [(2,)]


def test_token_create_prints_a_working_token(env: dict[str, str]) -> None:
    done = run_amber(env, "token", "create", "--user", "carol")
    assert done.returncode == 0
    token = done.stdout.strip()
    assert token.startswith("amb_") and len(token) > 30
    server = AmberServer(env={**env, "AMBER_ADMIN_TOKEN": ""}, args=("--no-workers",)).start()
    try:
        ok = httpx.get(
            f"{server.url}/api/v1/core/snapshots", headers={"Authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 200 and ok.json()["total_items"] == 0
    finally:
        server.stop()
    assert run_amber(env, "token", "create", "--user", "").returncode == 2


def test_invalid_settings_are_a_clear_error(env: dict[str, str]) -> None:
    done = run_amber({**env, "AMBER_ALLOWED_NETWORKS": "not-a-cidr"}, "status")
    assert done.returncode == 2 and "invalid settings" in done.stderr
