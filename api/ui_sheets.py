"""The sheets browser (Flatfile): workbooks, a sheet's records and snapshots, and restore.

Restore is the one action in the kinds browsers. It takes two steps: the
snapshot page says what a restore would undo and links to a confirmation
page, whose POST form carries the CSRF token. The work itself is
`crawler.domains.sheets.snapshots.restore`, as for the Flatfile API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from api.csrf import FIELD, csrf_token, verify_csrf
from api.deps import SessionDep, StateDep
from api.errors import WEB
from api.templating import render
from api.ui_access import WebPrincipal, to_login
from crawler.auth import Principal
from crawler.domains.sheets import records as ff_records
from crawler.domains.sheets import snapshots as ff_snapshots
from crawler.domains.sheets import workbooks as ff_workbooks
from crawler.domains.sheets.ids import not_found
from crawler.domains.sheets.tables import SheetRow, SheetSnapshotRow, WorkbookRow

router = APIRouter(tags=[WEB], include_in_schema=False)
RECORDS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class WorkbookLine:
    workbook: WorkbookRow
    sheets: list[SheetRow]


def _mine(principal: Principal, workspace_id: str, kind: str, item_id: str) -> None:
    """Only the user's own workspaces, even for an admin: the UI shows one tenant at a time."""
    if workspace_id not in principal.workspace_ids:
        raise not_found(kind, item_id)


@router.get("/kinds/sheets", response_model=None)
def sheet_list(request: Request, session: SessionDep, principal: WebPrincipal) -> Response:
    if principal is None:
        return to_login(request)
    books = [
        WorkbookLine(book, ff_workbooks.sheets_of(session, book.id))
        for book in ff_workbooks.list_workbooks(session, principal, None)
        if book.workspace_id in principal.workspace_ids
    ]
    return render(request, "kinds/sheets.html", {"user": principal.username, "books": books})


@router.get("/kinds/sheets/{sheet_id}", response_model=None)
def sheet_page(
    sheet_id: str, request: Request, session: SessionDep, principal: WebPrincipal
) -> Response:
    if principal is None:
        return to_login(request)
    sheet = ff_workbooks.get_sheet(session, principal, sheet_id)
    _mine(principal, sheet.workspace_id, "Sheet", sheet_id)
    fields = [f.get("key", "") for f in sheet.config.get("fields", []) if isinstance(f, dict)]
    rows = ff_records.list_records(session, sheet, page_size=RECORDS_SHOWN, page_number=1)
    return render(
        request,
        "kinds/sheet.html",
        {
            "user": principal.username,
            "sheet": sheet,
            "fields": fields,
            "records": rows,
            "counts": ff_records.counts(session, sheet.id),
            "snapshots": ff_snapshots.list_snapshots(session, sheet, thread_id=None),
            "restored": request.query_params.get("restored", ""),
        },
    )


def _snapshot(
    session: SessionDep, principal: Principal, snapshot_id: str
) -> tuple[SheetSnapshotRow, SheetRow]:
    snapshot, sheet = ff_snapshots.get_snapshot(session, principal, snapshot_id)
    _mine(principal, snapshot.workspace_id, "Snapshot", snapshot_id)
    return snapshot, sheet


def _changes(summary: dict[str, Any]) -> dict[str, int]:
    return {
        name: int(summary.get(name, {}).get("total", 0))
        for name in ("createdSince", "updatedSince", "deletedSince")
    }


@router.get("/kinds/sheets/snapshots/{snapshot_id}", response_model=None)
def snapshot_page(
    snapshot_id: str,
    request: Request,
    session: SessionDep,
    principal: WebPrincipal,
    state: StateDep,
) -> Response:
    """The snapshot and what changed since; `?confirm=1` is the restore confirmation."""
    if principal is None:
        return to_login(request)
    snapshot, sheet = _snapshot(session, principal, snapshot_id)
    summary = ff_snapshots.summarize(session, state.blobs, snapshot, sheet)
    return render(
        request,
        "kinds/sheet_snapshot.html",
        {
            "user": principal.username,
            "snapshot": snapshot,
            "sheet": sheet,
            "changes": _changes(summary),
            "confirm": request.query_params.get("confirm") == "1",
            "csrf_field": FIELD,
            "csrf_token": csrf_token(request),
        },
    )


@router.post("/kinds/sheets/snapshots/{snapshot_id}/restore", response_model=None)
def restore_snapshot(
    snapshot_id: str,
    request: Request,
    session: SessionDep,
    principal: WebPrincipal,
    state: StateDep,
    token: Annotated[str, Form(alias=FIELD, max_length=200)] = "",
) -> Response:
    """Put the sheet back as the snapshot kept it (every kind of change undone)."""
    if principal is None:
        return to_login(request)
    verify_csrf(request, token)
    snapshot, sheet = _snapshot(session, principal, snapshot_id)
    ff_snapshots.restore(session, state.blobs, snapshot, sheet, ff_snapshots.RestoreOptions())
    session.commit()
    return RedirectResponse(f"/kinds/sheets/{sheet.id}?restored={snapshot.id}", status_code=303)
