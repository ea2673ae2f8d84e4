"""The Grafana snapshot dialect, driven by the official grafana-client against `amber serve`.

Runs on SQLite and on PostgreSQL. Raw HTTP is used only where grafana-client has
no method or hides what we assert on (headers, status codes, error bodies).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaUnauthorizedError

from crawler.auth import issue_token
from crawler.blobs import LocalBlobStore
from crawler.db import make_engine, session_scope
from tests.conftest import amber_env, run_amber
from tests.services import AmberServer

MAX_BODY = 64 * 1024
DELETED = "Snapshot deleted. It might take an hour before it's cleared from any CDN caches."
USERS = {"alice": "", "mallory": "", "carol": "team", "dave": "team"}


@dataclass
class Stack:
    server: AmberServer
    data_dir: Path
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, user: str | None = None, org_id: int | None = None) -> GrafanaApi:
        port = self.server.port
        token = self.tokens[user] if user else None
        return GrafanaApi(auth=token, host="127.0.0.1", port=port, organization_id=org_id)

    def http(self, user: str | None = None, **headers: str) -> httpx.Client:
        if user:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(sql), params))
        finally:
            engine.dispose()

    def blob_count(self) -> int:
        return sum(1 for _ in LocalBlobStore(self.data_dir / "blobs").iter_hashes())


def _tokens(env: dict[str, str], database_url: str) -> dict[str, str]:
    """Alice's token through the real CLI; the others straight through `issue_token` on the
    server's database, which is the same code without a subprocess per user."""
    done = run_amber(env, "token", "create", "--user", "alice")
    assert done.returncode == 0, done.stderr
    tokens = {"alice": done.stdout.strip().splitlines()[-1]}
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            for user, workspace in USERS.items():
                if user != "alice":
                    tokens[user], _ = issue_token(session, user, workspace_name=workspace or None)
    finally:
        engine.dispose()
    return tokens


def _start(data_dir: Path, database_url: str, **extra: str) -> Stack:
    env = amber_env(data_dir, AMBER_MAX_BODY_BYTES=str(MAX_BODY), **extra)
    if database_url.startswith("postgresql"):
        env["AMBER_DATABASE_URL"] = database_url
    server = AmberServer(env=env, args=("--no-workers",)).start()
    stack = Stack(server=server, data_dir=data_dir, database_url=database_url)
    stack.tokens = _tokens(env, database_url)
    return stack


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def grafana(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp(f"grafana-{request.param}")
    url = f"sqlite:///{data_dir / 'amber.sqlite3'}"
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_server").create_database("grafana_dialect")
    # An empty AMBER_BASE_URL makes Amber build URLs from the request's own base URL.
    stack = _start(data_dir, url, AMBER_BASE_URL="")
    yield stack
    stack.server.stop()


@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("grafana-external")
    stack = _start(
        data_dir,
        f"sqlite:///{data_dir / 'amber.sqlite3'}",
        AMBER_EXTERNAL_SNAPSHOTS="true",
        AMBER_BASE_URL="https://dash.example.org/amber",
    )
    yield stack
    stack.server.stop()


def _dashboard(title: str = "Home") -> dict[str, Any]:
    return {"title": title, "panels": [{"id": 1, "type": "graph"}], "uid": uuid.uuid4().hex}


def _org_id(stack: Stack, user: str, name: str) -> int:
    orgs = stack.api(user).user.get_actual_user_organisations()
    return next(org["orgId"] for org in orgs if org["name"] == name)


def test_create_read_and_delete_with_grafana_client(grafana: Stack) -> None:
    # Given alice's grafana-client and a dashboard model
    api = grafana.api("alice")
    dashboard = _dashboard("Create me")

    # When she snapshots it without keys
    created = api.snapshots.create_new_snapshot(dashboard=dashboard, name="First <one>")

    # Then Grafana's answer comes back with generated 32-character keys and absolute URLs
    assert set(created) == {"key", "deleteKey", "url", "deleteUrl", "id"}
    assert len(created["key"]) == 32 and len(created["deleteKey"]) == 32
    assert created["key"] != created["deleteKey"]
    assert created["url"] == f"{grafana.server.url}/dashboard/snapshot/{created['key']}"
    assert (
        created["deleteUrl"] == f"{grafana.server.url}/api/snapshots-delete/{created['deleteKey']}"
    )
    assert isinstance(created["id"], int)

    # When anyone, without a token, reads it by key
    anonymous = grafana.api()
    fetched = anonymous.snapshots.get_snapshot_by_key(created["key"])

    # Then the dashboard comes back intact with snapshot meta
    assert fetched["dashboard"] == dashboard
    meta = fetched["meta"]
    assert meta["isSnapshot"] is True and meta["type"] == "snapshot"
    assert not any(meta[k] for k in ("canSave", "canEdit", "canAdmin", "canStar"))
    assert meta["slug"] == "" and meta["url"] == ""
    assert meta["created"].endswith("Z") and meta["expires"] > meta["created"]
    with grafana.http() as http:
        raw = http.get(f"/api/snapshots/{created['key']}/")
    assert raw.status_code == 200
    assert raw.headers["cache-control"] == "public, max-age=3600"
    # ...and the share URL itself opens a page showing the model
    page = httpx.get(created["url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>First &lt;one&gt;</h1>" in page.text and "Create me" in page.text

    # When alice deletes it by key
    deleted = api.snapshots.delete_snapshot_by_key(created["key"])

    # Then Grafana's message and the id come back, and the snapshot is gone
    assert deleted == {"message": DELETED, "id": created["id"]}
    with pytest.raises(GrafanaClientError) as gone:
        anonymous.snapshots.get_snapshot_by_key(created["key"])
    assert gone.value.status_code == 404
    assert grafana.rows("SELECT id FROM dashboards_snapshot WHERE id = :id", id=created["id"]) == []


def test_own_keys_and_anonymous_delete_key(grafana: Stack) -> None:
    # Given a snapshot created with caller-chosen keys
    api = grafana.api("alice")
    key, delete_key = f"k-{uuid.uuid4().hex}", f"d-{uuid.uuid4().hex}"
    created = api.snapshots.create_new_snapshot(
        dashboard=_dashboard(),
        name="Keys",
        expires=0,
        external=False,
        key=key,
        delete_key=delete_key,
    )
    assert (created["key"], created["deleteKey"]) == (key, delete_key)

    # When the same key is used again
    with grafana.http("alice") as http:
        clash = http.post("/api/snapshots", json={"dashboard": {}, "key": key})

    # Then it is a conflict in Grafana's error shape
    assert clash.status_code == 409
    assert list(clash.json()) == ["message"]

    # When someone without a token follows the delete link
    answer = grafana.api().snapshots.delete_snapshot_by_delete_key(delete_key)

    # Then the snapshot is deleted and both keys are dead
    assert answer["message"] == DELETED and answer["id"] == created["id"]
    with grafana.http() as http:
        assert http.get(f"/api/snapshots/{key}").status_code == 404
        assert http.get(f"/api/snapshots-delete/{delete_key}").status_code == 404


def test_listing_filters_by_name_and_limit(grafana: Stack) -> None:
    # Given three snapshots with distinct names
    api = grafana.api("alice")
    tag = uuid.uuid4().hex[:8]
    made = [
        api.snapshots.create_new_snapshot(dashboard=_dashboard(), name=f"{tag} {name}")
        for name in ("cpu", "memory", "CPU detail")
    ]

    # When alice lists all of hers, then filters and limits
    everything = api.snapshots.get_dashboard_snapshots()
    with grafana.http("alice") as http:
        cpu = http.get("/api/dashboard/snapshots/", params={"query": f"{tag} cpu"}).json()
        one = http.get("/api/dashboard/snapshots", params={"query": tag, "limit": 1}).json()

    # Then the listing is a bare array of Grafana DTOs with integer ids
    mine = [s for s in everything if s["name"].startswith(tag)]
    assert {s["key"] for s in mine} == {m["key"] for m in made}
    org_id = _org_id(grafana, "alice", "alice's workspace")
    for item in mine:
        assert set(item) == {
            "id", "name", "key", "orgId", "userId", "external", "externalUrl",
            "expires", "created", "updated",
        }  # fmt: skip
        assert item["orgId"] == org_id and isinstance(item["userId"], int)
        assert item["external"] is False and item["externalUrl"] == ""
    assert len({s["userId"] for s in mine}) == 1
    # ...the name filter is a case-insensitive substring match
    assert sorted(s["name"] for s in cpu) == [f"{tag} CPU detail", f"{tag} cpu"]
    # ...and limit caps the answer, newest first
    assert [s["key"] for s in one] == [made[-1]["key"]]


def test_org_admins_see_the_org_members_their_own(grafana: Stack) -> None:
    # Given carol (admin of "team") and dave (member) both snapshotting in the team org
    team = _org_id(grafana, "carol", "team")
    assert _org_id(grafana, "dave", "team") == team
    carol, dave = grafana.api("carol", org_id=team), grafana.api("dave", org_id=team)
    by_carol = carol.snapshots.create_new_snapshot(dashboard=_dashboard(), name="carol's")
    by_dave = dave.snapshots.create_new_snapshot(dashboard=_dashboard(), name="dave's")

    # When each lists the team's snapshots
    carol_sees = {s["key"] for s in carol.snapshots.get_dashboard_snapshots()}
    dave_sees = {s["key"] for s in dave.snapshots.get_dashboard_snapshots()}

    # Then the admin sees both and the member only his own
    assert {by_carol["key"], by_dave["key"]} <= carol_sees
    assert by_dave["key"] in dave_sees and by_carol["key"] not in dave_sees
    # ...and their personal orgs hold none of them
    assert not {by_carol["key"], by_dave["key"]} & {
        s["key"] for s in grafana.api("carol").snapshots.get_dashboard_snapshots()
    }

    # When dave deletes carol's snapshot, then he is refused
    with pytest.raises(GrafanaClientError) as refused:
        dave.snapshots.delete_snapshot_by_key(by_carol["key"])
    assert refused.value.status_code == 403
    assert refused.value.response == {"message": "Access denied to this snapshot"}

    # When carol (org admin) deletes dave's, then it goes
    assert carol.snapshots.delete_snapshot_by_key(by_dave["key"])["id"] == by_dave["id"]
    assert by_dave["key"] not in {s["key"] for s in carol.snapshots.get_dashboard_snapshots()}


def test_other_tenants_get_404_exactly_like_unknown_keys(grafana: Stack) -> None:
    # Given alice's snapshot and mallory from another tenant
    alice = grafana.api("alice")
    created = alice.snapshots.create_new_snapshot(dashboard=_dashboard(), name="private")
    alice_org = _org_id(grafana, "alice", "alice's workspace")

    with grafana.http("mallory") as http:
        # When mallory deletes it by key, and deletes a key that never existed
        foreign = http.delete(f"/api/snapshots/{created['key']}")
        unknown = http.delete(f"/api/snapshots/{uuid.uuid4().hex}")
        # ...and lists alice's org, or an org that does not exist
        listing = http.get("/api/dashboard/snapshots", headers={"X-Grafana-Org-Id": str(alice_org)})
        nowhere = http.get("/api/dashboard/snapshots", headers={"X-Grafana-Org-Id": "987654"})
        # ...and lists her own snapshots
        own = http.get("/api/dashboard/snapshots")

    # Then both deletes are the same 404, both orgs the same 403, and nothing leaks
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json() == {"message": "Dashboard snapshot not found"}
    assert listing.status_code == nowhere.status_code == 403
    assert listing.json() == nowhere.json()
    assert created["key"] not in {s["key"] for s in own.json()}
    assert alice.snapshots.get_snapshot_by_key(created["key"])["meta"]["isSnapshot"] is True


def test_expired_snapshots_vanish_at_once_and_are_purged(grafana: Stack) -> None:
    # Given a snapshot that expires in one second
    api = grafana.api("alice")
    created = api.snapshots.create_new_snapshot(dashboard=_dashboard(), name="brief", expires=1)
    assert api.snapshots.get_snapshot_by_key(created["key"])["dashboard"]["title"] == "Home"

    # When the second has passed
    time.sleep(1.2)

    # Then every call acts as if it never existed
    with grafana.http("alice") as http:
        assert http.get(f"/api/snapshots/{created['key']}").status_code == 404
        assert http.delete(f"/api/snapshots/{created['key']}").status_code == 404
        assert http.get(f"/api/snapshots-delete/{created['deleteKey']}").status_code == 404
        listed = http.get("/api/dashboard/snapshots").json()
    assert created["key"] not in {s["key"] for s in listed}

    # ...and the periodic job deletes the row soon after
    deadline = time.monotonic() + 15
    while grafana.rows("SELECT id FROM dashboards_snapshot WHERE id = :id", id=created["id"]):
        assert time.monotonic() < deadline, "expired snapshot row was never purged"
        time.sleep(0.2)


def test_external_is_refused_when_disabled(grafana: Stack) -> None:
    # Given the default settings (AMBER_EXTERNAL_SNAPSHOTS off)
    api = grafana.api("alice")

    # When a client asks for an external snapshot
    with pytest.raises(GrafanaClientError) as refused:
        api.snapshots.create_new_snapshot(dashboard=_dashboard(), external=True)

    # Then it is a 403 in Grafana's shape, and the sharing options say so
    assert refused.value.status_code == 403
    assert refused.value.response == {"message": "External dashboard creation is disabled"}
    with grafana.http("alice") as http:
        options = http.get("/api/snapshot/shared-options").json()
    assert options == {
        "snapshotEnabled": True,
        "externalSnapshotURL": "",
        "externalSnapshotName": "",
        "externalEnabled": False,
    }


def test_external_snapshots_when_enabled_use_the_base_url_setting(external: Stack) -> None:
    # Given a server with AMBER_EXTERNAL_SNAPSHOTS on and AMBER_BASE_URL set
    api = external.api("alice")

    # When a client makes an external snapshot
    created = api.snapshots.create_new_snapshot(dashboard=_dashboard("ext"), external=True)

    # Then URLs use the configured base and the listing marks it external
    base = "https://dash.example.org/amber"
    assert created["url"] == f"{base}/dashboard/snapshot/{created['key']}"
    assert created["deleteUrl"] == f"{base}/api/snapshots-delete/{created['deleteKey']}"
    (listed,) = [s for s in api.snapshots.get_dashboard_snapshots() if s["id"] == created["id"]]
    assert listed["external"] is True and listed["externalUrl"] == created["url"]
    with external.http("alice") as http:
        options = http.get("/api/snapshot/shared-options").json()
    assert options["externalEnabled"] is True and options["externalSnapshotURL"] == base


def test_identical_dashboards_are_stored_once(grafana: Stack) -> None:
    # Given a dashboard no snapshot has used before, and the blob count now
    api = grafana.api("alice")
    dashboard = _dashboard("Dedup")
    name = f"dedup {uuid.uuid4().hex}"
    before = grafana.blob_count()

    # When it is snapshotted 100 times
    keys = {
        api.snapshots.create_new_snapshot(dashboard=dashboard, name=name)["key"] for _ in range(100)
    }

    # Then there are 100 snapshot rows, all pointing at exactly one new blob
    assert len(keys) == 100
    assert grafana.blob_count() - before == 1
    ((rows, bodies),) = grafana.rows(
        "SELECT COUNT(*), COUNT(DISTINCT body_sha256) FROM dashboards_snapshot WHERE name = :n",
        n=name,
    )
    assert (rows, bodies) == (100, 1)
    assert api.snapshots.get_snapshot_by_key(keys.pop())["dashboard"] == dashboard


BAD_CREATES: list[tuple[str, Any, int]] = [
    ("missing dashboard", {"name": "x"}, 400),
    ("dashboard is a list", {"dashboard": []}, 400),
    ("dashboard is null", {"dashboard": None}, 400),
    ("expires is a string", {"dashboard": {}, "expires": "3600"}, 400),
    ("expires is negative", {"dashboard": {}, "expires": -1}, 400),
    ("external is a string", {"dashboard": {}, "external": "yes"}, 400),
    ("name is a number", {"dashboard": {}, "name": 7}, 400),
    ("key has a slash", {"dashboard": {}, "key": "a/b"}, 400),
    ("key equals deleteKey", {"dashboard": {}, "key": "same", "deleteKey": "same"}, 400),
    ("body is a list", [{"dashboard": {}}], 400),
]


@pytest.mark.parametrize(("case", "body", "status"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
def test_bad_create_bodies_get_grafana_errors(
    grafana: Stack, case: str, body: Any, status: int
) -> None:
    # Given alice's token
    with grafana.http("alice") as http:
        # When she posts a bad body
        response = http.post("/api/snapshots", json=body)

    # Then it is refused in Grafana's {"message"} shape
    assert response.status_code == status, (case, response.text)
    assert list(response.json()) == ["message"] and response.json()["message"]


def test_malformed_huge_and_unauthenticated_requests(grafana: Stack) -> None:
    with grafana.http("alice", **{"Content-Type": "application/json"}) as http:
        # When the JSON is malformed
        malformed = http.post("/api/snapshots", content=b'{"dashboard": {')
        # ...or the body is bigger than AMBER_MAX_BODY_BYTES
        huge = http.post("/api/snapshots", json={"dashboard": {"blob": "x" * (MAX_BODY + 1)}})
        # ...or a query parameter has the wrong type, or the org header is not a number
        bad_limit = http.get("/api/dashboard/snapshots", params={"limit": "lots"})
        bad_org = http.get("/api/dashboard/snapshots", headers={"X-Grafana-Org-Id": "main"})
        # ...or the key is unknown
        unknown = http.get(f"/api/snapshots/{uuid.uuid4().hex}")
        unknown_delete = http.get(f"/api/snapshots-delete/{uuid.uuid4().hex}")
    with grafana.http(Authorization="Bearer not-a-token") as http:
        wrong_token = http.get("/api/dashboard/snapshots")
    with grafana.http() as http:
        no_token = http.post("/api/snapshots", json={"dashboard": {}})
        no_token_options = http.get("/api/snapshot/shared-options")

    # Then each gets its status in Grafana's {"message"} shape, never a 500
    expected = [
        (malformed, 400), (huge, 413), (bad_limit, 400), (bad_org, 400), (unknown, 404),
        (unknown_delete, 404), (wrong_token, 401), (no_token, 401), (no_token_options, 401),
    ]  # fmt: skip
    for response, status in expected:
        assert response.status_code == status, (response.request.url, response.text)
        assert list(response.json()) == ["message"], response.text
    with pytest.raises(GrafanaUnauthorizedError):
        grafana.api().snapshots.get_dashboard_snapshots()


def test_openapi_lists_the_grafana_routes(grafana: Stack) -> None:
    # When the OpenAPI document is fetched
    with grafana.http() as http:
        paths = http.get("/openapi.json").json()["paths"]

    # Then every Grafana snapshot route is in it, without the trailing-slash twins
    assert set(paths["/api/snapshots"]) == {"post"}
    assert set(paths["/api/snapshots/{key}"]) == {"get", "delete"}
    assert set(paths["/api/snapshots-delete/{deleteKey}"]) == {"get"}
    assert set(paths["/api/dashboard/snapshots"]) == {"get"}
    assert set(paths["/api/snapshot/shared-options"]) == {"get"}
    assert "/api/snapshots/" not in paths
