"""Flatfile resource shapes: Workbook, Sheet, Record and Snapshot, as the API returns them."""

from __future__ import annotations

from typing import Any

from crawler.clock import iso
from crawler.domains.sheets.tables import SheetRow, SheetSnapshotRow, WorkbookRow
from crawler.domains.sheets.validate import Validator


def user_ref(user_id: str) -> str:
    """Flatfile's ``us_usr_…`` form of an Amber user id."""
    return "us_usr_" + user_id.replace("-", "")


def sheet_json(sheet: SheetRow, counts: dict[str, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": sheet.id,
        "workbookId": sheet.workbook_id,
        "name": sheet.name,
        "slug": sheet.slug,
        "config": sheet.config,
        "metadata": {},
        "createdAt": iso(sheet.created_at),
        "updatedAt": iso(sheet.updated_at),
    }
    if counts is not None:
        out["countRecords"] = counts
    return out


def workbook_json(workbook: WorkbookRow, sheets: list[SheetRow]) -> dict[str, Any]:
    return {
        "id": workbook.id,
        "name": workbook.name,
        "spaceId": workbook.workspace_id,
        "environmentId": workbook.environment_id,
        "labels": workbook.labels,
        "sheets": [sheet_json(sheet) for sheet in sheets],
        "metadata": {},
        "createdAt": iso(workbook.created_at),
        "updatedAt": iso(workbook.updated_at),
    }


def record_json(record_id: str, values: dict[str, Any], validator: Validator) -> dict[str, Any]:
    """A Record: each stored cell with its messages, plus any required field left empty."""
    cells: dict[str, Any] = {}
    for key in [*values, *(k for k in validator.required if k not in values)]:
        value = values.get(key)
        messages = validator.cell_messages(key, value)
        cells[key] = {"value": value, "valid": not messages, "messages": messages}
    return {
        "id": record_id,
        "values": cells,
        "valid": all(cell["valid"] for cell in cells.values()),
        "messages": [],
        "metadata": {},
    }


def snapshot_json(
    snapshot: SheetSnapshotRow, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": snapshot.id,
        "sheetId": snapshot.sheet_id,
        "label": snapshot.label,
        "threadId": snapshot.thread_id,
        "createdAt": iso(snapshot.created_at),
        "createdBy": user_ref(snapshot.created_by_id),
    }
    if summary is not None:
        out["summary"] = summary
    return out
