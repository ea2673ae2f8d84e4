"""Flatfile dialect: workbooks, records and sheet snapshots over real HTTP, plus a
property test that restore is exact, run on the domain layer with a real SQLite store.

The HTTP snapshot/restore flow runs on SQLite and again on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from crawler import db
from crawler.auth import Principal, ensure_user, principal_for_user
from crawler.blobs import LocalBlobStore
from crawler.domains.sheets import records as ff_records
from crawler.domains.sheets import snapshots as ff_snapshots
from crawler.domains.sheets import workbooks as ff_workbooks
from crawler.domains.sheets.tables import SheetRecordRow, SheetRow
from crawler.domains.sheets.validate import Validator
from tests.conftest import amber_env, run_amber
from tests.services import AmberServer, PostgresServer

MAX_BODY = 256 * 1024
CONTACTS = {
    "name": "Contacts",
    "slug": "contacts",
    "fields": [
        {"key": "name", "type": "string", "label": "Name"},
        {"key": "age", "type": "number", "label": "Age", "constraints": [{"type": "required"}]},
        {"key": "ok", "type": "boolean", "label": "OK"},
    ],
}


def cells(values: dict[str, Any]) -> dict[str, Any]:
    return {key: {"value": value} for key, value in values.items()}


# --- restore is exact: property tests on the domain layer ------------------------------


@dataclass
class Store:
    engine: Engine
    blobs: LocalBlobStore
    principal: Principal


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("sheets-domain")
    url = f"sqlite:///{root / 'amber.sqlite3'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, "property"))
    yield Store(engine, LocalBlobStore(root / "blobs"), principal)
    engine.dispose()


Rows = list[tuple[str, int, str, bool]]


def stored_rows(session: Session, sheet_id: str) -> Rows:
    query = (
        select(SheetRecordRow)
        .where(SheetRecordRow.sheet_id == sheet_id)
        .order_by(SheetRecordRow.rownum)  # type: ignore[arg-type]
    )
    return [(r.id, r.rownum, r.data, r.valid) for r in session.exec(query)]


scalars = (
    st.none()
    | st.text(max_size=6)
    | st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
)
values = st.dictionaries(st.sampled_from(["name", "age", "ok"]), scalars, max_size=3)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.lists(values, min_size=1, max_size=3)),
        st.tuples(st.just("update"), st.integers(0, 50), values),
        st.tuples(st.just("delete"), st.integers(0, 50)),
    ),
    max_size=15,
)


def _prepare(store: Store, initial: list[dict[str, Any]]) -> tuple[str, str, Rows]:
    """A sheet with `initial` records and a snapshot of it; returns ids and the rows kept."""
    with db.session_scope(store.engine) as session:
        _, [sheet] = ff_workbooks.create_workbook(
            session,
            store.principal,
            name="property",
            space_id=None,
            environment_id=None,
            labels=[],
            sheets=[CONTACTS],
        )
        ff_records.insert_records(session, sheet, [cells(v) for v in initial])
        snapshot, _ = ff_snapshots.create_snapshot(
            session, store.blobs, store.principal, sheet, label=None, thread_id=None
        )
        return sheet.id, snapshot.id, stored_rows(session, sheet.id)


def _apply(store: Store, sheet_id: str, ops: list[Any]) -> None:
    """Each operation in its own transaction, as separate HTTP requests would be."""
    for op in ops:
        with db.session_scope(store.engine) as session:
            sheet = session.get(SheetRow, sheet_id)
            assert sheet is not None
            ids = [row[0] for row in stored_rows(session, sheet_id)]
            if op[0] == "insert":
                ff_records.insert_records(session, sheet, [cells(v) for v in op[1]])
            elif ids and op[0] == "update":
                target = ids[op[1] % len(ids)]
                ff_records.update_records(session, sheet, [{"id": target, "values": cells(op[2])}])
            elif ids and op[0] == "delete":
                ff_records.delete_records(session, sheet, [ids[op[1] % len(ids)]])


def _restore(store: Store, sheet_id: str, snapshot_id: str, options: Any) -> dict[str, Any]:
    with db.session_scope(store.engine) as session:
        snapshot, sheet = ff_snapshots.get_snapshot(session, store.principal, snapshot_id)
        return ff_snapshots.restore(session, store.blobs, snapshot, sheet, options)


PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(initial=st.lists(values, max_size=6), ops=operations)
@example(initial=[{"name": "line\x85break\u2028and\x00nul"}], ops=[("delete", 0)])
def test_restore_gives_back_exactly_the_snapshot(
    store: Store, initial: list[dict[str, Any]], ops: list[Any]
) -> None:
    # Given a sheet and a snapshot of it
    sheet_id, snapshot_id, kept = _prepare(store, initial)
    # and any sequence of inserts, updates and deletes after it
    _apply(store, sheet_id, ops)

    # When the snapshot is restored with every kind of change undone
    after = _restore(store, sheet_id, snapshot_id, ff_snapshots.RestoreOptions())

    # Then the records are exactly as they were: ids, positions, values and validity
    with db.session_scope(store.engine) as session:
        assert stored_rows(session, sheet_id) == kept
    assert [after[k]["total"] for k in ("createdSince", "updatedSince", "deletedSince")] == [0] * 3


@PROPERTY
@given(
    initial=st.lists(values, max_size=6),
    ops=operations,
    undo=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_partial_restore_undoes_only_the_chosen_kinds(
    store: Store, initial: list[dict[str, Any]], ops: list[Any], undo: tuple[bool, bool, bool]
) -> None:
    # Given a snapshot, changes after it, and the changes worked out independently
    sheet_id, snapshot_id, kept = _prepare(store, initial)
    _apply(store, sheet_id, ops)
    with db.session_scope(store.engine) as session:
        now = stored_rows(session, sheet_id)
        snapshot, sheet = ff_snapshots.get_snapshot(session, store.principal, snapshot_id)
        summary = ff_snapshots.summarize(session, store.blobs, snapshot, sheet)
    then_by_id = {row[0]: row for row in kept}
    now_by_id = {row[0]: row for row in now}
    created = [i for i in now_by_id if i not in then_by_id]
    deleted = [i for i in then_by_id if i not in now_by_id]
    updated = [i for i in now_by_id if i in then_by_id and now_by_id[i][2] != then_by_id[i][2]]
    assert summary["createdSince"]["total"] == len(created)
    assert summary["updatedSince"]["total"] == len(updated)
    assert summary["deletedSince"]["total"] == len(deleted)

    # When only some kinds of change are undone
    options = ff_snapshots.RestoreOptions(created=undo[0], updated=undo[1], deleted=undo[2])
    _restore(store, sheet_id, snapshot_id, options)

    # Then exactly those changes are reverted and the rest stay
    expected = dict(now_by_id)
    if options.created:
        for record_id in created:
            del expected[record_id]
    if options.updated:
        expected.update({i: then_by_id[i] for i in updated})
    if options.deleted:
        expected.update({i: then_by_id[i] for i in deleted})
    validator = Validator(CONTACTS)
    with db.session_scope(store.engine) as session:
        rows = stored_rows(session, sheet_id)
    assert [r[:3] for r in rows] == sorted((r[:3] for r in expected.values()), key=lambda r: r[1])
    assert all(valid == validator.is_valid(json.loads(data)) for _, _, data, valid in rows)


# --- the HTTP dialect ------------------------------------------------------------------


class Tenant:
    def __init__(self, server: AmberServer, user: str) -> None:
        done = run_amber(server.env, "token", "create", "--user", user)
        assert done.returncode == 0, done.stderr
        token = done.stdout.strip().splitlines()[-1]
        self.http = httpx.Client(
            base_url=server.url,
            timeout=60,
            headers={"Authorization": f"Bearer {token}", "X-Disable-Hooks": "true"},
        )

    def sheet(self, config: dict[str, Any] | None = None) -> tuple[str, str]:
        """A new workbook with one sheet; returns (workbook id, sheet id)."""
        answer = self.http.post(
            "/v1/workbooks", json={"name": "Book", "sheets": [config or CONTACTS]}
        )
        assert answer.status_code == 200, answer.text
        workbook = answer.json()["data"]
        return workbook["id"], workbook["sheets"][0]["id"]

    def insert(self, sheet_id: str, rows: list[dict[str, Any]]) -> list[str]:
        answer = self.http.post(f"/v1/sheets/{sheet_id}/records", json=[cells(r) for r in rows])
        assert answer.status_code == 200, answer.text
        return [r["id"] for r in answer.json()["data"]["records"]]

    def records(self, sheet_id: str) -> list[tuple[str, dict[str, Any]]]:
        data = self.http.get(f"/v1/sheets/{sheet_id}/records").json()["data"]
        return [(r["id"], {k: c["value"] for k, c in r["values"].items()}) for r in data["records"]]

    def close(self) -> None:
        self.http.close()


def _start(tmp: Path, **extra: str) -> AmberServer:
    env = amber_env(tmp, AMBER_MAX_BODY_BYTES=str(MAX_BODY), **extra)
    return AmberServer(env=env, args=("--no-workers",)).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AmberServer]:
    amber = _start(tmp_path_factory.mktemp("flatfile-sqlite"))
    yield amber
    amber.stop()


@pytest.fixture(scope="module")
def alice(server: AmberServer) -> Iterator[Tenant]:
    tenant = Tenant(server, "alice-ff")
    yield tenant
    tenant.close()


@pytest.fixture(scope="module")
def bob(server: AmberServer) -> Iterator[Tenant]:
    tenant = Tenant(server, "bob-ff")
    yield tenant
    tenant.close()


@pytest.fixture(scope="module")
def pg_alice(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tenant]:
    url = postgres_server.create_database("sheets_dialect")
    amber = _start(tmp_path_factory.mktemp("flatfile-pg"), AMBER_DATABASE_URL=url)
    tenant = Tenant(amber, "alice-ff-pg")
    yield tenant
    tenant.close()
    amber.stop()


def test_workbook_and_records(alice: Tenant) -> None:
    # Given a new workbook with one sheet
    answer = alice.http.post("/v1/workbooks", json={"name": "People", "sheets": [CONTACTS]})
    workbook = answer.json()["data"]
    sheet_id = workbook["sheets"][0]["id"]

    # When records are inserted (one valid, one with a bad number, one missing a required field)
    ids = alice.insert(sheet_id, [{"name": "Ann", "age": 31}, {"age": "old"}, {"name": "Cy"}])

    # Then the workbook, sheet and record ids have Flatfile's prefixes
    assert workbook["id"].startswith("us_wb_") and sheet_id.startswith("us_sh_")
    assert all(i.startswith("us_rc_") for i in ids)
    assert workbook["sheets"][0]["config"]["fields"][0]["key"] == "name"
    # and GET returns them in order with per-cell validity and counts
    data = alice.http.get(f"/v1/sheets/{sheet_id}/records").json()["data"]
    assert [r["id"] for r in data["records"]] == ids
    assert data["counts"] == {"total": 3, "valid": 1, "error": 2}
    assert data["records"][1]["values"]["age"]["valid"] is False
    assert data["records"][2]["values"]["age"]["messages"][0]["type"] == "error"
    errors = alice.http.get(f"/v1/sheets/{sheet_id}/records", params={"filter": "error"})
    assert [r["id"] for r in errors.json()["data"]["records"]] == ids[1:]
    # and updates merge cells, deletes take repeated or comma-separated ids
    update = alice.http.put(
        f"/v1/sheets/{sheet_id}/records", json=[{"id": ids[1], "values": cells({"age": 40})}]
    )
    assert update.json()["data"]["records"][0]["values"]["age"]["value"] == 40
    deleted = alice.http.delete(
        f"/v1/sheets/{sheet_id}/records", params={"ids": f"{ids[0]},{ids[2]}"}
    )
    assert deleted.json() == {"data": {"success": True}}
    assert alice.records(sheet_id) == [(ids[1], {"age": 40})]
    sheet = alice.http.get(f"/v1/sheets/{sheet_id}").json()["data"]
    assert sheet["countRecords"] == {"total": 1, "valid": 1, "error": 0}
    assert alice.http.get(f"/v1/workbooks/{workbook['id']}").json()["data"]["name"] == "People"


def _check_snapshot_flow(tenant: Tenant) -> None:
    # Given a sheet with three records and a labelled snapshot of it
    _, sheet_id = tenant.sheet()
    ids = tenant.insert(
        sheet_id, [{"name": "A", "age": 1}, {"name": "B", "age": 2}, {"name": "C", "age": 3}]
    )
    before = tenant.records(sheet_id)
    created = tenant.http.post(
        "/v1/snapshots", json={"sheetId": sheet_id, "label": "start", "threadId": "t1"}
    ).json()["data"]
    assert created["id"].startswith("us_ss_") and created["createdBy"].startswith("us_usr_")
    assert created["summary"]["createdSince"] == {"total": 0, "byField": {}}

    # When one record is updated, one deleted and two inserted
    tenant.http.put(
        f"/v1/sheets/{sheet_id}/records", json=[{"id": ids[0], "values": cells({"age": 10})}]
    )
    tenant.http.delete(f"/v1/sheets/{sheet_id}/records", params={"ids": ids[1]})
    new_ids = tenant.insert(sheet_id, [{"name": "D", "age": 4}, {"age": 5}])

    # Then the summary counts each kind of change, by field
    summary = tenant.http.get(
        f"/v1/snapshots/{created['id']}", params={"includeSummary": "true"}
    ).json()["data"]["summary"]
    assert summary["createdSince"] == {"total": 2, "byField": {"age": 2, "name": 1}}
    assert summary["updatedSince"] == {"total": 1, "byField": {"age": 1}}
    assert summary["deletedSince"] == {"total": 1, "byField": {"age": 1, "name": 1}}
    assert summary["schemaDiff"] == {"name": "unchanged", "age": "unchanged", "ok": "unchanged"}
    assert summary["config"]["slug"] == "contacts"
    # and the diff records show value and snapshotValue per field, paged
    updated = tenant.http.get(
        f"/v1/snapshots/{created['id']}/records", params={"changeType": "updatedSince"}
    ).json()["data"]
    assert updated[0]["id"] == ids[0]
    assert updated[0]["values"]["age"] == {
        "value": 10,
        "snapshotValue": 1,
        "valid": True,
        "messages": [],
    }
    page = tenant.http.get(
        f"/v1/snapshots/{created['id']}/records",
        params={"changeType": "createdSince", "pageSize": 1, "pageNumber": 2},
    ).json()["data"]
    assert [r["id"] for r in page] == [new_ids[1]]
    gone = tenant.http.get(
        f"/v1/snapshots/{created['id']}/records", params={"changeType": "deletedSince"}
    ).json()["data"]
    assert gone[0]["values"]["name"] == {
        "value": None,
        "snapshotValue": "B",
        "valid": True,
        "messages": [],
    }
    # and listing has no summary, a plain get has none either
    listed = tenant.http.get("/v1/snapshots", params={"sheetId": sheet_id, "threadId": "t1"}).json()
    assert [s["id"] for s in listed["data"]] == [created["id"]]
    assert "summary" not in listed["data"][0]
    assert "summary" not in tenant.http.get(f"/v1/snapshots/{created['id']}").json()["data"]

    # When the snapshot is restored with no body
    restored = tenant.http.post(f"/v1/snapshots/{created['id']}/restore")

    # Then the records are exactly as they were, ids and order included
    assert restored.status_code == 200, restored.text
    assert restored.json()["data"]["summary"]["createdSince"]["total"] == 0
    assert tenant.records(sheet_id) == before


def test_snapshot_summary_diff_and_restore(alice: Tenant) -> None:
    _check_snapshot_flow(alice)


def test_snapshot_flow_on_postgres(pg_alice: Tenant) -> None:
    _check_snapshot_flow(pg_alice)


def test_partial_restore_and_schema_diff(alice: Tenant) -> None:
    # Given a snapshot, then one insert, one update and a new field in the sheet config
    workbook_id, sheet_id = alice.sheet()
    ids = alice.insert(sheet_id, [{"name": "A", "age": 1}])
    snapshot_id = alice.http.post("/v1/snapshots", json={"sheetId": sheet_id}).json()["data"]["id"]
    new_id = alice.insert(sheet_id, [{"name": "B", "age": 2}])[0]
    alice.http.put(
        f"/v1/sheets/{sheet_id}/records", json=[{"id": ids[0], "values": cells({"age": 9})}]
    )
    wider = {**CONTACTS, "fields": [*CONTACTS["fields"], {"key": "email", "type": "string"}]}
    patched = alice.http.patch(f"/v1/workbooks/{workbook_id}", json={"sheets": [wider]})
    assert patched.status_code == 200, patched.text

    # When only the creations are undone
    answer = alice.http.post(
        f"/v1/snapshots/{snapshot_id}/restore",
        json={"created": True, "updated": False, "deleted": False},
    ).json()["data"]

    # Then the inserted record is gone, the update stays, and the summary says so
    assert alice.records(sheet_id) == [(ids[0], {"name": "A", "age": 9})]
    assert new_id not in [r[0] for r in alice.records(sheet_id)]
    assert answer["summary"]["createdSince"]["total"] == 0
    assert answer["summary"]["updatedSince"]["total"] == 1
    assert answer["summary"]["schemaDiff"]["email"] == "added"


def test_delete_snapshot(alice: Tenant) -> None:
    # Given a snapshot
    _, sheet_id = alice.sheet()
    snapshot_id = alice.http.post("/v1/snapshots", json={"sheetId": sheet_id}).json()["data"]["id"]

    # When it is deleted
    answer = alice.http.delete(f"/v1/snapshots/{snapshot_id}")

    # Then it is gone from every call
    assert answer.json() == {"data": {"success": True}}
    assert alice.http.get(f"/v1/snapshots/{snapshot_id}").status_code == 404
    assert alice.http.post(f"/v1/snapshots/{snapshot_id}/restore").status_code == 404
    assert alice.http.get("/v1/snapshots", params={"sheetId": sheet_id}).json() == {"data": []}


def test_another_tenants_ids_are_not_found(alice: Tenant, bob: Tenant) -> None:
    # Given alice's workbook, sheet, record and snapshot
    workbook_id, sheet_id = alice.sheet()
    record_id = alice.insert(sheet_id, [{"name": "secret", "age": 1}])[0]
    snapshot_id = alice.http.post("/v1/snapshots", json={"sheetId": sheet_id}).json()["data"]["id"]
    _, bob_sheet = bob.sheet()

    # When bob uses any of alice's ids
    attempts = [
        bob.http.get(f"/v1/workbooks/{workbook_id}"),
        bob.http.delete(f"/v1/workbooks/{workbook_id}"),
        bob.http.get(f"/v1/sheets/{sheet_id}"),
        bob.http.get(f"/v1/sheets/{sheet_id}/records"),
        bob.http.post(f"/v1/sheets/{sheet_id}/records", json=[cells({"name": "x"})]),
        bob.http.delete(f"/v1/sheets/{sheet_id}/records", params={"ids": record_id}),
        bob.http.delete(f"/v1/sheets/{bob_sheet}/records", params={"ids": record_id}),
        bob.http.put(f"/v1/sheets/{bob_sheet}/records", json=[{"id": record_id, "values": {}}]),
        bob.http.post("/v1/snapshots", json={"sheetId": sheet_id}),
        bob.http.get("/v1/snapshots", params={"sheetId": sheet_id}),
        bob.http.get(f"/v1/snapshots/{snapshot_id}"),
        bob.http.get(f"/v1/snapshots/{snapshot_id}/records"),
        bob.http.post(f"/v1/snapshots/{snapshot_id}/restore"),
        bob.http.delete(f"/v1/snapshots/{snapshot_id}"),
        bob.http.get(
            "/v1/workbooks",
            params={
                "spaceId": alice.http.get(f"/v1/workbooks/{workbook_id}").json()["data"]["spaceId"]
            },
        ),
    ]
    unknown = bob.http.get("/v1/snapshots/us_ss_0000000000000000")

    # Then every answer is 404 in Flatfile's error shape, like an unknown id
    for response in [*attempts, unknown]:
        assert response.status_code == 404, response.text
        assert list(response.json()) == ["errors"]
        assert response.json()["errors"][0]["message"]
    # and alice's data is untouched, and bob's listing does not show it
    assert alice.records(sheet_id)[0][0] == record_id
    bob_books = bob.http.get("/v1/workbooks").json()["data"]
    assert workbook_id not in [w["id"] for w in bob_books]


def test_bad_input_gets_flatfile_errors(alice: Tenant, server: AmberServer) -> None:
    _, sheet_id = alice.sheet()
    records = f"/v1/sheets/{sheet_id}/records"
    json_type = {"Content-Type": "application/json"}

    # When requests are malformed, mistyped, unknown, unauthenticated or too large
    cases = [
        (alice.http.post(records, content=b"[{", headers=json_type), 400),
        (alice.http.post(records, json={"name": {"value": "x"}}), 400),
        (alice.http.post(records, json=[{"nope": {"value": 1}}]), 400),
        (alice.http.post(records, json=[{"name": {"value": {"deep": 1}}}]), 400),
        (alice.http.post(records, json=[{"name": "bare"}]), 400),
        (alice.http.put(records, json=[{"values": {}}]), 400),
        (alice.http.delete(records), 400),
        (alice.http.get(records, params={"pageSize": 0}), 400),
        (alice.http.post("/v1/snapshots", json={"sheetId": 5}), 400),
        (alice.http.post("/v1/snapshots", json={}), 400),
        (alice.http.post("/v1/workbooks", json={"name": "x", "sheets": [{"name": "y"}]}), 400),
        (alice.http.get("/v1/snapshots", params={"sheetId": "us_sh_missing"}), 404),
        (alice.http.put(records, json=[{"id": "us_rc_missing", "values": {}}]), 404),
        (alice.http.delete(records, params={"ids": "us_rc_missing"}), 404),
        (httpx.get(f"{server.url}{records}"), 401),
        (alice.http.post(records, json=[cells({"name": "x" * MAX_BODY})]), 413),
    ]
    snapshot_id = alice.http.post("/v1/snapshots", json={"sheetId": sheet_id}).json()["data"]["id"]
    cases += [
        (alice.http.get(f"/v1/snapshots/{snapshot_id}/records", params={"changeType": "x"}), 400),
        (alice.http.post(f"/v1/snapshots/{snapshot_id}/restore", json={"created": "yes"}), 400),
    ]

    # Then each is {"errors": [{"key"?, "message"}]} with the right status, never a 500
    for response, status in cases:
        assert response.status_code == status, (status, response.text)
        errors = response.json()["errors"]
        assert errors and all(isinstance(e["message"], str) for e in errors)
        assert all(set(e) <= {"key", "message"} for e in errors)
    # and a refused insert wrote nothing
    assert alice.records(sheet_id) == []


def test_openapi_lists_the_flatfile_routes(server: AmberServer) -> None:
    # When the OpenAPI document is fetched
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]

    # Then the snapshot and record routes are in it
    for path in (
        "/v1/workbooks",
        "/v1/sheets/{sheet_id}/records",
        "/v1/snapshots",
        "/v1/snapshots/{snapshot_id}",
        "/v1/snapshots/{snapshot_id}/restore",
        "/v1/snapshots/{snapshot_id}/records",
    ):
        assert path in paths, path


def test_unstorable_text_is_refused_on_postgres(pg_alice: Tenant) -> None:
    # Given a sheet on PostgreSQL, which refuses NUL bytes in text columns
    _, sheet_id = pg_alice.sheet()
    records = f"/v1/sheets/{sheet_id}/records"
    json_type = {"Content-Type": "application/json"}

    # When ids, queries and bodies carry NUL bytes or lone surrogates
    cases = [
        (pg_alice.http.get("/v1/sheets/us_sh_%00"), 404),
        (pg_alice.http.get("/v1/workbooks/a%00b"), 404),
        (pg_alice.http.get("/v1/snapshots/us_ss_%00"), 404),
        (pg_alice.http.get("/v1/workbooks", params={"spaceId": "a\x00"}), 404),
        (pg_alice.http.delete(records, params={"ids": "us_rc_\x00"}), 404),
        (pg_alice.http.post("/v1/workbooks", json={"name": "a\x00b", "sheets": [CONTACTS]}), 400),
        (pg_alice.http.post("/v1/snapshots", json={"sheetId": sheet_id, "label": "\x00"}), 400),
        (pg_alice.http.get("/v1/snapshots", params={"sheetId": sheet_id, "threadId": "\x00"}), 400),
        (
            pg_alice.http.post(
                records, content=b'[{"name": {"value": "\\ud800"}}]', headers=json_type
            ),
            400,
        ),
    ]

    # Then each is a Flatfile 4xx, never a 500
    for response, status in cases:
        assert response.status_code == status, response.text
        assert response.json()["errors"][0]["message"]
    # and a NUL inside a cell value is kept exactly, since values are escaped JSON text
    [record_id] = pg_alice.insert(sheet_id, [{"name": "a\x00b", "age": 1}])
    assert pg_alice.records(sheet_id) == [(record_id, {"name": "a\x00b", "age": 1})]
