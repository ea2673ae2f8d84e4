"""The Sidvy notes dialect over real HTTP against `amber serve`, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from crawler.auth import issue_token
from crawler.blobs import LocalBlobStore
from crawler.db import make_engine, session_scope
from crawler.domains.bodies import canonical_json
from tests.conftest import amber_env, run_amber
from tests.services import AmberServer

MAX_BODY = 64 * 1024
USERS = {"alice": "", "mallory": "", "carol": "notes-team", "dave": "notes-team"}


@dataclass
class Stack:
    server: AmberServer
    data_dir: Path
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    workspaces: dict[str, dict[str, str]] = field(default_factory=dict)

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


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def sidvy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp(f"sidvy-{request.param}")
    url = f"sqlite:///{data_dir / 'amber.sqlite3'}"
    env = amber_env(data_dir, AMBER_MAX_BODY_BYTES=str(MAX_BODY))
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_server").create_database("sidvy_dialect")
        env["AMBER_DATABASE_URL"] = url
    server = AmberServer(env=env, args=("--no-workers",)).start()
    stack = Stack(server=server, data_dir=data_dir, database_url=url)
    stack.tokens = _tokens(env, url)
    for user in USERS:
        with stack.http(user) as http:
            listed = http.get("/api/workspace").json()["data"]
        stack.workspaces[user] = {w["name"]: w["id"] for w in listed}
        stack.workspaces[user]["default"] = next(w["id"] for w in listed if w["isDefault"])
    yield stack
    server.stop()


def _note(stack: Stack, user: str, content: str = "first", **extra: Any) -> dict[str, Any]:
    body = {"workspaceId": stack.workspaces[user]["default"], "title": "T", "content": content}
    with stack.http(user) as http:
        response = http.post("/api/notes", json={**body, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


def _put(stack: Stack, user: str, note_id: str, **changes: Any) -> dict[str, Any]:
    with stack.http(user) as http:
        response = http.put(f"/api/notes/{note_id}", json=changes)
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def _snapshots(stack: Stack, user: str, note_id: str) -> list[dict[str, Any]]:
    with stack.http(user) as http:
        response = http.get("/api/snapshot", params={"noteId": note_id})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_workspaces_list_the_callers_own(sidvy: Stack) -> None:
    # Given carol, who has a personal workspace and joined "notes-team"
    with sidvy.http("carol") as http:
        # When she lists her workspaces
        listed = http.get("/api/workspace").json()["data"]

    # Then both come back, the personal one as default
    assert {w["name"] for w in listed} == {"carol's workspace", "notes-team"}
    assert [w["name"] for w in listed if w["isDefault"]] == ["carol's workspace"]
    assert all(set(w) == {"id", "name", "isDefault", "role", "createdAt"} for w in listed)


def test_content_changes_bump_version_and_snapshot_the_previous_content(sidvy: Stack) -> None:
    # Given a new note
    note = _note(sidvy, "alice", content="draft one")
    assert note["version"] == 1 and note["encrypted"] is False
    assert set(note) == {
        "id", "workspaceId", "userId", "title", "content", "version", "encrypted",
        "createdAt", "updatedAt",
    }  # fmt: skip

    # When its content changes
    updated = _put(sidvy, "alice", note["id"], content="draft two")

    # Then the version is bumped and the previous content is a snapshot
    assert (updated["version"], updated["content"]) == (2, "draft two")
    (snapshot,) = _snapshots(sidvy, "alice", note["id"])
    assert set(snapshot) == {
        "id", "noteId", "userId", "workspaceId", "content", "noteVersion", "metadata", "createdAt",
    }  # fmt: skip
    assert uuid.UUID(snapshot["id"])
    assert snapshot["content"] == "draft one" and snapshot["noteVersion"] == 1
    assert snapshot["noteId"] == note["id"] and snapshot["workspaceId"] == note["workspaceId"]
    assert snapshot["userId"] == note["userId"] and snapshot["metadata"]["source"] == "auto"

    # When the same content is saved again, or only the title changes
    same = _put(sidvy, "alice", note["id"], content="draft two")
    titled = _put(sidvy, "alice", note["id"], title="Renamed")

    # Then nothing is bumped and no snapshot is taken
    assert same["version"] == titled["version"] == 2 and titled["title"] == "Renamed"
    assert len(_snapshots(sidvy, "alice", note["id"])) == 1
    with sidvy.http("alice") as http:
        assert http.get(f"/api/notes/{note['id']}").json()["data"] == titled


def test_history_keeps_the_newest_five(sidvy: Stack) -> None:
    # Given a note edited eight times
    note = _note(sidvy, "alice", content="v1")
    for n in range(2, 10):
        _put(sidvy, "alice", note["id"], content=f"v{n}")

    # When its snapshots are listed
    snapshots = _snapshots(sidvy, "alice", note["id"])

    # Then only the five newest remain, newest first, and the store holds just those
    assert [s["content"] for s in snapshots] == ["v8", "v7", "v6", "v5", "v4"]
    assert [s["noteVersion"] for s in snapshots] == [8, 7, 6, 5, 4]
    ((count,),) = sidvy.rows("SELECT COUNT(*) FROM notes_snapshot WHERE note_id = :n", n=note["id"])
    assert count == 5


def test_concurrent_edits_each_get_their_own_version(sidvy: Stack) -> None:
    # Given a note
    note = _note(sidvy, "alice", content="base")

    # When ten edits race
    def edit(n: int) -> int:
        return int(_put(sidvy, "alice", note["id"], content=f"edit {n}")["version"])

    with ThreadPoolExecutor(max_workers=5) as pool:
        versions = sorted(pool.map(edit, range(10)))

    # Then every edit got a distinct version and history is still capped at five
    assert versions == list(range(2, 12))
    snapshots = _snapshots(sidvy, "alice", note["id"])
    assert len(snapshots) == 5
    assert [s["noteVersion"] for s in snapshots] == [10, 9, 8, 7, 6]


def test_encrypted_notes_are_not_snapshotted_automatically(sidvy: Stack) -> None:
    # Given an encrypted note
    note = _note(sidvy, "alice", content="ciphertext-1", encrypted=True)

    # When its content changes
    updated = _put(sidvy, "alice", note["id"], content="ciphertext-2")

    # Then the version moves but no snapshot is taken
    assert updated["version"] == 2 and updated["encrypted"] is True
    assert _snapshots(sidvy, "alice", note["id"]) == []

    # When the client asks for a snapshot explicitly, then it is kept
    with sidvy.http("alice") as http:
        made = http.post(
            "/api/snapshot",
            json={"noteId": note["id"], "workspaceId": note["workspaceId"], "content": "c2"},
        )
    assert made.status_code == 201
    assert [s["id"] for s in _snapshots(sidvy, "alice", note["id"])] == [made.json()["data"]["id"]]


def test_manual_snapshots_and_delete(sidvy: Stack) -> None:
    # Given a note with one automatic snapshot
    note = _note(sidvy, "alice", content="one")
    _put(sidvy, "alice", note["id"], content="two")

    with sidvy.http("alice") as http:
        # When the client posts a snapshot of its own
        made = http.post(
            "/api/snapshot",
            json={
                "noteId": note["id"],
                "workspaceId": note["workspaceId"],
                "content": "client copy",
                "metadata": {"reason": "before refactor"},
            },
        )
        snapshot = made.json()["data"]

        # Then it is stored at the note's current version and listed first
        assert made.status_code == 201
        assert snapshot["content"] == "client copy" and snapshot["noteVersion"] == 2
        assert snapshot["metadata"] == {
            "source": "manual",
            "title": "T",
            "reason": "before refactor",
        }
        listed = _snapshots(sidvy, "alice", note["id"])
        assert [s["content"] for s in listed] == ["client copy", "one"]

        # When it is deleted
        deleted = http.request("DELETE", "/api/snapshot", json={"snapshotId": snapshot["id"]})
        again = http.request("DELETE", "/api/snapshot", json={"snapshotId": snapshot["id"]})

    # Then it is gone and a second delete is a 404
    assert deleted.status_code == 200 and deleted.json() == {"data": {"deleted": True}}
    assert again.status_code == 404
    assert again.json() == {"error": "NOT_FOUND", "message": "Snapshot not found"}
    assert [s["content"] for s in _snapshots(sidvy, "alice", note["id"])] == ["one"]


def test_deleting_a_note_deletes_its_snapshots(sidvy: Stack) -> None:
    # Given a note with history
    note = _note(sidvy, "alice", content="a")
    _put(sidvy, "alice", note["id"], content="b")

    with sidvy.http("alice") as http:
        # When it is deleted
        deleted = http.delete(f"/api/notes/{note['id']}")
        fetched = http.get(f"/api/notes/{note['id']}")

    # Then the note and its snapshot rows are gone
    assert deleted.json() == {"data": {"deleted": True}}
    assert fetched.status_code == 404 and fetched.json()["error"] == "NOT_FOUND"
    assert sidvy.rows("SELECT id FROM notes_snapshot WHERE note_id = :n", n=note["id"]) == []


def test_other_tenants_get_404_exactly_like_unknown_ids(sidvy: Stack) -> None:
    # Given alice's note with a snapshot, and mallory from another tenant
    note = _note(sidvy, "alice", content="secret")
    _put(sidvy, "alice", note["id"], content="secret 2")
    (snapshot,) = _snapshots(sidvy, "alice", note["id"])
    ghost = str(uuid.uuid4())
    mallory_ws = sidvy.workspaces["mallory"]["default"]

    with sidvy.http("mallory") as http:
        # When mallory touches alice's ids, and ids that never existed
        pairs = [
            (http.get(f"/api/notes/{note['id']}"), http.get(f"/api/notes/{ghost}")),
            (
                http.put(f"/api/notes/{note['id']}", json={"content": "x"}),
                http.put(f"/api/notes/{ghost}", json={"content": "x"}),
            ),
            (http.delete(f"/api/notes/{note['id']}"), http.delete(f"/api/notes/{ghost}")),
            (
                http.get("/api/snapshot", params={"noteId": note["id"]}),
                http.get("/api/snapshot", params={"noteId": ghost}),
            ),
            (
                http.request("DELETE", "/api/snapshot", json={"snapshotId": snapshot["id"]}),
                http.request("DELETE", "/api/snapshot", json={"snapshotId": ghost}),
            ),
            (
                http.post(
                    "/api/snapshot",
                    json={"noteId": note["id"], "workspaceId": mallory_ws, "content": "x"},
                ),
                http.post(
                    "/api/snapshot",
                    json={"noteId": ghost, "workspaceId": mallory_ws, "content": "x"},
                ),
            ),
            (
                http.post("/api/notes", json={"workspaceId": note["workspaceId"], "title": "x"}),
                http.post("/api/notes", json={"workspaceId": ghost, "title": "x"}),
            ),
            (
                http.get("/api/notes", params={"workspaceId": note["workspaceId"]}),
                http.get("/api/notes", params={"workspaceId": ghost}),
            ),
        ]
        listed = http.get("/api/notes").json()["data"]

    # Then each of alice's ids answers exactly like an unknown one
    for foreign, unknown in pairs:
        assert foreign.status_code == unknown.status_code == 404, foreign.request.url
        assert foreign.json() == unknown.json()
        assert foreign.json()["error"] == "NOT_FOUND"
    # ...nothing of hers is listed, and nothing of hers changed
    assert note["id"] not in {n["id"] for n in listed}
    with sidvy.http("alice") as http:
        assert http.get(f"/api/notes/{note['id']}").json()["data"]["content"] == "secret 2"
    assert [s["id"] for s in _snapshots(sidvy, "alice", note["id"])] == [snapshot["id"]]


def test_shared_workspace_members_edit_but_only_owners_and_admins_delete(sidvy: Stack) -> None:
    # Given carol (admin of notes-team) and dave (member), and a team note by carol
    team = sidvy.workspaces["carol"]["notes-team"]
    assert sidvy.workspaces["dave"]["notes-team"] == team
    with sidvy.http("carol") as carol, sidvy.http("dave") as dave:
        note = carol.post(
            "/api/notes", json={"workspaceId": team, "title": "Plan", "content": "c1"}
        ).json()["data"]
        _put(sidvy, "carol", note["id"], content="c2")  # carol's automatic snapshot

        # When dave edits it, then he may, and his edit snapshots carol's content as his own
        edited = dave.put(f"/api/notes/{note['id']}", json={"content": "d1"}).json()["data"]
        assert edited["version"] == 3
        by_dave, by_carol = _snapshots(sidvy, "dave", note["id"])
        assert by_dave["content"] == "c2" and by_dave["userId"] != by_carol["userId"]

        # When dave deletes carol's snapshot or carol's note, then he is forbidden
        no_snap = dave.request("DELETE", "/api/snapshot", json={"snapshotId": by_carol["id"]})
        no_note = dave.delete(f"/api/notes/{note['id']}")
        assert no_snap.status_code == no_note.status_code == 403
        assert no_snap.json()["error"] == no_note.json()["error"] == "FORBIDDEN"

        # When carol (workspace admin) deletes dave's snapshot, then it goes
        ok = carol.request("DELETE", "/api/snapshot", json={"snapshotId": by_dave["id"]})
        assert ok.json() == {"data": {"deleted": True}}
    assert [s["id"] for s in _snapshots(sidvy, "carol", note["id"])] == [by_carol["id"]]


def test_identical_contents_are_stored_once(sidvy: Stack) -> None:
    # Given a content no note has used, and the blob count now
    content = f"shared text {uuid.uuid4().hex}"
    before = sidvy.blob_count()

    # When twenty notes are created with it and each is snapshotted by hand
    notes = [_note(sidvy, "alice", content=content) for _ in range(20)]
    with sidvy.http("alice") as http:
        for note in notes:
            body = {"noteId": note["id"], "workspaceId": note["workspaceId"], "content": content}
            assert http.post("/api/snapshot", json=body).status_code == 201

    # Then one blob backs all forty bodies
    assert sidvy.blob_count() - before == 1
    sha = hashlib.sha256(canonical_json(content)).hexdigest()
    ((in_notes,),) = sidvy.rows("SELECT COUNT(*) FROM notes_note WHERE content_sha256 = :s", s=sha)
    ((in_snapshots,),) = sidvy.rows(
        "SELECT COUNT(*) FROM notes_snapshot WHERE content_sha256 = :s", s=sha
    )
    assert (in_notes, in_snapshots) == (20, 20)


BAD_REQUESTS: list[tuple[str, str, str, Any, int]] = [
    ("note without workspaceId", "POST", "/api/notes", {"title": "x"}, 400),
    ("note title is a number", "POST", "/api/notes", {"workspaceId": "w", "title": 5}, 400),
    ("note content is a list", "POST", "/api/notes", {"workspaceId": "w", "content": []}, 400),
    ("encrypted is a string", "POST", "/api/notes", {"workspaceId": "w", "encrypted": "y"}, 400),
    ("body is a list", "POST", "/api/notes", [], 400),
    ("snapshot without content", "POST", "/api/snapshot", {"noteId": "n", "workspaceId": "w"}, 400),
    ("snapshotId is a number", "DELETE", "/api/snapshot", {"snapshotId": 5}, 400),
    ("delete without body", "DELETE", "/api/snapshot", None, 400),
]


@pytest.mark.parametrize(
    ("case", "method", "path", "body", "status"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_bodies_get_sidvy_validation_errors(
    sidvy: Stack, case: str, method: str, path: str, body: Any, status: int
) -> None:
    # Given alice's token
    with sidvy.http("alice") as http:
        # When she sends a body of the wrong shape
        response = http.request(method, path, json=body)

    # Then it is a VALIDATION_ERROR in Sidvy's shape
    assert response.status_code == status, (case, response.text)
    assert response.json()["error"] == "VALIDATION_ERROR"
    assert set(response.json()) == {"error", "message"}


def test_malformed_huge_unknown_and_unauthenticated_requests(sidvy: Stack) -> None:
    note = _note(sidvy, "alice", content="x")
    team = sidvy.workspaces["carol"]["notes-team"]
    with sidvy.http("alice", **{"Content-Type": "application/json"}) as http:
        # When the JSON is malformed, the body too big, or a query is missing or mistyped
        malformed = http.put(f"/api/notes/{note['id']}", content=b'{"content": ')
        huge = http.post(
            "/api/notes",
            json={"workspaceId": note["workspaceId"], "content": "x" * (MAX_BODY + 1)},
        )
        no_note_id = http.get("/api/snapshot")
        bad_limit = http.get("/api/notes", params={"limit": "many"})
        # ...or the snapshot's workspace is not the note's
        with sidvy.http("carol") as carol:
            carol_note = carol.post("/api/notes", json={"workspaceId": team}).json()["data"]
            mismatch = carol.post(
                "/api/snapshot",
                json={
                    "noteId": carol_note["id"],
                    "workspaceId": sidvy.workspaces["carol"]["default"],
                    "content": "x",
                },
            )
        # ...or an id is unknown, even absurdly long
        unknown = http.get(f"/api/notes/{'z' * 500}")
    with sidvy.http() as http:
        no_token = http.get(f"/api/notes/{note['id']}")
    with sidvy.http(Authorization="Bearer wrong") as http:
        wrong_token = http.post("/api/snapshot", json={})

    # Then each is answered in Sidvy's {"error", "message"} shape, never a 500
    expected = [
        (malformed, 400, "VALIDATION_ERROR"), (huge, 413, "VALIDATION_ERROR"),
        (no_note_id, 400, "VALIDATION_ERROR"), (bad_limit, 400, "VALIDATION_ERROR"),
        (mismatch, 400, "VALIDATION_ERROR"), (unknown, 404, "NOT_FOUND"),
        (no_token, 401, "UNAUTHORIZED"), (wrong_token, 401, "UNAUTHORIZED"),
    ]  # fmt: skip
    for response, status, code in expected:
        assert response.status_code == status, (response.request.url, response.text)
        assert response.json()["error"] == code and set(response.json()) == {"error", "message"}
    # ...and nothing was written by the refused requests
    with sidvy.http("alice") as http:
        assert http.get(f"/api/notes/{note['id']}").json()["data"]["version"] == 1


def test_openapi_lists_the_sidvy_routes(sidvy: Stack) -> None:
    # When the OpenAPI document is fetched
    with sidvy.http() as http:
        paths = http.get("/openapi.json").json()["paths"]

    # Then the notes and snapshot routes are in it
    assert {"get", "post"} <= set(paths["/api/notes"])
    assert set(paths["/api/notes/{note_id}"]) == {"get", "put", "delete"}
    assert set(paths["/api/snapshot"]) == {"get", "post", "delete"}
    assert set(paths["/api/workspace"]) == {"get"}
