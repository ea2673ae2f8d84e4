"""Content types and entries: versioned writes (a conditional UPDATE per version), reads, lists."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import random_key, utcnow
from crawler.domains.bodies import get_json, put_json
from crawler.domains.content.render import CONTENT_TYPE, ENTRY
from crawler.domains.content.spaces import Environment, not_found, version_mismatch
from crawler.domains.content.tables import ContentEntryRow, ContentSnapshotRow, ContentTypeRow
from crawler.domains.content.validate import (
    RESOURCE_ID,
    check_entry_fields,
    check_resource_id,
    failed,
    normalize_content_type,
    storable_text,
)
from crawler.errors import InvalidInput

Row = TypeVar("Row", bound=ContentTypeRow | ContentEntryRow)
MODELS: dict[str, type[ContentTypeRow] | type[ContentEntryRow]] = {
    ENTRY: ContentEntryRow,
    CONTENT_TYPE: ContentTypeRow,
}


def get_row(session: Session, model: type[Row], env: Environment, resource_id: str) -> Row:
    # ids that cannot exist never reach SQL (PostgreSQL refuses NUL bytes, for one)
    valid = RESOURCE_ID.match(resource_id)
    row = session.get(model, (env.workspace_id, env.environment_id, resource_id)) if valid else None
    if row is None:
        raise not_found(ENTRY if model is ContentEntryRow else CONTENT_TYPE, resource_id)
    return row


def get_content_type(session: Session, env: Environment, type_id: str) -> ContentTypeRow:
    return get_row(session, ContentTypeRow, env, type_id)


def get_entry(session: Session, env: Environment, entry_id: str) -> ContentEntryRow:
    return get_row(session, ContentEntryRow, env, entry_id)


def body_of(blobs: BlobStore, row: ContentTypeRow | ContentEntryRow) -> Any:
    return get_json(blobs, row.body_sha)


def bump(
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
    return bump(session, row, version, principal=principal, body_sha=sha), False


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


def published_schema(
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
        schema = published_schema(session, blobs, env, content_type_id)
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
    schema = published_schema(session, blobs, env, row.content_type_id)
    sha = _put_body(blobs, check_entry_fields(fields, schema))
    values: dict[str, Any] = {"body_sha": sha}
    if metadata is not None:
        values["entry_metadata"] = _metadata(metadata)
    return bump(session, row, version, principal=principal, **values), False


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
