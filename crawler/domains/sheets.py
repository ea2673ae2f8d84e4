"""Flatfile semantics on Amber's store: workbooks, sheets, records, snapshots and restore.

A Flatfile space is an Amber workspace; a workbook, sheet or snapshot outside
the caller's workspaces is NotFound, exactly like an unknown id. Record writes
are bulk SQL on the `sheet_record` table; a snapshot writes its records to the
blob store as chunks (see `sheets_diff`) and restore puts back exactly the
rows it kept, ids and positions included, with executemany statements.

Callers own the transaction: these functions flush, the API commits.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import prefixed_id, utcnow
from crawler.domains.bodies import canonical_json
from crawler.domains.sheets_diff import Diff, decode_chunk, diff, encode_chunks, summary
from crawler.domains.sheets_tables import SheetRecordRow, SheetRow, SheetSnapshotRow, WorkbookRow
from crawler.domains.sheets_validate import (
    Invalid,
    Validator,
    check_text,
    normalize_sheet_config,
)
from crawler.errors import NotFound
from crawler.models import Workspace

RECORDS = SheetRecordRow.__table__  # type: ignore[attr-defined]
FLATFILE_ID = re.compile(r"^us_[a-z]{2,3}_[0-9a-f]{1,32}$")
WORKSPACE_ID = re.compile(r"^[A-Za-z0-9\-]{1,64}$")
ID_BATCH = 500  # ids per IN (...) list: well under every backend's bind limit


def record_id() -> str:
    return "us_rc_" + secrets.token_hex(8)


def _not_found(kind: str, resource_id: str) -> NotFound:
    return NotFound(f"{kind} {resource_id} not found")


def _well_formed(resource_id: str) -> bool:
    """Ids that cannot exist never reach SQL (PostgreSQL refuses NUL bytes, for one)."""
    return bool(FLATFILE_ID.match(resource_id))


# --- workbooks and sheets -------------------------------------------------------------


def resolve_space(session: Session, principal: Principal, space_id: str | None) -> str:
    if space_id is None:
        return principal.default_workspace_id
    workspace = session.get(Workspace, space_id) if WORKSPACE_ID.match(space_id) else None
    if workspace is None or not principal.can_read(workspace.id):
        raise _not_found("Space", space_id)
    return workspace.id


def create_workbook(
    session: Session,
    principal: Principal,
    *,
    name: str,
    space_id: str | None,
    environment_id: str | None,
    labels: list[str],
    sheets: list[Any],
) -> tuple[WorkbookRow, list[SheetRow]]:
    workspace_id = resolve_space(session, principal, space_id)
    check_text([name, environment_id, labels], "name")
    configs = [normalize_sheet_config(raw, f"sheets.{i}") for i, raw in enumerate(sheets)]
    _unique_slugs(configs)
    now = utcnow()
    workbook = WorkbookRow(
        id=prefixed_id("us_wb_"),
        workspace_id=workspace_id,
        name=name,
        environment_id=environment_id,
        labels=labels,
        created_by_id=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(workbook)
    session.flush()
    rows = [_new_sheet(workbook, config) for config in configs]
    session.add_all(rows)
    session.flush()
    return workbook, rows


def _new_sheet(workbook: WorkbookRow, config: dict[str, Any]) -> SheetRow:
    now = utcnow()
    return SheetRow(
        id=prefixed_id("us_sh_"),
        workbook_id=workbook.id,
        workspace_id=workbook.workspace_id,
        name=config["name"],
        slug=config["slug"],
        config=config,
        created_at=now,
        updated_at=now,
    )


def _unique_slugs(configs: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for index, config in enumerate(configs):
        if config["slug"] in seen:
            raise Invalid([{"key": f"sheets.{index}.slug", "message": "duplicate sheet slug"}])
        seen.add(config["slug"])


def get_workbook(session: Session, principal: Principal, workbook_id: str) -> WorkbookRow:
    workbook = session.get(WorkbookRow, workbook_id) if _well_formed(workbook_id) else None
    if workbook is None or not principal.can_read(workbook.workspace_id):
        raise _not_found("Workbook", workbook_id)
    return workbook


def sheets_of(session: Session, workbook_id: str) -> list[SheetRow]:
    query = (
        select(SheetRow)
        .where(col(SheetRow.workbook_id) == workbook_id)
        .order_by(col(SheetRow.created_at), col(SheetRow.id))
    )
    return list(session.scalars(query).all())


def list_workbooks(
    session: Session, principal: Principal, space_id: str | None
) -> list[WorkbookRow]:
    spaces = [resolve_space(session, principal, space_id)] if space_id else principal.workspace_ids
    query = (
        select(WorkbookRow)
        .where(col(WorkbookRow.workspace_id).in_(list(spaces)))
        .order_by(col(WorkbookRow.created_at), col(WorkbookRow.id))
    )
    return list(session.scalars(query).all())


def update_workbook(
    session: Session,
    principal: Principal,
    workbook_id: str,
    *,
    name: str | None,
    labels: list[str] | None,
    sheets: list[Any] | None,
) -> WorkbookRow:
    """Rename, relabel, or reconfigure sheets (matched by slug; new slugs add sheets)."""
    workbook = get_workbook(session, principal, workbook_id)
    check_text([name, labels], "name")
    if name is not None:
        workbook.name = name
    if labels is not None:
        workbook.labels = labels
    if sheets is not None:
        configs = [normalize_sheet_config(raw, f"sheets.{i}") for i, raw in enumerate(sheets)]
        _unique_slugs(configs)
        existing = {sheet.slug: sheet for sheet in sheets_of(session, workbook.id)}
        for config in configs:
            sheet = existing.get(config["slug"])
            if sheet is None:
                session.add(_new_sheet(workbook, config))
                continue
            sheet.config, sheet.name, sheet.updated_at = config, config["name"], utcnow()
            session.add(sheet)
            _revalidate(session.connection(), sheet)
    workbook.updated_at = utcnow()
    session.add(workbook)
    session.flush()
    return workbook


def delete_workbook(session: Session, principal: Principal, workbook_id: str) -> None:
    workbook = get_workbook(session, principal, workbook_id)
    sheet_ids = [sheet.id for sheet in sheets_of(session, workbook.id)]
    if sheet_ids:
        session.execute(
            delete(SheetSnapshotRow).where(col(SheetSnapshotRow.sheet_id).in_(sheet_ids))
        )
        session.execute(delete(SheetRecordRow).where(col(SheetRecordRow.sheet_id).in_(sheet_ids)))
        session.execute(delete(SheetRow).where(col(SheetRow.id).in_(sheet_ids)))
    session.delete(workbook)
    session.flush()


def get_sheet(session: Session, principal: Principal, sheet_id: str) -> SheetRow:
    sheet = session.get(SheetRow, sheet_id) if _well_formed(sheet_id) else None
    if sheet is None or not principal.can_read(sheet.workspace_id):
        raise _not_found("Sheet", sheet_id)
    return sheet


# --- records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    values: dict[str, Any]


def counts(session: Session, sheet_id: str) -> dict[str, int]:
    total, valid = session.execute(
        select(func.count(), func.coalesce(func.sum(case((RECORDS.c.valid, 1), else_=0)), 0))
        .select_from(RECORDS)
        .where(RECORDS.c.sheet_id == sheet_id)
    ).one()
    return {"total": int(total), "valid": int(valid), "error": int(total) - int(valid)}


def list_records(
    session: Session,
    sheet: SheetRow,
    *,
    page_size: int,
    page_number: int,
    validity: str | None = None,
    ids: Sequence[str] = (),
) -> list[Record]:
    query = select(RECORDS.c.id, RECORDS.c.data).where(RECORDS.c.sheet_id == sheet.id)
    if validity in ("valid", "error"):
        query = query.where(RECORDS.c.valid == (validity == "valid"))
    if ids:
        query = query.where(RECORDS.c.id.in_([i for i in ids if _well_formed(i)]))
    query = query.order_by(RECORDS.c.rownum).offset((page_number - 1) * page_size).limit(page_size)
    return [Record(rid, json.loads(data)) for rid, data in session.execute(query).all()]


def _take_rownums(session: Session, sheet: SheetRow, count: int) -> int:
    """Reserve `count` positions; returns the first. The UPDATE locks the sheet row."""
    session.execute(
        update(SheetRow)
        .where(col(SheetRow.id) == sheet.id)
        .values(record_seq=col(SheetRow.record_seq) + count)
        .execution_options(synchronize_session=False)
    )
    last = session.execute(
        select(col(SheetRow.record_seq)).where(col(SheetRow.id) == sheet.id)
    ).one()[0]
    return int(last) - count + 1


def insert_records(session: Session, sheet: SheetRow, items: Any) -> list[Record]:
    if not isinstance(items, list):
        raise Invalid([{"message": "the body must be a list of records"}])
    validator = Validator(sheet.config)
    records = [
        Record(record_id(), validator.clean_values(cells, str(i))) for i, cells in enumerate(items)
    ]
    if not records:
        return []
    first = _take_rownums(session, sheet, len(records))
    session.connection().execute(
        RECORDS.insert(),
        [
            {
                "id": r.id,
                "sheet_id": sheet.id,
                "rownum": first + i,
                "data": canonical_json(r.values).decode(),
                "valid": validator.is_valid(r.values),
            }
            for i, r in enumerate(records)
        ],
    )
    return records


def _existing(session: Session, sheet_id: str, ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(ids), ID_BATCH):
        batch = list(ids[start : start + ID_BATCH])
        query = select(RECORDS.c.id, RECORDS.c.data).where(
            RECORDS.c.sheet_id == sheet_id, RECORDS.c.id.in_(batch)
        )
        found.update(session.execute(query).tuples().all())
    return found


def update_records(session: Session, sheet: SheetRow, items: Any) -> list[Record]:
    """Merge the given cells into existing records; an unknown id fails the whole request."""
    if not isinstance(items, list):
        raise Invalid([{"message": "the body must be a list of records"}])
    validator = Validator(sheet.config)
    changes: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        rid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(rid, str):
            raise Invalid([{"key": f"{index}.id", "message": "each record needs its id"}])
        values = validator.clean_values(item.get("values", {}), f"{index}.values")
        changes.setdefault(rid, {}).update(values)
    current = _existing(session, sheet.id, [i for i in changes if _well_formed(i)])
    missing = [rid for rid in changes if rid not in current]
    if missing:
        raise NotFound(f"Record {missing[0]} not found in sheet {sheet.id}")
    records = [Record(rid, {**json.loads(current[rid]), **cells}) for rid, cells in changes.items()]
    if records:
        _write_data(session.connection(), validator, records)
    return records


def _write_data(conn: Connection, validator: Validator, records: Iterable[Record]) -> None:
    conn.execute(
        RECORDS.update()
        .where(RECORDS.c.id == bindparam("b_id"))
        .values(data=bindparam("b_data"), valid=bindparam("b_valid")),
        [
            {
                "b_id": r.id,
                "b_data": canonical_json(r.values).decode(),
                "b_valid": validator.is_valid(r.values),
            }
            for r in records
        ],
    )


def delete_records(session: Session, sheet: SheetRow, ids: Sequence[str]) -> int:
    """Delete records by id; an id not in this sheet fails the whole request."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise Invalid([{"key": "ids", "message": "ids is required"}])
    current = _existing(session, sheet.id, [i for i in unique if _well_formed(i)])
    missing = [rid for rid in unique if rid not in current]
    if missing:
        raise NotFound(f"Record {missing[0]} not found in sheet {sheet.id}")
    _delete_ids(session.connection(), unique)
    return len(unique)


def _delete_ids(conn: Connection, ids: Sequence[str]) -> None:
    for start in range(0, len(ids), ID_BATCH):
        conn.execute(RECORDS.delete().where(RECORDS.c.id.in_(list(ids[start : start + ID_BATCH]))))


def _revalidate(conn: Connection, sheet: SheetRow) -> None:
    """After a config change, recompute every record's validity."""
    validator = Validator(sheet.config)
    rows = conn.execute(
        select(RECORDS.c.id, RECORDS.c.data).where(RECORDS.c.sheet_id == sheet.id)
    ).all()
    if rows:
        _write_data(conn, validator, (Record(rid, json.loads(data)) for rid, data in rows))


# --- snapshots ------------------------------------------------------------------------


def _current(session: Session, sheet_id: str) -> dict[str, tuple[int, str]]:
    query = (
        select(RECORDS.c.id, RECORDS.c.rownum, RECORDS.c.data)
        .where(RECORDS.c.sheet_id == sheet_id)
        .order_by(RECORDS.c.rownum)
    )
    return {rid: (rownum, data) for rid, rownum, data in session.execute(query).tuples()}


def _kept(blobs: BlobStore, snapshot: SheetSnapshotRow) -> dict[str, tuple[int, str]]:
    kept: dict[str, tuple[int, str]] = {}
    for sha in snapshot.chunks:
        for rid, rownum, data in decode_chunk(blobs.read(sha)):
            kept[rid] = (rownum, data)
    return kept


def create_snapshot(
    session: Session,
    blobs: BlobStore,
    principal: Principal,
    sheet: SheetRow,
    *,
    label: str | None,
    thread_id: str | None,
) -> tuple[SheetSnapshotRow, dict[str, Any]]:
    """Keep the sheet's records as blob chunks; returns the snapshot and its (empty) summary."""
    check_text([label, thread_id], "label")
    now = _current(session, sheet.id)
    lines = ((rid, rownum, data) for rid, (rownum, data) in now.items())
    chunks = [blobs.put_bytes(chunk).sha256 for chunk in encode_chunks(lines)]
    snapshot = SheetSnapshotRow(
        id=prefixed_id("us_ss_"),
        sheet_id=sheet.id,
        workspace_id=sheet.workspace_id,
        label=label,
        thread_id=thread_id,
        config=sheet.config,
        chunks=chunks,
        record_count=len(now),
        created_by_id=principal.user_id,
        created_at=utcnow(),
    )
    session.add(snapshot)
    session.flush()
    # The snapshot equals the sheet at this instant, so the diff is empty by construction.
    empty = summary(diff(now, now), then_config=sheet.config, now_config=sheet.config)
    return snapshot, empty


def list_snapshots(
    session: Session, sheet: SheetRow, *, thread_id: str | None
) -> list[SheetSnapshotRow]:
    query = select(SheetSnapshotRow).where(col(SheetSnapshotRow.sheet_id) == sheet.id)
    if thread_id is not None:
        check_text(thread_id, "threadId")
        query = query.where(col(SheetSnapshotRow.thread_id) == thread_id)
    query = query.order_by(col(SheetSnapshotRow.created_at).desc(), col(SheetSnapshotRow.id))
    return list(session.scalars(query).all())


def get_snapshot(
    session: Session, principal: Principal, snapshot_id: str
) -> tuple[SheetSnapshotRow, SheetRow]:
    snapshot = session.get(SheetSnapshotRow, snapshot_id) if _well_formed(snapshot_id) else None
    if snapshot is None or not principal.can_read(snapshot.workspace_id):
        raise _not_found("Snapshot", snapshot_id)
    sheet = session.get(SheetRow, snapshot.sheet_id)
    assert sheet is not None  # foreign key
    return snapshot, sheet


def delete_snapshot(session: Session, snapshot: SheetSnapshotRow) -> None:
    """Drop the snapshot row; its chunks stay in the blob store, shared and content-addressed."""
    session.delete(snapshot)
    session.flush()


def compare(
    session: Session, blobs: BlobStore, snapshot: SheetSnapshotRow, sheet: SheetRow
) -> Diff:
    return diff(_kept(blobs, snapshot), _current(session, sheet.id))


def summarize(
    session: Session, blobs: BlobStore, snapshot: SheetSnapshotRow, sheet: SheetRow
) -> dict[str, Any]:
    result = compare(session, blobs, snapshot, sheet)
    return summary(result, then_config=snapshot.config, now_config=sheet.config)


@dataclass(frozen=True, slots=True)
class RestoreOptions:
    """Which kinds of change since the snapshot to undo."""

    created: bool = True
    updated: bool = True
    deleted: bool = True

    @property
    def undone(self) -> list[str]:
        kinds = [("createdSince", self.created), ("updatedSince", self.updated)]
        return [name for name, on in [*kinds, ("deletedSince", self.deleted)] if on]


def restore(
    session: Session,
    blobs: BlobStore,
    snapshot: SheetSnapshotRow,
    sheet: SheetRow,
    options: RestoreOptions,
) -> dict[str, Any]:
    """Undo the chosen kinds of change; returns the summary as it stands afterwards."""
    result = compare(session, blobs, snapshot, sheet)
    after = summary(
        result, then_config=snapshot.config, now_config=sheet.config, undone=options.undone
    )
    conn = session.connection()
    validator = Validator(sheet.config)
    if options.created and result.created:
        _delete_ids(conn, result.created)
    if options.updated and result.updated:
        conn.execute(
            RECORDS.update()
            .where(RECORDS.c.id == bindparam("b_id"))
            .values(data=bindparam("b_data"), valid=bindparam("b_valid")),
            [
                {
                    "b_id": rid,
                    "b_data": result.then[rid][1],
                    "b_valid": validator.is_valid(json.loads(result.then[rid][1])),
                }
                for rid in result.updated
            ],
        )
    if options.deleted and result.deleted:
        conn.execute(
            RECORDS.insert(),
            [
                {
                    "id": rid,
                    "sheet_id": sheet.id,
                    "rownum": result.then[rid][0],
                    "data": result.then[rid][1],
                    "valid": validator.is_valid(json.loads(result.then[rid][1])),
                }
                for rid in result.deleted
            ],
        )
    return after


def diff_records(
    session: Session,
    blobs: BlobStore,
    snapshot: SheetSnapshotRow,
    sheet: SheetRow,
    *,
    change_type: str | None,
    page_size: int,
    page_number: int,
) -> list[dict[str, Any]]:
    """Flatfile DiffRecords: each changed record with value and snapshotValue per field."""
    result = compare(session, blobs, snapshot, sheet)
    if change_type is None:
        position = {
            **{r: p for r, (p, _) in result.then.items()},
            **{r: p for r, (p, _) in result.now.items()},
        }
        ids = sorted([*result.created, *result.updated, *result.deleted], key=position.__getitem__)
    else:
        ids = result.ids(change_type)
    page = ids[(page_number - 1) * page_size : page_number * page_size]
    validator = Validator(sheet.config)
    return [_diff_record(rid, result, validator) for rid in page]


def _diff_record(rid: str, result: Diff, validator: Validator) -> dict[str, Any]:
    now = json.loads(result.now[rid][1]) if rid in result.now else {}
    then = json.loads(result.then[rid][1]) if rid in result.then else {}
    values: dict[str, Any] = {}
    for key in [*then, *(k for k in now if k not in then)]:
        value, before = now.get(key), then.get(key)
        messages = validator.cell_messages(key, value if rid in result.now else before)
        values[key] = {
            "value": value,
            "snapshotValue": before,
            "valid": not messages,
            "messages": messages,
        }
    return {
        "id": rid,
        "values": values,
        "valid": all(v["valid"] for v in values.values()),
        "messages": [],
        "metadata": {},
    }
