"""Flatfile API dialect under /v1: workbooks, sheets, records and sheet snapshots.

Flatfile's clients send ``X-Disable-Hooks: true``; Amber runs no hooks, so the
header is accepted and has nothing to disable. Routes parse the wire format;
the rules live in `crawler.domains.sheets` and errors are rendered as
``{"errors": [{"key"?, "message"}]}`` by `api.errors`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlmodel import Session

from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import SHEETS
from crawler.auth import Principal
from crawler.bounds import MAX_OFFSET
from crawler.domains.sheets import records as ff_records
from crawler.domains.sheets import snapshots as ff_snapshots
from crawler.domains.sheets import workbooks as ff_workbooks
from crawler.domains.sheets.render import record_json, sheet_json, snapshot_json, workbook_json
from crawler.domains.sheets.tables import SheetRow, WorkbookRow
from crawler.domains.sheets.validate import Validator

router = APIRouter(prefix="/v1", tags=[SHEETS])

Records = Annotated[list[Any], Body(description="A list of records")]


class SheetsBody(BaseModel):
    model_config = ConfigDict(extra="allow")


class WorkbookCreate(SheetsBody):
    name: str = Field(min_length=1, max_length=500)
    spaceId: str | None = None
    environmentId: str | None = Field(default=None, max_length=64)
    labels: list[str] = []
    sheets: list[Any] = []


class WorkbookUpdate(SheetsBody):
    name: str | None = Field(default=None, min_length=1, max_length=500)
    labels: list[str] | None = None
    sheets: list[Any] | None = None


class SnapshotCreate(SheetsBody):
    sheetId: str
    label: str | None = Field(default=None, max_length=500)
    threadId: str | None = Field(default=None, max_length=200)


class RestoreBody(BaseModel):
    """Which kinds of change to undo; with none of the three given, all are undone."""

    created: StrictBool | None = None
    updated: StrictBool | None = None
    deleted: StrictBool | None = None

    def options(self) -> ff_snapshots.RestoreOptions:
        if self.created is None and self.updated is None and self.deleted is None:
            return ff_snapshots.RestoreOptions()
        return ff_snapshots.RestoreOptions(
            created=bool(self.created), updated=bool(self.updated), deleted=bool(self.deleted)
        )


def _workbook(session: Session, workbook: WorkbookRow) -> dict[str, Any]:
    return {"data": workbook_json(workbook, ff_workbooks.sheets_of(session, workbook.id))}


def _records(session: Session, sheet: SheetRow, records: list[ff_records.Record]) -> dict[str, Any]:
    validator = Validator(sheet.config)
    return {
        "data": {
            "success": True,
            "records": [record_json(r.id, r.values, validator) for r in records],
            "counts": ff_records.counts(session, sheet.id),
        }
    }


@router.post("/workbooks", summary="Create a workbook with its sheets")
def create_workbook(
    body: WorkbookCreate, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    workbook, _ = ff_workbooks.create_workbook(
        session,
        principal,
        name=body.name,
        space_id=body.spaceId,
        environment_id=body.environmentId,
        labels=body.labels,
        sheets=body.sheets,
    )
    session.commit()
    return _workbook(session, workbook)


@router.get("/workbooks", summary="List workbooks in the caller's spaces")
def list_workbooks(
    session: SessionDep, principal: PrincipalDep, spaceId: str | None = None
) -> dict[str, Any]:
    rows = ff_workbooks.list_workbooks(session, principal, spaceId)
    return {"data": [workbook_json(w, ff_workbooks.sheets_of(session, w.id)) for w in rows]}


@router.get("/workbooks/{workbook_id}", summary="Get a workbook")
def get_workbook(workbook_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return _workbook(session, ff_workbooks.get_workbook(session, principal, workbook_id))


@router.patch("/workbooks/{workbook_id}", summary="Rename a workbook or change its sheets")
def update_workbook(
    workbook_id: str, body: WorkbookUpdate, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    workbook = ff_workbooks.update_workbook(
        session, principal, workbook_id, name=body.name, labels=body.labels, sheets=body.sheets
    )
    session.commit()
    return _workbook(session, workbook)


@router.delete("/workbooks/{workbook_id}", summary="Delete a workbook, its sheets and snapshots")
def delete_workbook(
    workbook_id: str, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    ff_workbooks.delete_workbook(session, principal, workbook_id)
    session.commit()
    return {"data": {"success": True}}


@router.get("/sheets/{sheet_id}", summary="Get a sheet with its record counts")
def get_sheet(sheet_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    sheet = ff_workbooks.get_sheet(session, principal, sheet_id)
    return {"data": sheet_json(sheet, ff_records.counts(session, sheet.id))}


@router.get("/sheets/{sheet_id}/records", summary="Get records of a sheet")
def get_records(
    sheet_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    pageSize: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    pageNumber: Annotated[int, Query(ge=1, le=MAX_OFFSET // 10_000)] = 1,
    filter: Literal["valid", "error", "all", "none"] = "all",
    ids: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
) -> dict[str, Any]:
    sheet = ff_workbooks.get_sheet(session, principal, sheet_id)
    wanted = [i for raw in ids for i in raw.split(",") if i]
    records = (
        []
        if filter == "none"
        else ff_records.list_records(
            session,
            sheet,
            page_size=pageSize,
            page_number=pageNumber,
            validity=filter,
            ids=wanted,
        )
    )
    return _records(session, sheet, records)


RecordWrite = Callable[[Session, SheetRow, Any], list[ff_records.Record]]


def _write_records(
    session: Session, principal: Principal, sheet_id: str, write: RecordWrite, body: Any
) -> dict[str, Any]:
    """Insert or update: find the sheet, write, commit, answer with the records and counts."""
    sheet = ff_workbooks.get_sheet(session, principal, sheet_id)
    records = write(session, sheet, body)
    session.commit()
    return _records(session, sheet, records)


@router.post("/sheets/{sheet_id}/records", summary="Insert records")
def insert_records(
    sheet_id: str, body: Records, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return _write_records(session, principal, sheet_id, ff_records.insert_records, body)


@router.put("/sheets/{sheet_id}/records", summary="Update records by id")
def update_records(
    sheet_id: str, body: Records, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    answer = _write_records(session, principal, sheet_id, ff_records.update_records, body)
    answer["data"]["versionId"] = "us_vr_" + secrets.token_hex(8)
    return answer


@router.delete("/sheets/{sheet_id}/records", summary="Delete records by id")
def delete_records(
    sheet_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    ids: Annotated[list[str], Query()] = [],  # noqa: B006
) -> dict[str, Any]:
    sheet = ff_workbooks.get_sheet(session, principal, sheet_id)
    ff_records.delete_records(session, sheet, [i for raw in ids for i in raw.split(",") if i])
    session.commit()
    return {"data": {"success": True}}


@router.post("/snapshots", summary="Snapshot a sheet")
def create_snapshot(
    body: SnapshotCreate, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> dict[str, Any]:
    sheet = ff_workbooks.get_sheet(session, principal, body.sheetId)
    snapshot, summary = ff_snapshots.create_snapshot(
        session, state.blobs, principal, sheet, label=body.label, thread_id=body.threadId
    )
    session.commit()
    return {"data": snapshot_json(snapshot, summary)}


@router.get("/snapshots", summary="List the snapshots of a sheet, newest first")
def list_snapshots(
    sheetId: str, session: SessionDep, principal: PrincipalDep, threadId: str | None = None
) -> dict[str, Any]:
    sheet = ff_workbooks.get_sheet(session, principal, sheetId)
    rows = ff_snapshots.list_snapshots(session, sheet, thread_id=threadId)
    return {"data": [snapshot_json(s) for s in rows]}


@router.get("/snapshots/{snapshot_id}", summary="Get a snapshot, optionally with its summary")
def get_snapshot(
    snapshot_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    includeSummary: bool = False,
) -> dict[str, Any]:
    snapshot, sheet = ff_snapshots.get_snapshot(session, principal, snapshot_id)
    summary = (
        ff_snapshots.summarize(session, state.blobs, snapshot, sheet) if includeSummary else None
    )
    return {"data": snapshot_json(snapshot, summary)}


@router.delete("/snapshots/{snapshot_id}", summary="Delete a snapshot")
def delete_snapshot(
    snapshot_id: str, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    snapshot, _ = ff_snapshots.get_snapshot(session, principal, snapshot_id)
    ff_snapshots.delete_snapshot(session, snapshot)
    session.commit()
    return {"data": {"success": True}}


@router.post("/snapshots/{snapshot_id}/restore", summary="Restore a sheet to a snapshot")
def restore_snapshot(
    snapshot_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    body: Annotated[RestoreBody | None, Body()] = None,
) -> dict[str, Any]:
    snapshot, sheet = ff_snapshots.get_snapshot(session, principal, snapshot_id)
    options = (body or RestoreBody()).options()
    summary = ff_snapshots.restore(session, state.blobs, snapshot, sheet, options)
    session.commit()
    return {"data": snapshot_json(snapshot, summary)}


@router.get("/snapshots/{snapshot_id}/records", summary="Records changed since a snapshot")
def snapshot_records(
    snapshot_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    changeType: Literal["createdSince", "updatedSince", "deletedSince"] | None = None,
    pageSize: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
    pageNumber: Annotated[int, Query(ge=1, le=MAX_OFFSET // 10_000)] = 1,
) -> dict[str, Any]:
    snapshot, sheet = ff_snapshots.get_snapshot(session, principal, snapshot_id)
    records = ff_snapshots.diff_records(
        session,
        state.blobs,
        snapshot,
        sheet,
        change_type=changeType,
        page_size=pageSize,
        page_number=pageNumber,
    )
    return {"data": records}
