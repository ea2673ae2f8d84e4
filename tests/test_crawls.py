"""Crawls over real HTTP and the real CLI: Chromium captures the local /crawl/ tree.

The tree (tests/site.py): /crawl/ links /crawl/a, /crawl/b, /crawl/private/secret
(disallowed by robots.txt), /crawl/skip-me, /elsewhere.html and
http://127.0.0.2:1/outside (another host, outside the allow-list); /crawl/a links
/crawl/a/deep and back; /crawl/b links /crawl/b/deeper and /crawl/a; /crawl/a/deep
links /crawl/a/deep/deepest.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, TokenFactory, amber_env, run_amber
from tests.services import AmberServer
from tests.site import TestSite

CRAWL_FIELDS = {
    "id",
    "created_at",
    "modified_at",
    "created_by_id",
    "created_by_username",
    "status",
    "retry_at",
    "urls",
    "max_depth",
    "max_urls",
    "max_size",
    "tags_str",
    "label",
    "notes",
    "config",
}


def client_for(server: AmberServer, token: str = ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    )


def wait_sealed(client: httpx.Client, crawl_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/crawls/crawl/{crawl_id}").json()
        if body["status"] == "sealed":
            return body
        time.sleep(0.3)
    raise AssertionError(f"crawl {crawl_id} never sealed: {body}")


def crawl_snapshots(client: httpx.Client, crawl_id: str) -> dict[str, dict[str, Any]]:
    """path -> snapshot, for every snapshot of the crawl."""
    items = client.get(
        "/api/v1/core/snapshots", params={"crawl_id": crawl_id, "limit": 500}
    ).json()["items"]
    return {httpx.URL(s["url"]).path: s for s in items}


def hits(site: TestSite, *paths: str) -> dict[str, int]:
    return {p: site.hits.get(p, 0) for p in paths}


TREE = (
    "/crawl/",
    "/crawl/a",
    "/crawl/b",
    "/crawl/a/deep",
    "/crawl/b/deeper",
    "/crawl/a/deep/deepest",
    "/crawl/private/secret",
    "/crawl/skip-me",
    "/elsewhere.html",
    "/robots.txt",
)


def test_depth_two_prefix_crawl_honours_scope_exclude_and_robots(
    api_server: AmberServer, site: TestSite
) -> None:
    # Given the /crawl/ tree and a prefix-scoped crawl of depth 2 that excludes skip-me
    before = hits(site, *TREE)
    with client_for(api_server) as client:
        # When the crawl is created
        created = client.post(
            "/api/v1/crawls/crawls",
            json={
                "urls": [site.url("/crawl/")],
                "max_depth": 2,
                "tags_str": "site-crawl,depth2",
                "label": "test tree",
                "config": {"scope": "prefix", "exclude": ["skip-me"]},
            },
        )
        assert created.status_code == 201, created.text
        crawl = created.json()
        assert set(crawl) >= CRAWL_FIELDS
        assert crawl["status"] == "queued"
        assert crawl["created_by_username"] == "admin"
        assert crawl["config"]["scope"] == "prefix"
        assert crawl["num_snapshots"] == 1
        done = wait_sealed(client, crawl["id"])
        snapshots = crawl_snapshots(client, crawl["id"])

    # Then exactly the in-scope pages down to depth 2 were captured, once each
    assert set(snapshots) == {"/crawl/", "/crawl/a", "/crawl/b", "/crawl/a/deep", "/crawl/b/deeper"}
    assert {p: s["depth"] for p, s in snapshots.items()} == {
        "/crawl/": 0,
        "/crawl/a": 1,
        "/crawl/b": 1,
        "/crawl/a/deep": 2,
        "/crawl/b/deeper": 2,
    }
    assert all(s["status"] == "succeeded" for s in snapshots.values())
    assert all(s["tags"] == ["depth2", "site-crawl"] for s in snapshots.values())
    assert done["snapshot_counts"]["succeeded"] == 5
    assert sorted(done["snapshot_ids"]) == sorted(s["id"] for s in snapshots.values())
    assert done["skipped"] == {"excluded": 1, "robots": 1, "refused": 0, "limit": 0}
    after = hits(site, *TREE)
    delta = {p: after[p] - before[p] for p in TREE}
    # And each page was fetched once (by the capture; links came from the stored DOM),
    # robots.txt once for the crawl, and nothing out of scope, excluded or disallowed
    assert delta == {
        "/crawl/": 1,
        "/crawl/a": 1,
        "/crawl/b": 1,
        "/crawl/a/deep": 1,
        "/crawl/b/deeper": 1,
        "/crawl/a/deep/deepest": 0,
        "/crawl/private/secret": 0,
        "/crawl/skip-me": 0,
        "/elsewhere.html": 0,
        "/robots.txt": 1,
    }


def test_crawl_can_ignore_robots_and_include_only_some_links(
    sqlite_server: AmberServer, site: TestSite
) -> None:
    # Given a depth-1 crawl of any scope that ignores robots.txt and includes two patterns
    before = hits(site, *TREE)
    with client_for(sqlite_server) as client:
        crawl = client.post(
            "/api/v1/crawls/crawls",
            json={
                "urls": site.url("/crawl/"),
                "max_depth": 1,
                "config": {
                    "scope": "any",
                    "ignore_robots": True,
                    "include": ["/crawl/private/", r"elsewhere\.html$", "/outside"],
                },
            },
        ).json()
        # When it finishes
        done = wait_sealed(client, crawl["id"])
        snapshots = crawl_snapshots(client, crawl["id"])

    # Then the robots-disallowed page was captured, the other host never queued
    assert set(snapshots) == {"/crawl/", "/crawl/private/secret", "/elsewhere.html"}
    assert all(s["status"] == "succeeded" for s in snapshots.values())
    assert done["skipped"] == {"excluded": 3, "robots": 0, "refused": 1, "limit": 0}
    after = hits(site, *TREE)
    assert after["/robots.txt"] == before["/robots.txt"]
    assert after["/crawl/private/secret"] == before["/crawl/private/secret"] + 1
    assert after["/crawl/a"] == before["/crawl/a"]


def test_max_urls_caps_the_crawl(sqlite_server: AmberServer, site: TestSite) -> None:
    # Given a host-scoped depth-2 crawl that may hold at most 3 snapshots
    with client_for(sqlite_server) as client:
        crawl = client.post(
            "/api/v1/crawls/crawls",
            json={
                "urls": [site.url("/crawl/")],
                "max_depth": 2,
                "max_urls": 3,
                "config": {"scope": "host"},
            },
        ).json()
        # When it finishes
        done = wait_sealed(client, crawl["id"])

    # Then it stopped at 3 pages and counted the links it had to leave out
    assert done["num_snapshots"] == 3
    assert done["snapshot_counts"]["succeeded"] == 3
    assert done["skipped"]["limit"] >= 1


def test_sealing_a_crawl_cancels_its_queued_work(
    sqlite_server: AmberServer, site: TestSite
) -> None:
    # Given a crawl with more seeds than the server has worker threads
    seeds = ["/crawl/", *[f"/p/93{n:02d}" for n in range(10)]]
    before = hits(site, *seeds)
    with client_for(sqlite_server) as client:
        crawl = client.post(
            "/api/v1/crawls/crawls",
            json={
                "urls": [site.url(p) for p in seeds],
                "max_depth": 1,
                "config": {"scope": "host"},
            },
        ).json()
        # When it is sealed straight away
        sealed = client.patch(f"/api/v1/crawls/crawl/{crawl['id']}", json={"status": "sealed"})
        assert sealed.status_code == 200, sealed.text
        assert sealed.json()["status"] == "sealed"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            body = client.get(f"/api/v1/crawls/crawl/{crawl['id']}").json()
            if body["snapshot_counts"]["started"] == body["snapshot_counts"]["queued"] == 0:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # a finished page would queue its links now, if it still could
        snapshots = crawl_snapshots(client, crawl["id"])

    # Then the queued snapshots were sealed and never fetched, and nothing new was queued
    cancelled = [p for p, s in snapshots.items() if s["status"] == "sealed"]
    captured = [p for p, s in snapshots.items() if s["status"] == "succeeded"]
    assert len(cancelled) >= len(seeds) - 3
    assert set(snapshots) == set(seeds)
    assert all(s["depth"] == 0 for s in snapshots.values())
    after = hits(site, *seeds)
    assert all(after[p] == before[p] for p in cancelled)
    assert all(after[p] == before[p] + 1 for p in captured)
    assert body["status"] == "sealed"


def test_cli_add_depth_one_creates_a_crawl(sqlite_server: AmberServer, site: TestSite) -> None:
    # Given a page that links to one deeper page
    with client_for(sqlite_server) as client:
        # When it is added over the ArchiveBox add call with depth 1
        added = client.post(
            "/api/v1/cli/add", json={"urls": [site.url("/crawl/a/deep")], "depth": 1, "tag": "d1"}
        ).json()
        # Then a crawl holds the page and the page it links to
        assert added["crawl_id"] and added["num_snapshots"] == 1
        done = wait_sealed(client, added["crawl_id"])
        snapshots = crawl_snapshots(client, added["crawl_id"])
    assert done["max_depth"] == 1
    assert set(snapshots) == {"/crawl/a/deep", "/crawl/a/deep/deepest"}
    assert all(s["status"] == "succeeded" and s["tags"] == ["d1"] for s in snapshots.values())


def db_rows(data_dir: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "amber.sqlite3") as conn:
        return conn.execute(query).fetchall()


def test_amber_add_depth_one_archives_linked_pages(tmp_path: Path, site: TestSite) -> None:
    # Given an empty archive and /crawl/b, which links /crawl/b/deeper and /crawl/a
    env = amber_env(tmp_path)
    # When `amber add --depth 1` runs
    done = run_amber(env, "add", "--depth", "1", site.url("/crawl/b"))
    # Then the page and both linked pages are archived, and nothing deeper
    assert done.returncode == 0, done.stderr
    rows = db_rows(tmp_path, "SELECT url, status, depth, crawl_id FROM snapshot")
    assert sorted((httpx.URL(u).path, s, d) for u, s, d, _ in rows) == [
        ("/crawl/a", "succeeded", 1),
        ("/crawl/b", "succeeded", 0),
        ("/crawl/b/deeper", "succeeded", 1),
    ]
    assert len({c for *_, c in rows}) == 1
    assert db_rows(tmp_path, "SELECT status, max_depth FROM crawl") == [("sealed", 1)]
    assert "/crawl/b/deeper" in done.stdout


def test_amber_crawl_cli_follows_scope_and_reports(tmp_path: Path, site: TestSite) -> None:
    # Given an empty archive
    env = amber_env(tmp_path)
    robots_before = site.hits.get("/robots.txt", 0)
    # When `amber crawl` runs with a prefix scope and an exclude rule
    done = run_amber(
        env,
        "crawl",
        site.url("/crawl/b"),
        "--depth",
        "3",
        "--scope",
        "prefix",
        "--exclude",
        "deep|skip-me",
        "--max-urls",
        "10",
        "--label",
        "cli crawl",
    )
    # Then it captured b, a and /crawl/ (deep pages and skip-me excluded, private disallowed),
    # sealed the crawl and said what it skipped
    assert done.returncode == 0, done.stderr
    urls = sorted(httpx.URL(u).path for (u,) in db_rows(tmp_path, "SELECT url FROM snapshot"))
    assert urls == ["/crawl/", "/crawl/a", "/crawl/b"]
    assert db_rows(tmp_path, "SELECT status, label, max_urls FROM crawl") == [
        ("sealed", "cli crawl", 10)
    ]
    assert "3 page(s) archived" in done.stdout
    assert "3 excluded" in done.stdout and "1 robots" in done.stdout
    assert site.hits.get("/robots.txt", 0) == robots_before + 1


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"urls": ["http://127.0.0.1/"], "config": {"include": ["(unclosed"]}}, "invalid regex"),
        ({"urls": ["http://127.0.0.1/"], "config": {"exclude": "[z-a]"}}, "invalid regex"),
        ({"urls": ["http://127.0.0.1/"], "config": {"scope": "planet"}}, "scope"),
        ({"urls": ["http://127.0.0.1/"], "config": {"ignore_robots": "yes"}}, "ignore_robots"),
        ({"urls": ["http://127.0.0.1/"], "max_depth": -1}, "max_depth"),
        ({"urls": ["http://127.0.0.1/"], "max_depth": 11}, "max_depth"),
        ({"urls": ["http://127.0.0.1/"], "max_urls": -5}, "max_urls"),
        ({"urls": ["http://127.0.0.1/a", "http://127.0.0.1/b"], "max_urls": 1}, "max_urls"),
        ({"urls": []}, "URL"),
        ({"urls": ["ftp://127.0.0.1/file"]}, "http"),
        ({"max_depth": 1}, "urls"),
    ],
)
def test_bad_crawl_input_is_a_clear_4xx_and_writes_nothing(
    sqlite_server: AmberServer, body: dict[str, Any], needle: str
) -> None:
    with client_for(sqlite_server) as client:
        # Given the number of crawls so far
        total = client.get("/api/v1/crawls/crawls").json()["count"]
        # When a crawl with bad input is created
        response = client.post("/api/v1/crawls/crawls", json=body)
        # Then it is refused with a 422 naming the problem, and nothing was stored
        assert response.status_code == 422, response.text
        assert needle.lower() in response.text.lower()
        assert client.get("/api/v1/crawls/crawls").json()["count"] == total


def test_unknown_or_foreign_crawls_are_not_found(
    sqlite_server: AmberServer, sqlite_token: TokenFactory
) -> None:
    # Given a crawl that alice stored (sealed at once so it captures nothing)
    alice = client_for(sqlite_server, sqlite_token("crawl-alice"))
    bob = client_for(sqlite_server, sqlite_token("crawl-bob"))
    with alice, bob:
        crawl = alice.post(
            "/api/v1/crawls/crawls", json={"urls": ["http://127.0.0.1:9/never"], "label": "mine"}
        ).json()
        alice.patch(f"/api/v1/crawls/crawl/{crawl['id']}", json={"status": "sealed"})
        # When bob (another tenant) or anyone asks for it or for an unknown id
        for method in ("GET", "PATCH", "DELETE"):
            json_body = {"label": "stolen"} if method == "PATCH" else None
            foreign = bob.request(method, f"/api/v1/crawls/crawl/{crawl['id']}", json=json_body)
            unknown = alice.request(method, "/api/v1/crawls/crawl/no-such-crawl", json=json_body)
            # Then both are 404 in the ArchiveBox error shape
            for response in (foreign, unknown):
                assert response.status_code == 404, response.text
                assert response.json()["succeeded"] is False
        assert crawl["id"] not in [
            c["id"] for c in bob.get("/api/v1/crawls/crawls").json()["items"]
        ]
        # And alice still sees her crawl unchanged, then can delete it with its snapshot
        mine = alice.get(f"/api/v1/crawls/crawl/{crawl['id']}").json()
        assert mine["label"] == "mine" and mine["num_snapshots"] == 1
        assert (
            alice.patch(
                f"/api/v1/crawls/crawl/{crawl['id']}", json={"status": "queued"}
            ).status_code
            == 422
        )
        deleted = alice.delete(f"/api/v1/crawls/crawl/{crawl['id']}").json()
        assert deleted == {"success": True, "crawl_id": crawl["id"], "deleted_count": 1}
        assert alice.get(f"/api/v1/crawls/crawl/{crawl['id']}").status_code == 404
        assert alice.get(f"/api/v1/core/snapshot/{mine['snapshot_ids'][0]}").status_code == 404
        assert httpx.get(f"{sqlite_server.url}/api/v1/crawls/crawls").status_code == 401


def test_bad_depth_over_add_is_refused(sqlite_server: AmberServer) -> None:
    with client_for(sqlite_server) as client:
        # When depth is out of range, or combined with index_only
        too_deep = client.post("/api/v1/cli/add", json={"urls": ["http://127.0.0.1/"], "depth": 5})
        index_only = client.post(
            "/api/v1/cli/add",
            json={"urls": ["http://127.0.0.1/"], "depth": 1, "index_only": True},
        )
    # Then both are 422 with a reason
    assert too_deep.status_code == 422
    assert index_only.status_code == 422 and "index_only" in index_only.text


def test_amber_crawl_refuses_a_bad_regex(tmp_path: Path) -> None:
    # When `amber crawl` gets an exclude pattern that does not compile
    done = run_amber(amber_env(tmp_path), "crawl", "http://127.0.0.1/", "--exclude", "(oops")
    # Then it exits 2 with one clear line and stores nothing
    assert done.returncode == 2
    assert "invalid regex" in done.stderr
    assert "Traceback" not in done.stderr
