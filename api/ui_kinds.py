"""Read-only browsers for the other kinds Amber keeps: dashboards, notes and CMS entries.

Each page lists the signed-in user's items (only their own workspaces, even for
an admin, so one tenant's list never shows another's) and opens one item with
its snapshots. Reads go through the same domain functions as the dialect APIs
(`crawler.domains.*`), so access rules are theirs. Sheets, which can be
restored, live in `api.ui_sheets`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from api.deps import SessionDep, StateDep
from api.errors import WEB
from api.templating import render
from api.ui_access import WebPrincipal, to_login
from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.domains import dashboards, notes
from crawler.domains.bodies import get_json
from crawler.domains.content import entities as cma_entities
from crawler.domains.content import publishing as cma_publishing
from crawler.domains.content import spaces as cma_spaces
from crawler.domains.content.render import ENTRY
from crawler.domains.content.tables import ContentEntryRow
from crawler.errors import NotFound

router = APIRouter(tags=[WEB], include_in_schema=False)
LIST_LIMIT = 200  # items per kind on one list page; the dialect APIs page further


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _page(request: Request, principal: Principal, name: str, **context: Any) -> Response:
    return render(request, name, {"user": principal.username, **context})


@router.get("/kinds", response_model=None)
def kinds_index(request: Request, principal: WebPrincipal) -> Response:
    if principal is None:
        return to_login(request)
    return _page(request, principal, "kinds/index.html")


# Dashboards (Grafana): a snapshot is the item; snapshots of one dashboard share its title.


@dataclass(frozen=True, slots=True)
class DashboardGroup:
    name: str
    snapshots: list[dashboards.DashboardSnapshot]


@router.get("/kinds/dashboards", response_model=None)
def dashboard_list(request: Request, session: SessionDep, principal: WebPrincipal) -> Response:
    if principal is None:
        return to_login(request)
    groups: dict[str, list[dashboards.DashboardSnapshot]] = {}
    for workspace_id in principal.workspace_ids:
        for row in dashboards.search(
            session, principal=principal, workspace_id=workspace_id, limit=LIST_LIMIT
        ):
            groups.setdefault(row.name, []).append(row)
    items = [DashboardGroup(name, rows) for name, rows in sorted(groups.items())]
    return _page(request, principal, "kinds/dashboards.html", groups=items)


@router.get("/kinds/dashboards/{key}", response_model=None)
def dashboard_page(
    key: str, request: Request, session: SessionDep, principal: WebPrincipal, state: StateDep
) -> Response:
    if principal is None:
        return to_login(request)
    row = dashboards.by_key(session, key)
    mine = row.workspace_id in principal.workspace_ids and (
        row.user_id == principal.user_id or principal.is_workspace_admin(row.workspace_id)
    )
    if not mine:
        raise NotFound("Dashboard snapshot not found")
    model = dashboards.dashboard_of(state.blobs, row)
    panels = model.get("panels", []) if isinstance(model, dict) else []
    return _page(
        request,
        principal,
        "kinds/dashboard.html",
        row=row,
        model=model if isinstance(model, dict) else {},
        panels=[p for p in panels if isinstance(p, dict)],
        source=pretty(model),
    )


# Notes (Sidvy): a note, its current content and its last few versions.


@router.get("/kinds/notes", response_model=None)
def note_list(request: Request, session: SessionDep, principal: WebPrincipal) -> Response:
    if principal is None:
        return to_login(request)
    rows = notes.list_notes(
        session, principal=principal, workspace_id=None, limit=LIST_LIMIT, offset=0
    )
    return _page(request, principal, "kinds/notes.html", notes=rows)


@router.get("/kinds/notes/{note_id}", response_model=None)
def note_page(
    note_id: str, request: Request, session: SessionDep, principal: WebPrincipal, state: StateDep
) -> Response:
    if principal is None:
        return to_login(request)
    note = notes.get_note(session, principal=principal, note_id=note_id)
    if note.workspace_id not in principal.workspace_ids:
        raise NotFound("Note not found")
    history = notes.list_snapshots(session, principal=principal, note_id=note.id)
    return _page(
        request,
        principal,
        "kinds/note.html",
        note=note,
        content=notes.content_of(state.blobs, note.content_sha256),
        history=[(s, notes.content_of(state.blobs, s.content_sha256)) for s in history],
    )


# CMS entries (Contentful): entries of the master environment and their publish snapshots.


@dataclass(frozen=True, slots=True)
class EntryLine:
    space_id: str
    space_name: str
    row: ContentEntryRow
    title: str


def entry_title(fields: Any, fallback: str) -> str:
    """The first text value of the entry (fields are {name: {locale: value}})."""
    if isinstance(fields, dict):
        for by_locale in fields.values():
            if isinstance(by_locale, dict):
                for value in by_locale.values():
                    if isinstance(value, str) and value.strip():
                        return value.strip()[:200]
    return fallback


def _entries(session: Session, blobs: BlobStore, principal: Principal) -> list[EntryLine]:
    lines = []
    for space in cma_spaces.spaces_of(session, principal):
        env = cma_spaces.Environment(space.id, cma_spaces.MASTER)
        _, rows = cma_entities.list_rows(session, ContentEntryRow, env, skip=0, limit=LIST_LIMIT)
        for row in rows:
            fields = cma_entities.body_of(blobs, row)
            lines.append(EntryLine(space.id, space.name, row, entry_title(fields, row.id)))
    return lines


@router.get("/kinds/content", response_model=None)
def entry_list(
    request: Request, session: SessionDep, principal: WebPrincipal, state: StateDep
) -> Response:
    if principal is None:
        return to_login(request)
    entries = _entries(session, state.blobs, principal)
    return _page(request, principal, "kinds/entries.html", entries=entries)


@router.get("/kinds/content/{space_id}/{entry_id}", response_model=None)
def entry_page(
    space_id: str,
    entry_id: str,
    request: Request,
    session: SessionDep,
    principal: WebPrincipal,
    state: StateDep,
) -> Response:
    if principal is None:
        return to_login(request)
    if space_id not in principal.workspace_ids:
        raise NotFound("Entry not found")
    env = cma_spaces.open_environment(session, principal, space_id, cma_spaces.MASTER)
    row = cma_entities.get_entry(session, env, entry_id)
    fields = cma_entities.body_of(state.blobs, row)
    _, published = cma_publishing.list_snapshots(
        session, env, entity_type=ENTRY, entity_id=row.id, skip=0, limit=LIST_LIMIT
    )
    return _page(
        request,
        principal,
        "kinds/entry.html",
        row=row,
        title=entry_title(fields, row.id),
        fields=pretty(fields),
        history=[(s, pretty(get_json(state.blobs, s.body_sha))) for s in published],
    )
