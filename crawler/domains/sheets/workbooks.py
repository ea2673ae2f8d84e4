"""Workbooks and their sheets: create, find (in the caller's workspaces), reconfigure, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session, col

from crawler.auth import Principal
from crawler.clock import prefixed_id, utcnow
from crawler.domains.sheets.ids import WORKSPACE_ID, not_found, well_formed
from crawler.domains.sheets.records import revalidate
from crawler.domains.sheets.tables import SheetRecordRow, SheetRow, SheetSnapshotRow, WorkbookRow
from crawler.domains.sheets.validate import (
    Invalid,
    check_text,
    normalize_sheet_config,
)
from crawler.models import Workspace


def resolve_space(session: Session, principal: Principal, space_id: str | None) -> str:
    if space_id is None:
        return principal.default_workspace_id
    workspace = session.get(Workspace, space_id) if WORKSPACE_ID.match(space_id) else None
    if workspace is None or not principal.can_read(workspace.id):
        raise not_found("Space", space_id)
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
    workbook = session.get(WorkbookRow, workbook_id) if well_formed(workbook_id) else None
    if workbook is None or not principal.can_read(workbook.workspace_id):
        raise not_found("Workbook", workbook_id)
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
            revalidate(session.connection(), sheet)
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
    sheet = session.get(SheetRow, sheet_id) if well_formed(sheet_id) else None
    if sheet is None or not principal.can_read(sheet.workspace_id):
        raise not_found("Sheet", sheet_id)
    return sheet
