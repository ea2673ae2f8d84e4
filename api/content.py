"""Contentful Content Management API dialect under /spaces/{space_id}/environments/{env}.

Enough of the CMA for the official clients to create and publish content types
and entries and to read back the snapshot every master-environment publish
leaves. Spaces are the caller's workspaces (``GET /spaces`` lists them).
Routes parse headers and bodies; the rules live in `crawler.domains.content`,
and errors are rendered in the CMA's shape by `api.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from api.deps import PrincipalDep, SessionDep, StateDep
from api.errors import CONTENT
from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.bounds import INT32_MAX
from crawler.clock import iso
from crawler.domains.bodies import get_json
from crawler.domains.content import entities as cma_entities
from crawler.domains.content import publishing as cma_publishing
from crawler.domains.content import spaces as cma_spaces
from crawler.domains.content.render import (
    CONTENT_TYPE,
    ENTRY,
    array_json,
    content_type_json,
    entry_json,
    link,
    snapshot_json,
)
from crawler.domains.content.select import parse_select, project
from crawler.domains.content.spaces import Environment
from crawler.domains.content.tables import ContentEntryRow, ContentTypeRow
from crawler.errors import InvalidInput
from crawler.models import Workspace

router = APIRouter(prefix="/spaces", tags=[CONTENT])

ENV = "/{space_id}/environments/{environment_id}"
SEGMENTS = {ENTRY: "entries", CONTENT_TYPE: "content_types"}


def environment(
    space_id: str, environment_id: str, session: SessionDep, principal: PrincipalDep
) -> Environment:
    return cma_spaces.open_environment(session, principal, space_id, environment_id)


def contentful_version(
    x_contentful_version: Annotated[str | None, Header()] = None,
) -> int | None:
    if x_contentful_version is None:
        return None
    try:
        version = int(x_contentful_version)
    except ValueError as exc:
        raise InvalidInput("X-Contentful-Version must be an integer") from exc
    if not 0 <= version <= INT32_MAX:
        raise InvalidInput(f"X-Contentful-Version must be between 0 and {INT32_MAX}")
    return version


EnvDep = Annotated[Environment, Depends(environment)]
VersionDep = Annotated[int | None, Depends(contentful_version)]
SkipQuery = Annotated[str | None, Query(description="Items to skip (default 0).")]
LimitQuery = Annotated[str | None, Query(description="Page size (default 100, max 1000).")]
SelectQuery = Annotated[
    str | None, Query(description="Comma-separated paths to keep, e.g. sys.id,snapshot.fields")
]


class ContentTypeBody(BaseModel):
    """A content type schema; the domain checks it field by field like the CMA."""

    model_config = ConfigDict(extra="allow")
    name: Any = None
    description: Any = None
    displayField: Any = None
    fields: Any = []


class EntryBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    fields: Any = {}
    metadata: Any = None


def render(blobs: BlobStore, row: ContentTypeRow | ContentEntryRow) -> dict[str, Any]:
    body = cma_entities.body_of(blobs, row)
    if isinstance(row, ContentEntryRow):
        return entry_json(row, body)
    return content_type_json(row, body)


@dataclass(frozen=True, slots=True)
class Write:
    """What every CMA write takes, and how it ends: commit, then the row in the CMA's shape."""

    env: Environment
    session: Session
    blobs: BlobStore
    principal: Principal
    response: Response
    version: int | None = None

    def saved(
        self, row: ContentTypeRow | ContentEntryRow, *, created: bool | None = None
    ) -> dict[str, Any]:
        """Commit; `created` says 201 or 200 for a create-or-update."""
        self.session.commit()
        if created is not None:
            self.response.status_code = 201 if created else 200
        return render(self.blobs, row)


def write(
    env: EnvDep, session: SessionDep, state: StateDep, principal: PrincipalDep, response: Response
) -> Write:
    return Write(env, session, state.blobs, principal, response)


def versioned_write(base: Annotated[Write, Depends(write)], version: VersionDep) -> Write:
    """A write that names the version it expects (``X-Contentful-Version``)."""
    return replace(base, version=version)


CreateDep = Annotated[Write, Depends(write)]
WriteDep = Annotated[Write, Depends(versioned_write)]


def space_json(workspace: Workspace) -> dict[str, Any]:
    return {
        "sys": {
            "type": "Space",
            "id": workspace.id,
            "version": 1,
            "createdAt": iso(workspace.created_at),
            "updatedAt": iso(workspace.created_at),
        },
        "name": workspace.name,
    }


@router.get("", summary="List the caller's spaces (Amber workspaces)")
def list_spaces(session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    spaces = [space_json(w) for w in cma_spaces.spaces_of(session, principal)]
    return array_json(spaces, total=len(spaces), skip=0, limit=max(len(spaces), 1))


@router.get("/{space_id}", summary="Get a space")
def get_space(space_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return space_json(cma_spaces.open_space(session, principal, space_id))


@router.get(ENV, summary="Get an environment")
def get_environment(env: EnvDep) -> dict[str, Any]:
    return {
        "sys": {
            "type": "Environment",
            "id": env.environment_id,
            "version": 1,
            "space": link("Space", env.workspace_id),
            "status": link("Status", "ready"),
        },
        "name": env.environment_id,
    }


@router.get(ENV + "/content_types", summary="List content types")
def list_content_types(
    env: EnvDep,
    session: SessionDep,
    state: StateDep,
    skip: SkipQuery = None,
    limit: LimitQuery = None,
) -> dict[str, Any]:
    start, size = cma_spaces.parse_page(skip, limit)
    total, rows = cma_entities.list_rows(session, ContentTypeRow, env, skip=start, limit=size)
    items = [render(state.blobs, row) for row in rows]
    return array_json(items, total=total, skip=start, limit=size)


@router.get(ENV + "/content_types/{type_id}", summary="Get a content type")
def get_content_type(
    type_id: str, env: EnvDep, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    return render(state.blobs, cma_entities.get_content_type(session, env, type_id))


@router.put(ENV + "/content_types/{type_id}", summary="Create or update a content type")
def put_content_type(type_id: str, body: ContentTypeBody, w: WriteDep) -> dict[str, Any]:
    row, created = cma_entities.put_content_type(
        w.session,
        w.blobs,
        w.env,
        w.principal,
        type_id=type_id,
        body=body.model_dump(),
        version=w.version,
    )
    return w.saved(row, created=created)


@router.get(ENV + "/entries", summary="List entries")
def list_entries(
    env: EnvDep,
    session: SessionDep,
    state: StateDep,
    skip: SkipQuery = None,
    limit: LimitQuery = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    start, size = cma_spaces.parse_page(skip, limit)
    total, rows = cma_entities.list_rows(
        session, ContentEntryRow, env, skip=start, limit=size, content_type_id=content_type
    )
    items = [render(state.blobs, row) for row in rows]
    return array_json(items, total=total, skip=start, limit=size)


def _put_entry(
    w: Write, *, entry_id: str | None, body: EntryBody, content_type: str | None
) -> dict[str, Any]:
    row, created = cma_entities.put_entry(
        w.session,
        w.blobs,
        w.env,
        w.principal,
        entry_id=entry_id,
        content_type_id=content_type,
        fields=body.fields,
        metadata=body.metadata,
        version=w.version,
    )
    return w.saved(row, created=created)


ContentTypeHeader = Annotated[str | None, Header(alias="X-Contentful-Content-Type")]


@router.post(ENV + "/entries", status_code=201, summary="Create an entry")
def create_entry(
    body: EntryBody, w: CreateDep, content_type: ContentTypeHeader = None
) -> dict[str, Any]:
    return _put_entry(w, entry_id=None, body=body, content_type=content_type)


@router.get(ENV + "/entries/{entry_id}", summary="Get an entry")
def get_entry(entry_id: str, env: EnvDep, session: SessionDep, state: StateDep) -> dict[str, Any]:
    return render(state.blobs, cma_entities.get_entry(session, env, entry_id))


@router.put(ENV + "/entries/{entry_id}", summary="Create (new id) or update an entry")
def put_entry(
    entry_id: str, body: EntryBody, w: WriteDep, content_type: ContentTypeHeader = None
) -> dict[str, Any]:
    return _put_entry(w, entry_id=entry_id, body=body, content_type=content_type)


@router.delete(ENV + "/entries/{entry_id}", status_code=204, summary="Delete a draft entry")
def delete_entry(entry_id: str, env: EnvDep, version: VersionDep, session: SessionDep) -> Response:
    cma_entities.delete_entry(session, env, entry_id=entry_id, version=version)
    session.commit()
    return Response(status_code=204)


@router.delete(ENV + "/entries/{entry_id}/published", summary="Unpublish an entry")
def unpublish_entry(entry_id: str, w: WriteDep) -> dict[str, Any]:
    row = cma_publishing.unpublish_entry(
        w.session, w.env, w.principal, entry_id=entry_id, version=w.version
    )
    return w.saved(row)


def _register_snapshot_routes(entity_type: str) -> None:
    """Publish and snapshot routes are the same for entries and content types."""
    base = f"{ENV}/{SEGMENTS[entity_type]}/{{entity_id}}"
    noun = "an entry" if entity_type == ENTRY else "a content type"

    def publish(entity_id: str, w: WriteDep) -> dict[str, Any]:
        row = cma_publishing.publish(
            w.session,
            w.blobs,
            w.env,
            w.principal,
            entity_type=entity_type,
            entity_id=entity_id,
            version=w.version,
        )
        return w.saved(row)

    def list_snapshots(
        entity_id: str,
        env: EnvDep,
        session: SessionDep,
        state: StateDep,
        skip: SkipQuery = None,
        limit: LimitQuery = None,
        select: SelectQuery = None,
    ) -> dict[str, Any]:
        start, size = cma_spaces.parse_page(skip, limit)
        tree = parse_select(select)
        total, rows = cma_publishing.list_snapshots(
            session, env, entity_type=entity_type, entity_id=entity_id, skip=start, limit=size
        )
        items = [project(snapshot_json(r, get_json(state.blobs, r.body_sha)), tree) for r in rows]
        return array_json(items, total=total, skip=start, limit=size)

    def get_snapshot(
        entity_id: str,
        snapshot_id: str,
        env: EnvDep,
        session: SessionDep,
        state: StateDep,
        select: SelectQuery = None,
    ) -> dict[str, Any]:
        tree = parse_select(select)
        row = cma_publishing.get_snapshot(
            session, env, entity_type=entity_type, entity_id=entity_id, snapshot_id=snapshot_id
        )
        return project(snapshot_json(row, get_json(state.blobs, row.body_sha)), tree)

    kind = entity_type.lower()
    routes = (
        ("/published", publish, "PUT", f"Publish {noun}", f"publish_{kind}"),
        (
            "/snapshots",
            list_snapshots,
            "GET",
            f"List the publish snapshots of {noun}, newest first",
            f"list_{kind}_snapshots",
        ),
        (
            "/snapshots/{snapshot_id}",
            get_snapshot,
            "GET",
            f"Get one publish snapshot of {noun}",
            f"get_{kind}_snapshot",
        ),
    )
    for path, endpoint, method, summary, name in routes:
        router.add_api_route(base + path, endpoint, methods=[method], summary=summary, name=name)


_register_snapshot_routes(ENTRY)
_register_snapshot_routes(CONTENT_TYPE)
