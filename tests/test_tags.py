"""Tags over real HTTP on SQLite and PostgreSQL: create, rename, delete, tag and untag
snapshots, tenancy between workspaces, and bad input answered in the ArchiveBox shape."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import TokenFactory


@pytest.fixture
def alice(api_server: object, make_token: TokenFactory) -> Iterator[httpx.Client]:
    token = make_token(f"alice-{time.time_ns()}")
    with httpx.Client(
        base_url=api_server.url,  # type: ignore[attr-defined]
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture
def mallory(api_server: object, make_token: TokenFactory) -> Iterator[httpx.Client]:
    token = make_token(f"mallory-{time.time_ns()}")
    with httpx.Client(
        base_url=api_server.url,  # type: ignore[attr-defined]
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        yield client


def add_snapshot(client: httpx.Client, url: str, tag: str = "") -> str:
    response = client.post("/api/v1/cli/add", json={"urls": [url], "tag": tag, "index_only": True})
    assert response.status_code == 200, response.text
    return str(response.json()["snapshot_ids"][0])


def test_create_rename_delete_tag(alice: httpx.Client) -> None:
    # Given a new tag
    created = alice.post("/api/v1/core/tags", json={"name": "  reading   list "})
    assert created.status_code == 201, created.text
    tag = created.json()
    assert tag["TYPE"] == "core.models.Tag" and tag["name"] == "reading list"
    assert tag["num_snapshots"] == 0
    # When it is renamed
    renamed = alice.patch(f"/api/v1/core/tag/{tag['id']}", json={"name": "to read"})
    # Then the new name is served by id and by name
    assert renamed.status_code == 200 and renamed.json()["name"] == "to read"
    assert alice.get("/api/v1/core/tag/to read").json()["id"] == tag["id"]
    # When it is deleted
    deleted = alice.delete(f"/api/v1/core/tag/{tag['id']}")
    # Then it is gone
    assert deleted.status_code == 200
    assert deleted.json() == {
        "success": True,
        "tag_id": tag["id"],
        "name": "to read",
        "num_snapshots": 0,
    }
    gone = alice.get(f"/api/v1/core/tag/{tag['id']}")
    assert gone.status_code == 404 and gone.json()["succeeded"] is False


def test_duplicate_names_conflict(alice: httpx.Client) -> None:
    # Given two tags
    first = alice.post("/api/v1/core/tags", json={"name": "alpha"}).json()
    alice.post("/api/v1/core/tags", json={"name": "beta"})
    # When a third takes an existing name, or one is renamed onto another
    again = alice.post("/api/v1/core/tags", json={"name": "alpha"})
    clash = alice.patch(f"/api/v1/core/tag/{first['id']}", json={"name": "beta"})
    # Then both are 409 with a reason
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    assert clash.status_code == 409


def test_tag_and_untag_snapshot(alice: httpx.Client) -> None:
    # Given a snapshot with one tag
    snapshot_id = add_snapshot(alice, f"https://tags.example.com/{time.time_ns()}", tag="one")
    # When two more are added (one repeated) and then one removed
    added = alice.post(f"/api/v1/core/snapshot/{snapshot_id}/tags", json={"tags": ["two", "one"]})
    assert added.status_code == 200, added.text
    assert added.json()["tags"] == ["one", "two"]
    removed = alice.delete(f"/api/v1/core/snapshot/{snapshot_id}/tags/one")
    # Then the snapshot carries exactly the remaining tag, and the tag counts agree
    assert removed.status_code == 200 and removed.json()["tags"] == ["two"]
    assert alice.get("/api/v1/core/tag/two").json()["num_snapshots"] == 1
    assert alice.get("/api/v1/core/tag/one").json()["num_snapshots"] == 0
    # And removing a tag it does not have is a 404
    missing = alice.delete(f"/api/v1/core/snapshot/{snapshot_id}/tags/one")
    assert missing.status_code == 404
    # And deleting a tag detaches it from its snapshots
    tag_two = alice.get("/api/v1/core/tag/two").json()
    assert alice.delete(f"/api/v1/core/tag/{tag_two['id']}").json()["num_snapshots"] == 1
    assert alice.get(f"/api/v1/core/snapshot/{snapshot_id}").json()["tags"] == []


def test_rename_and_tagging_follow_into_search(alice: httpx.Client) -> None:
    # Given a snapshot tagged "zebrafish"
    snapshot_id = add_snapshot(alice, f"https://fish.example.com/{time.time_ns()}", "zebrafish")
    tag = alice.get("/api/v1/core/tag/zebrafish").json()
    # When the tag is renamed
    alice.patch(f"/api/v1/core/tag/{tag['id']}", json={"name": "medaka"})
    # Then search finds the snapshot by the new name only
    new = alice.get("/api/v1/core/snapshots", params={"search": "medaka"}).json()
    old = alice.get("/api/v1/core/snapshots", params={"search": "zebrafish"}).json()
    assert [s["id"] for s in new["items"]] == [snapshot_id]
    assert old["count"] == 0
    # And a tag added through the API is searchable at once
    alice.post(f"/api/v1/core/snapshot/{snapshot_id}/tags", json={"tags": ["axolotl"]})
    found = alice.get("/api/v1/core/snapshots", params={"search": "axolotl"}).json()
    assert [s["id"] for s in found["items"]] == [snapshot_id]


def test_tags_are_per_workspace(alice: httpx.Client, mallory: httpx.Client) -> None:
    # Given alice's tag and snapshot
    tag = alice.post("/api/v1/core/tags", json={"name": "private"}).json()
    snapshot_id = add_snapshot(alice, f"https://alice.example.com/{time.time_ns()}")
    # When mallory tries to read, rename, delete or use them
    attempts = [
        mallory.get(f"/api/v1/core/tag/{tag['id']}"),
        mallory.patch(f"/api/v1/core/tag/{tag['id']}", json={"name": "mine"}),
        mallory.delete(f"/api/v1/core/tag/{tag['id']}"),
        mallory.post(f"/api/v1/core/snapshot/{snapshot_id}/tags", json={"tags": ["x"]}),
        mallory.delete(f"/api/v1/core/snapshot/{snapshot_id}/tags/private"),
    ]
    # Then every attempt is a 404 and alice's tag is untouched
    assert [r.status_code for r in attempts] == [404] * 5
    assert alice.get(f"/api/v1/core/tag/{tag['id']}").json()["name"] == "private"
    # And mallory can have a tag with the same name in her own workspace
    assert mallory.post("/api/v1/core/tags", json={"name": "private"}).status_code == 201
    names = [t["name"] for t in mallory.get("/api/v1/core/tags").json()["items"]]
    assert names == ["private"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/core/tags", {"name": ""}),
        ("post", "/api/v1/core/tags", {"name": "   "}),
        ("post", "/api/v1/core/tags", {"name": "a,b"}),
        ("post", "/api/v1/core/tags", {"name": "x" * 201}),
        ("post", "/api/v1/core/tags", {"name": 5}),
        ("post", "/api/v1/core/tags", {}),
        ("post", "/api/v1/core/tags", "not json"),
        ("post", "/api/v1/core/tags", {"name": "w", "workspace_id": "someone-elses"}),
    ],
)
def test_bad_tag_input_is_a_clear_4xx(
    alice: httpx.Client, method: str, path: str, body: object
) -> None:
    # Given malformed or invalid bodies / When sent / Then 422 or 404 with a reason, never 500
    if isinstance(body, str):
        response = alice.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = alice.request(method, path, json=body)
    assert response.status_code in (404, 422), response.text
    assert response.json().get("detail") or response.json().get("message")


def test_bad_snapshot_tag_input(alice: httpx.Client) -> None:
    snapshot_id = add_snapshot(alice, f"https://bad.example.com/{time.time_ns()}")
    empty = alice.post(f"/api/v1/core/snapshot/{snapshot_id}/tags", json={"tags": []})
    comma = alice.post(f"/api/v1/core/snapshot/{snapshot_id}/tags", json={"tags": ["a,b"]})
    unknown = alice.post("/api/v1/core/snapshot/nope-nope/tags", json={"tags": ["a"]})
    no_auth = httpx.post(f"{alice.base_url}/api/v1/core/tags", json={"name": "x"}, timeout=30)
    assert (empty.status_code, comma.status_code, unknown.status_code) == (422, 422, 404)
    assert no_auth.status_code == 401 and "detail" in no_auth.json()
