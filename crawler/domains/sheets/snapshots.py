"""Sheet snapshots: records kept as blob chunks (see `diff`), compared, and restored exactly.

Restore puts back exactly the rows a snapshot kept, ids and positions
included, with executemany statements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session, col

from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import prefixed_id, utcnow
from crawler.domains.sheets.diff import Diff, decode_chunk, diff, encode_chunks, summary
from crawler.domains.sheets.ids import not_found, well_formed
from crawler.domains.sheets.records import RECORDS, delete_ids
from crawler.domains.sheets.tables import SheetRow, SheetSnapshotRow
from crawler.domains.sheets.validate import (
    Validator,
    check_text,
)


def current_records(session: Session, sheet_id: str) -> dict[str, tuple[int, str]]:
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
    now = current_records(session, sheet.id)
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
    snapshot = session.get(SheetSnapshotRow, snapshot_id) if well_formed(snapshot_id) else None
    if snapshot is None or not principal.can_read(snapshot.workspace_id):
        raise not_found("Snapshot", snapshot_id)
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
    return diff(_kept(blobs, snapshot), current_records(session, sheet.id))


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
        delete_ids(conn, result.created)
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
