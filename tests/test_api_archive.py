"""The ArchiveBox dialect over real HTTP against `amber serve`, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from PIL import Image

from extractors.registry import EXTRACTORS
from tests.conftest import ADMIN_TOKEN, TokenFactory
from tests.services import AmberServer
from tests.site import TestSite

PAGE_ENVELOPE = {
    "count",
    "total_items",
    "total_pages",
    "page",
    "limit",
    "offset",
    "num_items",
    "items",
}
SNAPSHOT_FIELDS = {
    "TYPE",
    "id",
    "created_by_id",
    "created_by_username",
    "created_at",
    "modified_at",
    "status",
    "retry_at",
    "bookmarked_at",
    "downloaded_at",
    "url",
    "tags",
    "title",
    "timestamp",
    "archive_path",
    "archive_size",
    "output_size",
    "num_archiveresults",
    "archiveresults",
}
RESULT_FIELDS = {
    "TYPE",
    "id",
    "created_at",
    "modified_at",
    "created_by_id",
    "created_by_username",
    "status",
    "retry_at",
    "plugin",
    "cmd_version",
    "output_str",
    "output_files",
    "output_size",
    "output_mimetypes",
    "start_ts",
    "end_ts",
    "snapshot_id",
    "snapshot_timestamp",
    "snapshot_url",
    "snapshot_tags",
}


def wait_done(client: httpx.Client, snapshot_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/core/snapshot/{snapshot_id}").json()
        if body["status"] in ("succeeded", "failed", "sealed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"snapshot {snapshot_id} did not finish")


@pytest.fixture(scope="module")
def captured(api_server: AmberServer, site: TestSite) -> dict[str, Any]:
    """One rich page captured through the API (module-wide, per store)."""
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    ) as client:
        added = client.post(
            "/api/v1/cli/add",
            json={"urls": [site.url("/page.html?run=api")], "tag": "news,Rich"},
        )
        assert added.status_code == 200, added.text
        return wait_done(client, added.json()["snapshot_ids"][0])


def test_add_captures_in_the_background(captured: dict[str, Any]) -> None:
    # Given a URL added through the API, Then it ends succeeded with every ArchiveResult
    assert captured["status"] == "succeeded"
    assert set(captured) >= SNAPSHOT_FIELDS
    assert captured["TYPE"] == "core.models.Snapshot"
    assert captured["tags"] == ["Rich", "news"]
    assert captured["title"] == "Amber Rich Page"
    plugins = {r["plugin"]: r for r in captured["archiveresults"]}
    assert set(plugins) == {
        "warc",
        "dom",
        "screenshot",
        "thumbnail",
        "pdf",
        "title",
        "favicon",
        "headers",
        "text",
        "behaviours",
        "singlefile",
    }
    assert set(plugins["warc"]) >= RESULT_FIELDS
    assert plugins["warc"]["output_files"] == ["warc/capture.warc.gz"]
    assert plugins["screenshot"]["output_files"] == ["screenshot.png"]
    assert captured["num_archiveresults"] == len(EXTRACTORS)
    assert captured["archive_size"] == sum(r["output_size"] for r in plugins.values()) > 0


def test_add_returns_at_once_and_validates(admin_client: httpx.Client, site: TestSite) -> None:
    # Given newline-separated text with an index-only flag
    text = f"{site.url('/final.html?a=1')}\n\n{site.url('/final.html?a=2')}\n"
    answer = admin_client.post("/api/v1/cli/add", json={"urls": text, "index_only": True})
    body = answer.json()
    # Then both are stored, none queued for capture
    assert answer.status_code == 200
    assert body["success"] is True and body["num_snapshots"] == 2 and body["queued"] == 0
    stored = admin_client.get(f"/api/v1/core/snapshot/{body['snapshot_ids'][0]}").json()
    assert stored["status"] == "queued" and stored["retry_at"] is None


@pytest.mark.parametrize(
    "payload",
    [
        {"urls": []},
        {"urls": ["ftp://example.com/file"]},
        {"urls": ["http://"]},
        {"urls": ["javascript:alert(1)"]},
        {"urls": ["http://exa mple.com/"]},
        {"urls": "https://ok.example/", "depth": 9},
        {"urls": 42},
        {"tag": "missing urls"},
    ],
)
def test_add_rejects_bad_input_without_storing(
    admin_client: httpx.Client, payload: dict[str, Any]
) -> None:
    before = admin_client.get("/api/v1/core/snapshots", params={"limit": 1}).json()["total_items"]
    answer = admin_client.post("/api/v1/cli/add", json=payload)
    assert answer.status_code == 422, answer.text
    assert "detail" in answer.json()
    after = admin_client.get("/api/v1/core/snapshots", params={"limit": 1}).json()["total_items"]
    assert after == before


def test_malformed_json_is_a_clear_error(admin_client: httpx.Client) -> None:
    answer = admin_client.post(
        "/api/v1/cli/add", content=b'{"urls": [', headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert "Malformed JSON" in str(answer.json()["detail"])


def test_dedup_and_update(admin_client: httpx.Client, site: TestSite) -> None:
    url = site.url("/final.html?dedup=1")
    first = admin_client.post("/api/v1/cli/add", json={"urls": [url], "index_only": True}).json()
    # When the same URL (differently written) is added again
    again = admin_client.post(
        "/api/v1/cli/add",
        json={"urls": [url.replace("http://", "HTTP://") + "#frag"], "index_only": True},
    ).json()
    # Then it is a duplicate of the first, unless update is asked for
    assert again["snapshot_ids"] == first["snapshot_ids"] and again["duplicates"] == 1
    updated = admin_client.post(
        "/api/v1/cli/add", json={"urls": [url], "update": True, "index_only": True}
    ).json()
    assert updated["snapshot_ids"] != first["snapshot_ids"]
    listed = admin_client.get("/api/v1/core/snapshots", params={"url": url}).json()
    # And the URL's timeline lists both, newest first
    assert [s["id"] for s in listed["items"]] == updated["snapshot_ids"] + first["snapshot_ids"]


def test_auth_forms_and_failures(api_server: AmberServer, captured: dict[str, Any]) -> None:
    url = f"{api_server.url}/api/v1/core/snapshots"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url).json() == {"detail": "Authentication credentials were not provided"}
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(url, headers={"X-ArchiveBox-API-Key": ADMIN_TOKEN}).status_code == 200
    assert httpx.get(url, params={"api_key": ADMIN_TOKEN}).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200


def test_list_envelope_filters_and_paging(
    admin_client: httpx.Client, captured: dict[str, Any]
) -> None:
    page = admin_client.get("/api/v1/core/snapshots", params={"limit": 1}).json()
    assert set(page) == PAGE_ENVELOPE
    assert page["limit"] == 1 and page["num_items"] == 1 and page["total_items"] >= 1
    assert page["items"][0]["archiveresults"] is None
    capped = admin_client.get("/api/v1/core/snapshots", params={"limit": 5000}).json()
    assert capped["limit"] == 500
    second = admin_client.get("/api/v1/core/snapshots", params={"limit": 1, "page": 1}).json()
    assert second["offset"] == 1
    filters = {
        "url": captured["url"],
        "tag": "news",
        "title": "rich PAGE",
        "status": "succeeded",
        "timestamp": captured["timestamp"][:6],
        "id": captured["id"][:8],
        "search": "amber rich",
        "created_at__gte": captured["created_at"],
        "created_by_username": "admin",
    }
    for name, value in filters.items():
        found = admin_client.get("/api/v1/core/snapshots", params={name: value}).json()
        assert captured["id"] in [s["id"] for s in found["items"]], name
    none = admin_client.get("/api/v1/core/snapshots", params={"tag": "no-such-tag"}).json()
    assert none["total_items"] == 0 and none["items"] == []
    future = admin_client.get(
        "/api/v1/core/snapshots", params={"created_at__gte": "2999-01-01T00:00:00Z"}
    ).json()
    assert future["total_items"] == 0
    bad = admin_client.get("/api/v1/core/snapshots", params={"created_at__gte": "yesterday"})
    assert bad.status_code == 422
    assert admin_client.get("/api/v1/core/snapshots", params={"status": "nope"}).status_code == 422
    assert admin_client.get("/api/v1/core/snapshots", params={"limit": 0}).status_code == 422


def test_get_by_id_prefix_timestamp_and_404(
    admin_client: httpx.Client, captured: dict[str, Any]
) -> None:
    for ref in (captured["id"], captured["id"][:12], captured["timestamp"]):
        assert admin_client.get(f"/api/v1/core/snapshot/{ref}").json()["id"] == captured["id"]
    brief = admin_client.get(
        f"/api/v1/core/snapshot/{captured['id']}", params={"with_archiveresults": False}
    ).json()
    assert brief["archiveresults"] is None
    missing = admin_client.get("/api/v1/core/snapshot/00000000-0000-7000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json() == {
        "succeeded": False,
        "message": "Snapshot '00000000-0000-7000-8000-000000000000' not found",
        "errors": [],
    }


def test_archiveresults_and_tags(admin_client: httpx.Client, captured: dict[str, Any]) -> None:
    results = admin_client.get(
        "/api/v1/core/archiveresults", params={"snapshot_id": captured["id"], "plugin": "pdf"}
    ).json()
    assert results["total_items"] == 1
    result = results["items"][0]
    assert result["TYPE"] == "core.models.ArchiveResult" and result["status"] == "succeeded"
    assert result["snapshot_timestamp"] == captured["timestamp"]
    one = admin_client.get(f"/api/v1/core/archiveresult/{result['id']}").json()
    assert one["output_files"] == ["output.pdf"]
    assert admin_client.get("/api/v1/core/archiveresult/nope-nope").status_code == 404
    tags = admin_client.get("/api/v1/core/tags").json()
    news = next(t for t in tags["items"] if t["name"] == "news")
    assert news["num_snapshots"] >= 1 and news["TYPE"] == "core.models.Tag"
    assert admin_client.get(f"/api/v1/core/tag/{news['id']}").json()["name"] == "news"
    assert admin_client.get("/api/v1/core/tag/unknown-tag").status_code == 404


def test_archived_files_are_served_with_types_and_no_traversal(
    api_server: AmberServer, admin_client: httpx.Client, captured: dict[str, Any]
) -> None:
    ts = captured["timestamp"]
    shot = admin_client.get(f"/archive/{ts}/screenshot.png")
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/png"
    import io

    assert Image.open(io.BytesIO(shot.content)).width == 1280
    warc = admin_client.get(f"/archive/{ts}/warc/capture.warc.gz")
    assert warc.headers["content-type"] == "application/warc" and warc.content[:2] == b"\x1f\x8b"
    assert "text/html" in admin_client.get(f"/archive/{ts}/dom.html").headers["content-type"]
    for hostile in (
        "../../../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e/%2e%2e/etc/passwd",
        "/etc/passwd",
        "warc/../../amber.sqlite3",
    ):
        answer = httpx.get(
            f"{api_server.url}/archive/{ts}/{hostile}",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            follow_redirects=True,
        )
        assert answer.status_code == 404, hostile
        assert b"root:" not in answer.content and b"SQLite" not in answer.content
    assert httpx.get(f"{api_server.url}/archive/{ts}/screenshot.png").status_code == 401
    assert admin_client.get("/archive/123.456/screenshot.png").status_code == 404


def test_tenants_are_isolated(
    api_server: AmberServer, make_token: TokenFactory, site: TestSite
) -> None:
    alice = {"Authorization": f"Bearer {make_token('alice')}"}
    bob = {"Authorization": f"Bearer {make_token('bob')}"}
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        mine = client.post(
            "/api/v1/cli/add",
            headers=alice,
            json={"urls": [site.url("/final.html?alice=1")], "index_only": True},
        ).json()["snapshot_ids"][0]
        # Bob cannot read, list, change or delete Alice's snapshot: 404, like an unknown id
        assert client.get(f"/api/v1/core/snapshot/{mine}", headers=bob).status_code == 404
        listed = client.get("/api/v1/core/snapshots", headers=bob).json()
        assert mine not in [s["id"] for s in listed["items"]]
        patch = client.patch(
            f"/api/v1/core/snapshot/{mine}", headers=bob, json={"status": "sealed"}
        )
        assert patch.status_code == 404
        assert client.delete(f"/api/v1/core/snapshot/{mine}", headers=bob).status_code == 404
        assert client.get(f"/api/v1/core/snapshot/{mine}", headers=alice).status_code == 200


def test_patch_seal_requeue_and_delete(admin_client: httpx.Client, site: TestSite) -> None:
    sid = admin_client.post(
        "/api/v1/cli/add", json={"urls": [site.url("/final.html?patch=1")], "index_only": True}
    ).json()["snapshot_ids"][0]
    # Sealing clears retry_at; a sealed snapshot is never captured
    sealed = admin_client.patch(f"/api/v1/core/snapshot/{sid}", json={"status": "sealed"}).json()
    assert sealed["status"] == "sealed" and sealed["retry_at"] is None
    # Queued re-archives it
    queued = admin_client.patch(
        f"/api/v1/core/snapshot/{sid}", json={"status": "queued", "tags": ["again"]}
    )
    assert queued.status_code == 200 and queued.json()["tags"] == ["again"]
    done = wait_done(admin_client, sid)
    assert done["status"] == "succeeded" and done["title"] == "Final Destination"
    bad = admin_client.patch(f"/api/v1/core/snapshot/{sid}", json={"status": "succeeded"})
    assert bad.status_code == 422
    assert admin_client.patch(f"/api/v1/core/snapshot/{sid}", json={"status": 7}).status_code == 422
    gone = admin_client.delete(f"/api/v1/core/snapshot/{sid}").json()
    assert gone == {"success": True, "snapshot_id": sid, "crawl_id": None, "deleted_count": 1}
    assert admin_client.get(f"/api/v1/core/snapshot/{sid}").status_code == 404
    results = admin_client.get("/api/v1/core/archiveresults", params={"snapshot_id": sid}).json()
    assert results["total_items"] == 0


def test_create_snapshot_endpoint(admin_client: httpx.Client, site: TestSite) -> None:
    created = admin_client.post(
        "/api/v1/core/snapshots",
        json={
            "url": site.url("/final.html?create=1"),
            "title": "Given",
            "tags": ["x"],
            "status": "sealed",
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "sealed" and body["tags"] == ["x"] and body["title"] == "Given"
    assert admin_client.post("/api/v1/core/snapshots", json={"url": "nope"}).status_code == 422


def test_failed_capture_has_reason(admin_client: httpx.Client, site: TestSite) -> None:
    sid = admin_client.post("/api/v1/cli/add", json={"urls": [site.url("/loop?start=1")]}).json()[
        "snapshot_ids"
    ][0]
    done = wait_done(admin_client, sid)
    assert done["status"] == "failed"
    assert "redirect" in done["last_error"]
    assert all(r["status"] == "failed" for r in done["archiveresults"])


def test_refused_address_fails_with_reason(admin_client: httpx.Client, site: TestSite) -> None:
    url = f"http://127.0.0.2:{site.port}/page.html"
    sid = admin_client.post("/api/v1/cli/add", json={"urls": [url]}).json()["snapshot_ids"][0]
    done = wait_done(admin_client, sid)
    assert done["status"] == "failed" and "AMBER_ALLOWED_NETWORKS" in done["last_error"]
    assert site.hits.get("/page.html?") is None


def test_openapi_describes_the_archive_api(admin_client: httpx.Client) -> None:
    spec = admin_client.get("/openapi.json").json()
    for path in (
        "/api/v1/cli/add",
        "/api/v1/core/snapshots",
        "/api/v1/core/snapshot/{snapshot_id}",
        "/api/v1/core/archiveresults",
        "/api/v1/core/archiveresult/{result_id}",
        "/api/v1/core/tags",
        "/api/v1/core/tag/{tag_id}",
        "/archive/{timestamp}/{path}",
    ):
        assert path in spec["paths"], path
    assert set(spec["paths"]["/api/v1/core/snapshot/{snapshot_id}"]) >= {"get", "patch", "delete"}
