"""A sheet's records: bulk SQL on the `sheet_record` table, validated against the sheet's config."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from crawler.domains.bodies import canonical_json
from crawler.domains.sheets.ids import record_id, well_formed
from crawler.domains.sheets.tables import SheetRecordRow, SheetRow
from crawler.domains.sheets.validate import (
    Invalid,
    Validator,
)
from crawler.errors import NotFound

RECORDS = SheetRecordRow.__table__  # type: ignore[attr-defined]
ID_BATCH = 500  # ids per IN (...) list: well under every backend's bind limit


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
        query = query.where(RECORDS.c.id.in_([i for i in ids if well_formed(i)]))
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
    current = _existing(session, sheet.id, [i for i in changes if well_formed(i)])
    missing = [rid for rid in changes if rid not in current]
    if missing:
        raise NotFound(f"Record {missing[0]} not found in sheet {sheet.id}")
    records = [Record(rid, {**json.loads(current[rid]), **cells}) for rid, cells in changes.items()]
    if records:
        write_data(session.connection(), validator, records)
    return records


def write_data(conn: Connection, validator: Validator, records: Iterable[Record]) -> None:
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
    current = _existing(session, sheet.id, [i for i in unique if well_formed(i)])
    missing = [rid for rid in unique if rid not in current]
    if missing:
        raise NotFound(f"Record {missing[0]} not found in sheet {sheet.id}")
    delete_ids(session.connection(), unique)
    return len(unique)


def delete_ids(conn: Connection, ids: Sequence[str]) -> None:
    for start in range(0, len(ids), ID_BATCH):
        conn.execute(RECORDS.delete().where(RECORDS.c.id.in_(list(ids[start : start + ID_BATCH]))))


def revalidate(conn: Connection, sheet: SheetRow) -> None:
    """After a config change, recompute every record's validity."""
    validator = Validator(sheet.config)
    rows = conn.execute(
        select(RECORDS.c.id, RECORDS.c.data).where(RECORDS.c.sheet_id == sheet.id)
    ).all()
    if rows:
        write_data(conn, validator, (Record(rid, json.loads(data)) for rid, data in rows))
