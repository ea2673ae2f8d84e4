"""Contentful CMA dialect over real HTTP: the official `contentful_management` client,
raw CMA JSON, snapshots only in master, select, paging, tenancy and every error shape.

The key flow runs on SQLite and again on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from contentful_management import Client
from contentful_management.errors import (
    NotFoundError,
    UnprocessableEntityError,
    VersionMismatchError,
)

from tests.conftest import amber_env, run_amber
from tests.services import AmberServer, PostgresServer

MAX_BODY = 64 * 1024
BLOG_POST = {
    "name": "Blog Post",
    "displayField": "title",
    "fields": [
        {"id": "title", "name": "Title", "type": "Symbol", "required": True},
        {"id": "body", "name": "Body", "type": "Text"},
        {"id": "views", "name": "Views", "type": "Integer"},
    ],
}


class Tenant:
    """One user with a token, an HTTP client, the official client and their space id."""

    def __init__(self, server: AmberServer, user: str) -> None:
        done = run_amber(server.env, "token", "create", "--user", user)
        assert done.returncode == 0, done.stderr
        self.token = done.stdout.strip().splitlines()[-1]
        self.http = httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {self.token}"}
        )
        self.cma = Client(self.token, api_url=f"127.0.0.1:{server.port}", https=False)
        spaces = self.http.get("/spaces").json()
        self.space = spaces["items"][0]["sys"]["id"]

    def env(self, environment: str = "master") -> str:
        return f"/spaces/{self.space}/environments/{environment}"


def _start(tmp: Path, **extra: str) -> AmberServer:
    env = amber_env(tmp, AMBER_MAX_BODY_BYTES=str(MAX_BODY), **extra)
    return AmberServer(env=env, args=("--no-workers",)).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AmberServer]:
    amber = _start(tmp_path_factory.mktemp("cma-sqlite"))
    yield amber
    amber.stop()


@pytest.fixture(scope="module")
def alice(server: AmberServer) -> Tenant:
    return Tenant(server, "alice-cma")


@pytest.fixture(scope="module")
def bob(server: AmberServer) -> Tenant:
    return Tenant(server, "bob-cma")


@pytest.fixture(scope="module")
def pg_alice(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tenant]:
    url = postgres_server.create_database("content_dialect")
    amber = _start(tmp_path_factory.mktemp("cma-pg"), AMBER_DATABASE_URL=url)
    yield Tenant(amber, "alice-cma-pg")
    amber.stop()


def _publish_history(tenant: Tenant, type_id: str) -> tuple[Any, list[Any]]:
    """Create a content type and an entry through the official client, publish twice."""
    content_types = tenant.cma.content_types(tenant.space, "master")
    content_type = content_types.create(type_id, dict(BLOG_POST))
    content_type.publish()
    entries = tenant.cma.entries(tenant.space, "master")
    entry = entries.create(
        None, {"content_type_id": type_id, "fields": {"title": {"en-US": "First draft"}}}
    )
    entry.publish()
    entry.title = "Second draft"
    entry.save()
    entry.publish()
    return entry, list(entry.snapshots().all())


def _check_client_flow(tenant: Tenant, type_id: str) -> None:
    # Given a content type and an entry published twice through the official client
    entry, snapshots = _publish_history(tenant, type_id)

    # When the client lists the entry's snapshots and finds the newest by id
    newest = tenant.cma.snapshots(tenant.space, "master", entry.id).find(snapshots[0].id)

    # Then there is one snapshot per publish, newest first, each an Entry snapshot
    assert [s.snapshot.title for s in snapshots] == ["Second draft", "First draft"]
    assert all(s.sys["snapshot_entity_type"] == "Entry" for s in snapshots)
    assert all(s.sys["snapshot_type"] == "publish" for s in snapshots)
    assert newest.snapshot.fields() == {"title": "Second draft"}
    assert newest.sys["space"].id == tenant.space
    # and the snapshot's entry sys is the entry as published: version 4 published at 3
    assert newest.snapshot.sys["published_version"] == 3
    assert newest.snapshot.sys["version"] == 4
    assert newest.snapshot.sys["content_type"].id == type_id
    assert entry.sys["published_counter"] == 2
    # and the content type's one publish left one ContentType snapshot
    type_snapshots = tenant.cma.content_type_snapshots(tenant.space, "master", type_id).all()
    assert len(type_snapshots) == 1
    assert type_snapshots[0].snapshot.name == "Blog Post"
    assert [f.id for f in type_snapshots[0].snapshot.fields] == ["title", "body", "views"]


def test_official_client_publishes_and_reads_snapshots(alice: Tenant) -> None:
    _check_client_flow(alice, "blogPost")


def test_official_client_on_postgres(pg_alice: Tenant) -> None:
    _check_client_flow(pg_alice, "blogPost")


def test_snapshot_json_matches_the_cma(alice: Tenant) -> None:
    # Given an entry published twice
    entry, snapshots = _publish_history(alice, "shapePost")
    base = f"{alice.env()}/entries/{entry.id}/snapshots"

    # When the raw snapshot collection and one snapshot are fetched
    listing = alice.http.get(base).json()
    one = alice.http.get(f"{base}/{snapshots[1].id}").json()

    # Then the envelope and each snapshot have exactly the CMA's keys
    assert listing["sys"] == {"type": "Array"}
    assert (listing["total"], listing["skip"], listing["limit"]) == (2, 0, 100)
    assert one["sys"]["type"] == "Snapshot"
    assert one["sys"]["snapshotType"] == "publish"
    assert one["sys"]["snapshotEntityType"] == "Entry"
    assert one["sys"]["createdBy"]["sys"]["linkType"] == "User"
    assert one["sys"]["space"] == {"sys": {"type": "Link", "linkType": "Space", "id": alice.space}}
    assert set(one["snapshot"]) == {"fields", "sys"}
    assert one["snapshot"]["fields"] == {"title": {"en-US": "First draft"}}
    assert one["snapshot"]["sys"]["publishedVersion"] == 1
    # and a content type snapshot carries the schema, not entry fields
    type_list = alice.http.get(f"{alice.env()}/content_types/shapePost/snapshots").json()
    assert set(type_list["items"][0]["snapshot"]) == {"name", "displayField", "fields", "sys"}
    assert type_list["items"][0]["sys"]["snapshotEntityType"] == "ContentType"


def test_select_paging_and_query_errors(alice: Tenant) -> None:
    # Given an entry with two publish snapshots
    entry, snapshots = _publish_history(alice, "selectPost")
    base = f"{alice.env()}/entries/{entry.id}/snapshots"

    # When only the id and one locale of one field are selected
    picked = alice.http.get(base, params={"select": "sys.id,snapshot.fields.title.en-US"}).json()

    # Then each item has those paths plus sys.type and sys.snapshotEntityType, nothing else
    assert picked["items"][0] == {
        "sys": {"id": snapshots[0].id, "type": "Snapshot", "snapshotEntityType": "Entry"},
        "snapshot": {"fields": {"title": {"en-US": "Second draft"}}},
    }
    # and select also applies to one snapshot, to any depth
    deep = alice.http.get(
        f"{base}/{snapshots[0].id}", params={"select": "snapshot.sys.contentType.sys.id"}
    ).json()
    assert deep["snapshot"] == {"sys": {"contentType": {"sys": {"id": "selectPost"}}}}
    # and skip/limit page through newest first
    page = alice.http.get(base, params={"skip": 1, "limit": 1}).json()
    assert [i["sys"]["id"] for i in page["items"]] == [snapshots[1].id]
    assert (page["total"], page["skip"], page["limit"]) == (2, 1, 1)
    # and bad queries are InvalidQuery in the CMA's error shape
    for params in ({"limit": 1001}, {"limit": "ten"}, {"skip": -1}, {"select": "foo.bar"}):
        bad = alice.http.get(base, params=params)
        assert bad.status_code == 400, params
        assert bad.json()["sys"] == {"type": "Error", "id": "InvalidQuery"}


def test_snapshots_only_in_master(alice: Tenant) -> None:
    # Given the same content published in the "staging" environment
    staging = alice.cma.content_types(alice.space, "staging").create("stagedPost", BLOG_POST)
    staging.publish()
    entry = alice.cma.entries(alice.space, "staging").create(
        None, {"content_type_id": "stagedPost", "fields": {"title": {"en-US": "Hi"}}}
    )

    # When it is published twice
    entry.publish()
    entry.publish()

    # Then it is published, but neither the entry nor its type has any snapshot
    assert entry.sys["published_counter"] == 2
    listing = alice.http.get(f"{alice.env('staging')}/entries/{entry.id}/snapshots").json()
    assert listing["total"] == 0 and listing["items"] == []
    types = alice.http.get(f"{alice.env('staging')}/content_types/stagedPost/snapshots").json()
    assert types["total"] == 0


def test_versions_are_checked(alice: Tenant) -> None:
    # Given an entry at version 1, updated once by someone else (now version 2)
    alice.cma.content_types(alice.space, "master").create("versioned", BLOG_POST).publish()
    stale = alice.cma.entries(alice.space, "master").create(
        "versioned-1", {"content_type_id": "versioned", "fields": {"title": {"en-US": "A"}}}
    )
    fresh = alice.cma.entries(alice.space, "master").find("versioned-1")
    fresh.title = "B"
    fresh.save()

    # When the stale copy is saved or published with version 1
    # Then both are 409 VersionMismatch, and nothing changed
    with pytest.raises(VersionMismatchError):
        stale.title = "C"
        stale.save()
    with pytest.raises(VersionMismatchError):
        stale.publish()
    url = f"{alice.env()}/entries/versioned-1"
    raw = alice.http.put(
        url, json={"fields": {"title": {"en-US": "D"}}}, headers={"X-Contentful-Version": "1"}
    )
    assert raw.status_code == 409
    assert raw.json()["sys"] == {"type": "Error", "id": "VersionMismatch"}
    assert set(raw.json()) == {"sys", "message", "details", "requestId"}
    missing = alice.http.put(url, json={"fields": {"title": {"en-US": "D"}}})
    assert missing.status_code == 409
    current = alice.http.get(url).json()
    assert current["fields"] == {"title": {"en-US": "B"}}
    assert current["sys"]["version"] == 2


def test_put_to_new_id_creates_and_delete_needs_unpublish(alice: Tenant) -> None:
    # Given a published content type
    alice.cma.content_types(alice.space, "master").create("lifecycle", BLOG_POST).publish()
    url = f"{alice.env()}/entries/my-entry.1"

    # When an entry is PUT to a new id with the content type header
    created = alice.http.put(
        url,
        json={"fields": {"title": {"en-US": "New"}, "views": {"en-US": 3}}},
        headers={"X-Contentful-Content-Type": "lifecycle"},
    )

    # Then it is created at version 1 with the CMA's entry shape
    assert created.status_code == 201
    body = created.json()
    assert body["sys"]["id"] == "my-entry.1" and body["sys"]["version"] == 1
    assert body["sys"]["contentType"]["sys"]["id"] == "lifecycle"
    assert body["metadata"] == {"tags": []}
    # and once published it cannot be deleted until unpublished
    alice.http.put(url + "/published", headers={"X-Contentful-Version": "1"})
    refused = alice.http.delete(url)
    assert refused.status_code == 400
    assert refused.json()["sys"]["id"] == "BadRequest"
    unpublished = alice.http.delete(url + "/published", headers={"X-Contentful-Version": "2"})
    assert unpublished.status_code == 200
    assert "publishedVersion" not in unpublished.json()["sys"]
    assert alice.http.delete(url).status_code == 204
    gone = alice.http.get(url)
    assert gone.status_code == 404
    assert gone.json()["details"] == {"type": "Entry", "id": "my-entry.1"}
    assert alice.http.get(url + "/snapshots").status_code == 404


def test_validation_errors(alice: Tenant) -> None:
    # Given a published content type with a required Symbol and an Integer field
    alice.cma.content_types(alice.space, "master").create("strict", BLOG_POST).publish()
    entries = f"{alice.env()}/entries"
    strict = {"X-Contentful-Content-Type": "strict"}

    # When entries break the schema in different ways
    unknown = alice.http.post(entries, json={"fields": {"nope": {"en-US": 1}}}, headers=strict)
    wrong_type = alice.http.post(
        entries, json={"fields": {"views": {"en-US": "many"}}}, headers=strict
    )
    not_object = alice.http.post(entries, json={"fields": {"title": "plain"}}, headers=strict)
    bad_fields = alice.http.post(entries, json={"fields": []}, headers=strict)
    no_type = alice.http.post(entries, json={"fields": {}})
    inactive = alice.http.post(
        entries, json={"fields": {}}, headers={"X-Contentful-Content-Type": "ghost"}
    )

    # Then each is a 4xx in the CMA's error shape naming the problem
    assert unknown.status_code == 422
    assert unknown.json()["sys"]["id"] == "ValidationFailed"
    assert unknown.json()["details"]["errors"][0]["name"] == "unknown"
    assert unknown.json()["details"]["errors"][0]["path"] == ["fields", "nope"]
    assert wrong_type.status_code == 422
    assert wrong_type.json()["details"]["errors"][0]["path"] == ["fields", "views", "en-US"]
    assert not_object.status_code == 422
    assert bad_fields.status_code == 422
    assert no_type.status_code == 400 and no_type.json()["sys"]["id"] == "BadRequest"
    assert inactive.status_code == 422
    # and publishing a draft without its required field fails through the client too
    draft = alice.cma.entries(alice.space, "master").create(
        None, {"content_type_id": "strict", "fields": {"body": {"en-US": "no title"}}}
    )
    with pytest.raises(UnprocessableEntityError):
        draft.publish()
    # and a content type with a bad field type is refused
    bad_type = alice.http.put(
        f"{alice.env()}/content_types/broken",
        json={"name": "Broken", "fields": [{"id": "x", "name": "X", "type": "Nope"}]},
    )
    assert bad_type.status_code == 422
    assert bad_type.json()["details"]["errors"][0]["path"] == ["fields", 0, "type"]


def test_bad_requests_never_500(alice: Tenant, server: AmberServer) -> None:
    url = f"{alice.env()}/content_types/anything"
    json_type = {"Content-Type": "application/vnd.contentful.management.v1+json"}

    # When requests are malformed, unauthenticated or too large
    malformed = alice.http.put(url, content=b'{"name": ', headers=json_type)
    wrong_shape = alice.http.put(url, content=b"[1, 2]", headers=json_type)
    bad_version = alice.http.put(url, json=BLOG_POST, headers={"X-Contentful-Version": "x"})
    anonymous = httpx.get(f"{server.url}{alice.env()}/entries")
    wrong_token = httpx.get(
        f"{server.url}{alice.env()}/entries", headers={"Authorization": "Bearer nope"}
    )
    huge = alice.http.put(
        url, json={**BLOG_POST, "description": "x" * (MAX_BODY + 1)}, headers=json_type
    )
    unknown_path = alice.http.get(f"{alice.env()}/nothing_here")

    # Then each is the CMA's error JSON with the right status and id
    expected = [
        (malformed, 400, "BadRequest"),
        (wrong_shape, 422, "ValidationFailed"),
        (bad_version, 400, "BadRequest"),
        (anonymous, 401, "AccessTokenInvalid"),
        (wrong_token, 401, "AccessTokenInvalid"),
        (huge, 413, "BadRequest"),
        (unknown_path, 404, "NotFound"),
    ]
    for response, status, error_id in expected:
        assert response.status_code == status, response.text
        body = response.json()
        assert body["sys"] == {"type": "Error", "id": error_id}
        assert isinstance(body["message"], str) and body["requestId"]


def test_another_tenants_space_and_entries_are_not_found(alice: Tenant, bob: Tenant) -> None:
    # Given alice's published entry with snapshots
    entry, snapshots = _publish_history(alice, "privatePost")
    alice_entry = f"{alice.env()}/entries/{entry.id}"

    # When bob reads alice's space, entry, snapshots, or her entry id inside his own space
    attempts = [
        bob.http.get(f"/spaces/{alice.space}"),
        bob.http.get(alice_entry),
        bob.http.get(f"{alice_entry}/snapshots"),
        bob.http.get(f"{alice_entry}/snapshots/{snapshots[0].id}"),
        bob.http.put(alice_entry + "/published", headers={"X-Contentful-Version": "4"}),
        bob.http.delete(alice_entry),
        bob.http.get(f"{bob.env()}/entries/{entry.id}"),
    ]
    unknown = bob.http.get(f"{bob.env()}/entries/no-such-entry")

    # Then every answer is a 404 NotFound, just like an id that does not exist
    for response in [*attempts, unknown]:
        assert response.status_code == 404, response.text
        assert response.json()["sys"] == {"type": "Error", "id": "NotFound"}
    # and the official client sees a NotFoundError, while alice still sees her entry
    with pytest.raises(NotFoundError):
        bob.cma.entries(alice.space, "master").find(entry.id)
    assert alice.http.get(alice_entry).json()["fields"]["title"] == {"en-US": "Second draft"}
    assert alice.space not in [s["sys"]["id"] for s in bob.http.get("/spaces").json()["items"]]


def test_bodies_are_shared_blobs(alice: Tenant, server: AmberServer) -> None:
    # Given an entry whose published fields did not change between two publishes
    alice.cma.content_types(alice.space, "master").create("dedupe", BLOG_POST).publish()
    entry = alice.cma.entries(alice.space, "master").create(
        None, {"content_type_id": "dedupe", "fields": {"title": {"en-US": "Same"}}}
    )
    blobs = Path(server.env["AMBER_DATA_DIR"]) / "blobs"
    before = sum(1 for _ in blobs.glob("??/??/*"))

    # When it is published twice with the same fields
    entry.publish()
    entry.publish()

    # Then both snapshots show the same fields and no new body blob was written
    snapshots = alice.http.get(f"{alice.env()}/entries/{entry.id}/snapshots").json()["items"]
    assert [s["snapshot"]["fields"] for s in snapshots] == [{"title": {"en-US": "Same"}}] * 2
    assert sum(1 for _ in blobs.glob("??/??/*")) == before


def test_openapi_lists_the_cma_routes(server: AmberServer) -> None:
    # When the OpenAPI document is fetched
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]

    # Then the entry, content type and snapshot routes are in it
    env = "/spaces/{space_id}/environments/{environment_id}"
    for path in (
        f"{env}/entries",
        f"{env}/entries/{{entry_id}}",
        f"{env}/entries/{{entity_id}}/published",
        f"{env}/entries/{{entity_id}}/snapshots",
        f"{env}/entries/{{entity_id}}/snapshots/{{snapshot_id}}",
        f"{env}/content_types/{{type_id}}",
        f"{env}/content_types/{{entity_id}}/snapshots",
    ):
        assert path in paths, path


def test_unstorable_text_is_refused_on_postgres(pg_alice: Tenant) -> None:
    # Given a published content type on PostgreSQL, which refuses NUL bytes in text
    pg_alice.cma.content_types(pg_alice.space, "master").create("pgText", BLOG_POST).publish()
    entries = f"{pg_alice.env()}/entries"
    json_type = {"Content-Type": "application/json", "X-Contentful-Content-Type": "pgText"}

    # When ids, queries and bodies carry NUL bytes or lone surrogates
    cases = [
        (pg_alice.http.get(f"{entries}/a%00b"), 404, "NotFound"),
        (pg_alice.http.get(f"{entries}/a%00b/snapshots/x%00y"), 404, "NotFound"),
        (pg_alice.http.get(entries, params={"content_type": "a\x00b"}), 400, "InvalidQuery"),
        (pg_alice.http.get("/spaces/a%00b/environments/master/entries"), 404, "NotFound"),
        (
            pg_alice.http.post(
                entries, content=b'{"fields": {"title": {"en-US": "\\ud800"}}}', headers=json_type
            ),
            400,
            "BadRequest",
        ),
        (
            pg_alice.http.post(
                entries, json={"fields": {}, "metadata": {"tags": ["a\x00"]}}, headers=json_type
            ),
            400,
            "BadRequest",
        ),
    ]

    # Then each is a 4xx in the CMA's shape, never a 500
    for response, status, error_id in cases:
        assert response.status_code == status, response.text
        assert response.json()["sys"]["id"] == error_id
    # and a NUL inside a field value is kept, since bodies are escaped JSON blobs
    kept = pg_alice.http.post(
        entries, json={"fields": {"title": {"en-US": "a\x00b"}}}, headers=json_type
    )
    assert kept.status_code == 201
    assert kept.json()["fields"]["title"]["en-US"] == "a\x00b"
