"""Contentful CMA semantics on Amber's store: spaces, content types, entries, publish snapshots.

A space is an Amber workspace the caller belongs to; anything else (another
tenant's space included) is NotFound, exactly like a space that does not exist.
Every write checks ``X-Contentful-Version`` with a conditional UPDATE, so two
writers holding the same version cannot both win. Every publish in the
``master`` environment records a snapshot whose body is the very blob the
entity points at, so snapshots of unchanged content cost no bytes.

Callers own the transaction: these functions flush, the API commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import random_key, utcnow
from crawler.domains.bodies import get_json, put_json
from crawler.domains.content_json import CONTENT_TYPE, ENTRY, entity_sys
from crawler.domains.content_tables import ContentEntryRow, ContentSnapshotRow, ContentTypeRow
from crawler.domains.content_validate import (
    RESOURCE_ID,
    check_entry_fields,
    check_resource_id,
    failed,
    normalize_content_type,
    storable_text,
)
from crawler.errors import Conflict, InvalidInput, NotFound
from crawler.models import Workspace

MASTER = "master"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Row = TypeVar("Row", bound=ContentTypeRow | ContentEntryRow)
MODELS: dict[str, type[ContentTypeRow] | type[ContentEntryRow]] = {
    ENTRY: ContentEntryRow,
    CONTENT_TYPE: ContentTypeRow,
}


@dataclass(frozen=True, slots=True)
class Environment:
    """A resolved (space, environment) pair the caller may use."""

    workspace_id: str
    environment_id: str

    @property
    def makes_snapshots(self) -> bool:
        return self.environment_id == MASTER


def not_found(kind: str, resource_id: str) -> NotFound:
    return NotFound("The resource could not be found.", details={"type": kind, "id": resource_id})


def version_mismatch() -> Conflict:
    return Conflict(
        "The version you sent does not match the current version of the resource.",
        code="VersionMismatch",
        details={},
    )


def spaces_of(session: Session, principal: Principal) -> list[Workspace]:
    ids = list(principal.workspace_ids)
    if not ids:
        return []
    rows = session.exec(select(Workspace).where(col(Workspace.id).in_(ids))).all()
    return sorted(rows, key=lambda w: ids.index(w.id))


def open_space(session: Session, principal: Principal, space_id: str) -> Workspace:
    workspace = session.get(Workspace, space_id) if RESOURCE_ID.match(space_id) else None
    if workspace is None or not principal.can_read(workspace.id):
        raise not_found("Space", space_id)
    return workspace


def open_environment(
    session: Session, principal: Principal, space_id: str, environment_id: str
) -> Environment:
    workspace = open_space(session, principal, space_id)
    if not RESOURCE_ID.match(environment_id):
        raise not_found("Environment", environment_id)
    return Environment(workspace.id, environment_id)


def parse_page(skip: str | None, limit: str | None) -> tuple[int, int]:
    """CMA paging: skip >= 0, 1 <= limit <= 1000 (default 100); anything else is InvalidQuery."""

    def number(name: str, raw: str | None, default: int, low: int, high: int | None) -> int:
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise InvalidInput(
                f"The query you sent was invalid: {name} must be an integer {bound}",
                code="InvalidQuery",
                details={"errors": [{"name": name, "value": raw}]},
            )
        return value

    return number("skip", skip, 0, 0, None), number("limit", limit, DEFAULT_LIMIT, 1, MAX_LIMIT)


def _get(session: Session, model: type[Row], env: Environment, resource_id: str) -> Row:
    # ids that cannot exist never reach SQL (PostgreSQL refuses NUL bytes, for one)
    valid = RESOURCE_ID.match(resource_id)
    row = session.get(model, (env.workspace_id, env.environment_id, resource_id)) if valid else None
    if row is None:
        raise not_found(ENTRY if model is ContentEntryRow else CONTENT_TYPE, resource_id)
    return row


def get_content_type(session: Session, env: Environment, type_id: str) -> ContentTypeRow:
    return _get(session, ContentTypeRow, env, type_id)


def get_entry(session: Session, env: Environment, entry_id: str) -> ContentEntryRow:
    return _get(session, ContentEntryRow, env, entry_id)


def body_of(blobs: BlobStore, row: ContentTypeRow | ContentEntryRow) -> Any:
    return get_json(blobs, row.body_sha)


def _bump(
    session: Session, row: Row, expected: int | None, *, principal: Principal, **values: Any
) -> Row:
    """Write `values` only if the stored version is still `expected`; bump the version."""
    if expected is None:
        raise version_mismatch()
    model = type(row)
    now = utcnow()
    changes = {"updated_at": now, "updated_by_id": principal.user_id, **values}
    result = session.execute(
        update(model)
        .where(
            col(model.workspace_id) == row.workspace_id,
            col(model.environment_id) == row.environment_id,
            col(model.id) == row.id,
            col(model.version) == expected,
        )
        .values(version=expected + 1, **changes)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise version_mismatch()
    session.refresh(row)
    return row


def _insert(session: Session, row: Row) -> Row:
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:  # someone created the same id first
        session.rollback()
        raise version_mismatch() from exc
    return row


def _put_body(blobs: BlobStore, body: Any) -> str:
    """Store a JSON body; text that is not valid Unicode (lone surrogates) is refused."""
    try:
        return put_json(blobs, body).sha256
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            "The body holds text that is not valid Unicode", code="BadRequest"
        ) from exc


def put_content_type(
    session: Session,
    blobs: BlobStore,
    env: Environment,
    principal: Principal,
    *,
    type_id: str,
    body: dict[str, Any],
    version: int | None,
) -> tuple[ContentTypeRow, bool]:
    """Create (no version) or update (current version) a content type; True when created."""
    check_resource_id(type_id, "content type")
    sha = _put_body(blobs, normalize_content_type(body))
    row = session.get(ContentTypeRow, (env.workspace_id, env.environment_id, type_id))
    if row is None:
        if version is not None:
            raise not_found(CONTENT_TYPE, type_id)
        return _insert(session, _new(ContentTypeRow, env, principal, type_id, body_sha=sha)), True
    return _bump(session, row, version, principal=principal, body_sha=sha), False


def _new(model: type[Row], env: Environment, principal: Principal, row_id: str, **kw: Any) -> Row:
    now = utcnow()
    return model(
        workspace_id=env.workspace_id,
        environment_id=env.environment_id,
        id=row_id,
        version=1,
        created_at=now,
        updated_at=now,
        created_by_id=principal.user_id,
        updated_by_id=principal.user_id,
        **kw,
    )


def _published_schema(
    session: Session, blobs: BlobStore, env: Environment, type_id: str
) -> dict[str, Any]:
    key = (env.workspace_id, env.environment_id, type_id)
    content_type = session.get(ContentTypeRow, key) if RESOURCE_ID.match(type_id) else None
    if content_type is None or content_type.published_body_sha is None:
        raise failed(
            [
                {
                    "name": "unknownContentType",
                    "value": type_id,
                    "details": f"Content type {type_id!r} does not exist or is not published",
                }
            ]
        )
    schema: dict[str, Any] = get_json(blobs, content_type.published_body_sha)
    return schema


def _metadata(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"tags": []}
    if not isinstance(raw, dict) or not isinstance(raw.get("tags", []), list):
        raise failed([{"name": "type", "path": ["metadata", "tags"], "details": "expected Array"}])
    if not storable_text(raw):
        raise InvalidInput("metadata holds text that cannot be stored", code="BadRequest")
    return {"tags": [], **raw}


def put_entry(
    session: Session,
    blobs: BlobStore,
    env: Environment,
    principal: Principal,
    *,
    entry_id: str | None,
    content_type_id: str | None,
    fields: Any,
    metadata: Any,
    version: int | None,
) -> tuple[ContentEntryRow, bool]:
    """POST (no id) or PUT: create a new entry, or update one at its current version."""
    row = None
    if entry_id is not None:
        check_resource_id(entry_id, "entry")
        row = session.get(ContentEntryRow, (env.workspace_id, env.environment_id, entry_id))
    if row is None:
        if version is not None and entry_id is not None:
            raise not_found(ENTRY, entry_id)
        if not content_type_id:
            raise InvalidInput(
                "Creating an entry needs the X-Contentful-Content-Type header", code="BadRequest"
            )
        schema = _published_schema(session, blobs, env, content_type_id)
        sha = _put_body(blobs, check_entry_fields(fields, schema))
        new = _new(
            ContentEntryRow,
            env,
            principal,
            entry_id or random_key(22),
            body_sha=sha,
            content_type_id=content_type_id,
            entry_metadata=_metadata(metadata),
        )
        return _insert(session, new), True
    schema = _published_schema(session, blobs, env, row.content_type_id)
    sha = _put_body(blobs, check_entry_fields(fields, schema))
    values: dict[str, Any] = {"body_sha": sha}
    if metadata is not None:
        values["entry_metadata"] = _metadata(metadata)
    return _bump(session, row, version, principal=principal, **values), False


def publish(
    session: Session,
    blobs: BlobStore,
    env: Environment,
    principal: Principal,
    *,
    entity_type: str,
    entity_id: str,
    version: int | None,
) -> ContentTypeRow | ContentEntryRow:
    """Publish the current version; in master, keep a snapshot of what was published."""
    row: ContentTypeRow | ContentEntryRow
    extra: dict[str, Any] = {}
    if entity_type == ENTRY:
        row = get_entry(session, env, entity_id)
        schema = _published_schema(session, blobs, env, row.content_type_id)
        check_entry_fields(body_of(blobs, row), schema, for_publish=True)
    else:
        row = get_content_type(session, env, entity_id)
        extra["published_body_sha"] = row.body_sha
    now = utcnow()
    row = _bump(
        session,
        row,
        version,
        principal=principal,
        published_version=version,
        published_counter=row.published_counter + 1,
        published_at=now,
        first_published_at=row.first_published_at or now,
        published_by_id=principal.user_id,
        **extra,
    )
    if env.makes_snapshots:
        session.add(
            ContentSnapshotRow(
                id=random_key(22),
                workspace_id=env.workspace_id,
                environment_id=env.environment_id,
                entity_type=entity_type,
                entity_id=entity_id,
                counter=row.published_counter,
                body_sha=row.body_sha,
                entity_sys=entity_sys(row),
                created_at=now,
                created_by_id=principal.user_id,
            )
        )
        session.flush()
    return row


def unpublish_entry(
    session: Session, env: Environment, principal: Principal, *, entry_id: str, version: int | None
) -> ContentEntryRow:
    row = get_entry(session, env, entry_id)
    if row.published_version is None:
        raise InvalidInput("Entry is not published", code="BadRequest")
    return _bump(
        session,
        row,
        row.version if version is None else version,
        principal=principal,
        published_version=None,
        published_at=None,
        published_by_id=None,
    )


def delete_entry(session: Session, env: Environment, *, entry_id: str, version: int | None) -> None:
    """Delete a draft entry and its snapshots; published entries must be unpublished first."""
    row = get_entry(session, env, entry_id)
    if version is not None and version != row.version:
        raise version_mismatch()
    if row.published_version is not None:
        raise InvalidInput("Cannot delete published", code="BadRequest")
    session.execute(
        delete(ContentSnapshotRow).where(
            col(ContentSnapshotRow.workspace_id) == env.workspace_id,
            col(ContentSnapshotRow.environment_id) == env.environment_id,
            col(ContentSnapshotRow.entity_type) == ENTRY,
            col(ContentSnapshotRow.entity_id) == entry_id,
        )
    )
    session.delete(row)
    session.flush()


def list_rows(
    session: Session,
    model: type[Row],
    env: Environment,
    *,
    skip: int,
    limit: int,
    content_type_id: str | None = None,
) -> tuple[int, list[Row]]:
    where = [
        col(model.workspace_id) == env.workspace_id,
        col(model.environment_id) == env.environment_id,
    ]
    if content_type_id is not None and not RESOURCE_ID.match(content_type_id):
        raise InvalidInput(
            f"The query you sent was invalid: no content type {content_type_id!r}",
            code="InvalidQuery",
            details={"errors": [{"name": "content_type", "value": content_type_id}]},
        )
    if content_type_id is not None and model is ContentEntryRow:
        where.append(col(ContentEntryRow.content_type_id) == content_type_id)
    total = session.exec(select(func.count()).select_from(model).where(*where)).one()
    rows = session.exec(
        select(model)
        .where(*where)
        .order_by(col(model.created_at), col(model.id))
        .offset(skip)
        .limit(limit)
    ).all()
    return int(total), list(rows)


def _snapshot_filter(env: Environment, entity_type: str, entity_id: str) -> list[Any]:
    return [
        col(ContentSnapshotRow.workspace_id) == env.workspace_id,
        col(ContentSnapshotRow.environment_id) == env.environment_id,
        col(ContentSnapshotRow.entity_type) == entity_type,
        col(ContentSnapshotRow.entity_id) == entity_id,
    ]


def list_snapshots(
    session: Session, env: Environment, *, entity_type: str, entity_id: str, skip: int, limit: int
) -> tuple[int, list[ContentSnapshotRow]]:
    """Snapshots of one entity, newest publish first."""
    _get(session, MODELS[entity_type], env, entity_id)
    where = _snapshot_filter(env, entity_type, entity_id)
    total = session.exec(select(func.count()).select_from(ContentSnapshotRow).where(*where)).one()
    rows = session.exec(
        select(ContentSnapshotRow)
        .where(*where)
        .order_by(col(ContentSnapshotRow.counter).desc())
        .offset(skip)
        .limit(limit)
    ).all()
    return int(total), list(rows)


def get_snapshot(
    session: Session, env: Environment, *, entity_type: str, entity_id: str, snapshot_id: str
) -> ContentSnapshotRow:
    _get(session, MODELS[entity_type], env, entity_id)
    if not RESOURCE_ID.match(snapshot_id):
        raise not_found("Snapshot", snapshot_id)
    row = session.exec(
        select(ContentSnapshotRow).where(
            col(ContentSnapshotRow.id) == snapshot_id,
            *_snapshot_filter(env, entity_type, entity_id),
        )
    ).first()
    if row is None:
        raise not_found("Snapshot", snapshot_id)
    return row
