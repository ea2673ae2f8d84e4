"""Grafana's dashboard-snapshot API, so grafana-client and Grafana itself work against Amber.

Grafana numbers orgs, users and snapshots with integers; Amber's workspaces and
users get stable numbers from `crawler.domains.numbers_store`. The caller's org
is their default workspace, or the one named by the ``X-Grafana-Org-Id`` header.
Every path also answers with a trailing slash, as Grafana's router does.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from sqlmodel import Session, col, select

from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import DASHBOARDS
from crawler.auth import Principal
from crawler.bounds import INT32_MAX, MAX_EXPIRES
from crawler.clock import iso
from crawler.domains import dashboards as snaps
from crawler.domains.numbers_store import ORG, USER, number_for, numbers_for, ref_for
from crawler.errors import Forbidden, InvalidInput
from crawler.models import Workspace

router = APIRouter(tags=[DASHBOARDS])

ORG_NUMBER = re.compile(r"[0-9]{1,10}")  # ASCII digits only: str.isdigit() takes "²"
DELETED = "Snapshot deleted. It might take an hour before it's cleared from any CDN caches."
Handler = TypeVar("Handler", bound=Callable[..., Any])


def _route(method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
    """Register `path` and, hidden from the schema, `path/`."""

    in_schema = options.pop("include_in_schema", True)

    def register(handler: Handler) -> Handler:
        router.add_api_route(
            path, handler, methods=[method], include_in_schema=in_schema, **options
        )
        router.add_api_route(
            path + "/", handler, methods=[method], include_in_schema=False, **options
        )
        return handler

    return register


def current_org(request: Request, session: SessionDep, principal: PrincipalDep) -> str:
    """The workspace this request acts in, as Grafana's current org."""
    header = request.headers.get("x-grafana-org-id", "").strip()
    if not header:
        return principal.default_workspace_id
    if not ORG_NUMBER.fullmatch(header) or int(header) > INT32_MAX:
        raise InvalidInput("X-Grafana-Org-Id must be an integer between 0 and 2147483647")
    workspace_id = ref_for(session, kind=ORG, number=int(header))
    if workspace_id is None or not principal.can_read(workspace_id):
        raise Forbidden("You are not a member of this organization")
    return workspace_id


OrgDep = Annotated[str, Depends(current_org)]


def base_url(request: Request, state: StateDep) -> str:
    return (state.settings.base_url or str(request.base_url)).rstrip("/")


class CreateSnapshotBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dashboard: dict[str, Any]
    name: StrictStr | None = Field(default=None, max_length=255)
    expires: StrictInt = Field(default=0, ge=0, le=MAX_EXPIRES)
    external: StrictBool = False
    key: StrictStr | None = None
    deleteKey: StrictStr | None = None


@_route("POST", "/api/snapshots")
def create_snapshot(
    body: CreateSnapshotBody,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    org: OrgDep,
    state: StateDep,
) -> dict[str, Any]:
    """Store a snapshot of the posted dashboard model; answers its share and delete URLs."""
    if body.external and not state.settings.external_snapshots:
        raise Forbidden("External dashboard creation is disabled")
    row = snaps.create_snapshot(
        session,
        state.blobs,
        principal=principal,
        workspace_id=org,
        dashboard=body.dashboard,
        name=body.name,
        expires=body.expires,
        external=body.external,
        key=body.key,
        delete_key=body.deleteKey,
    )
    base = base_url(request, state)
    url = f"{base}/dashboard/snapshot/{row.key}"
    if row.external:
        # Amber is its own external snapshot server: the external copy is this one.
        row.external_url = url
        session.add(row)
    session.commit()
    return {
        "key": row.key,
        "deleteKey": row.delete_key,
        "url": url,
        "deleteUrl": f"{base}/api/snapshots-delete/{row.delete_key}",
        "id": row.id,
    }


def _listing(session: Session, rows: list[snaps.DashboardSnapshot]) -> list[dict[str, Any]]:
    orgs = numbers_for(session, kind=ORG, refs=[r.workspace_id for r in rows])
    users = numbers_for(session, kind=USER, refs=[r.user_id for r in rows])
    return [
        {
            "id": r.id,
            "name": r.name,
            "key": r.key,
            "orgId": orgs[r.workspace_id],
            "userId": users[r.user_id],
            "external": r.external,
            "externalUrl": r.external_url,
            "expires": iso(r.expires_at),
            "created": iso(r.created_at),
            "updated": iso(r.updated_at),
        }
        for r in rows
    ]


@_route("GET", "/api/dashboard/snapshots")
def search_snapshots(
    session: SessionDep,
    principal: PrincipalDep,
    org: OrgDep,
    query: str = "",
    limit: Annotated[int, Query(ge=0, le=100_000)] = 1000,
) -> list[dict[str, Any]]:
    """Org admins see every snapshot of the org, everyone else only their own."""
    rows = snaps.search(
        session, principal=principal, workspace_id=org, query=query, limit=limit or 1000
    )
    listing = _listing(session, list(rows))
    session.commit()  # keeps any newly allocated org/user numbers
    return listing


@_route("GET", "/api/snapshots/{key}")
def get_snapshot(
    key: str, response: Response, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    """Public: the key itself is the credential, as in Grafana."""
    row = snaps.by_key(session, key)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return {
        "meta": {
            "isSnapshot": True,
            "type": "snapshot",
            "created": iso(row.created_at),
            "expires": iso(row.expires_at),
            "canSave": False,
            "canEdit": False,
            "canAdmin": False,
            "canStar": False,
            "slug": "",
            "url": "",
        },
        "dashboard": snaps.dashboard_of(state.blobs, row),
    }


@_route("GET", "/dashboard/snapshot/{key}", response_class=HTMLResponse, include_in_schema=False)
def snapshot_page(key: str, session: SessionDep, state: StateDep) -> HTMLResponse:
    """The page a snapshot's `url` points at: Grafana's viewer is not here, so show the model."""
    row = snaps.by_key(session, key)
    model = json.dumps(snaps.dashboard_of(state.blobs, row), indent=2, ensure_ascii=False)
    name = html.escape(row.name)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{name}</title></head>"
        f"<body><h1>{name}</h1><p>Snapshot taken {iso(row.created_at)}, "
        f"expires {iso(row.expires_at)}.</p><pre>{html.escape(model)}</pre></body></html>"
    )
    return HTMLResponse(page, headers={"Cache-Control": "public, max-age=3600"})


@_route("DELETE", "/api/snapshots/{key}")
def delete_snapshot(key: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    row = snaps.deletable_by_key(session, principal=principal, key=key)
    snapshot_id = row.id
    snaps.remove(session, row)
    session.commit()
    return {"message": DELETED, "id": snapshot_id}


@_route("GET", "/api/snapshots-delete/{deleteKey}")
def delete_by_delete_key(deleteKey: str, session: SessionDep) -> dict[str, Any]:  # noqa: N803
    """Public: whoever holds the delete key may delete, which is why it differs from the key."""
    row = snaps.by_delete_key(session, deleteKey)
    snapshot_id = row.id
    snaps.remove(session, row)
    session.commit()
    return {"message": DELETED, "id": snapshot_id}


@_route("GET", "/api/snapshot/shared-options")
def shared_options(request: Request, principal: PrincipalDep, state: StateDep) -> dict[str, Any]:
    enabled = state.settings.external_snapshots
    return {
        "snapshotEnabled": True,
        "externalSnapshotURL": base_url(request, state) if enabled else "",
        "externalSnapshotName": "Amber" if enabled else "",
        "externalEnabled": enabled,
    }


def _role(principal: Principal, workspace_id: str) -> str:
    return "Admin" if workspace_id in principal.admin_workspace_ids else "Editor"


@_route("GET", "/api/user/orgs")
def user_orgs(session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The caller's workspaces as Grafana orgs, so clients can pick one by X-Grafana-Org-Id."""
    names = dict(
        session.exec(
            select(Workspace.id, Workspace.name).where(
                col(Workspace.id).in_(principal.workspace_ids)
            )
        ).all()
    )
    orgs = [
        {
            "orgId": number_for(session, kind=ORG, ref=workspace_id),
            "name": names.get(workspace_id, ""),
            "role": _role(principal, workspace_id),
        }
        for workspace_id in principal.workspace_ids
    ]
    session.commit()
    return orgs
