"""Contentful CMA resource shapes: links, `sys` blocks, arrays.

The official clients hydrate every `sys` key they know (links become Link
objects, dates are parsed), so these shapes follow the real CMA key for key.
A snapshot stores its entity's `sys` as built here at publish time.
"""

from __future__ import annotations

from typing import Any

from crawler.clock import iso
from crawler.domains.content.tables import ContentEntryRow, ContentSnapshotRow, ContentTypeRow

ENTRY = "Entry"
CONTENT_TYPE = "ContentType"


def link(link_type: str, target_id: str) -> dict[str, Any]:
    return {"sys": {"type": "Link", "linkType": link_type, "id": target_id}}


def entity_sys(row: ContentTypeRow | ContentEntryRow) -> dict[str, Any]:
    """The `sys` of an entry or content type, as the CMA returns it now."""
    entity_type = ENTRY if isinstance(row, ContentEntryRow) else CONTENT_TYPE
    sys: dict[str, Any] = {
        "space": link("Space", row.workspace_id),
        "id": row.id,
        "type": entity_type,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "environment": link("Environment", row.environment_id),
        "createdBy": link("User", row.created_by_id),
        "updatedBy": link("User", row.updated_by_id),
        "publishedCounter": row.published_counter,
        "version": row.version,
    }
    if row.first_published_at is not None:
        sys["firstPublishedAt"] = iso(row.first_published_at)
    if row.published_version is not None:
        sys["publishedVersion"] = row.published_version
        sys["publishedAt"] = iso(row.published_at)
        if row.published_by_id:
            sys["publishedBy"] = link("User", row.published_by_id)
    if isinstance(row, ContentEntryRow):
        sys["contentType"] = link("ContentType", row.content_type_id)
    return sys


def entry_json(row: ContentEntryRow, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": row.entry_metadata or {"tags": []},
        "sys": entity_sys(row),
        "fields": fields,
    }


def content_type_json(row: ContentTypeRow, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "sys": entity_sys(row),
        "displayField": body.get("displayField"),
        "name": body.get("name", ""),
        "description": body.get("description") or "",
        "fields": body.get("fields", []),
    }


def array_json(items: list[Any], *, total: int, skip: int, limit: int) -> dict[str, Any]:
    return {"sys": {"type": "Array"}, "total": total, "skip": skip, "limit": limit, "items": items}


def snapshot_json(row: ContentSnapshotRow, body: dict[str, Any]) -> dict[str, Any]:
    """A publish snapshot; entries carry {fields, sys}, content types their schema and sys."""
    sys = {
        "type": "Snapshot",
        "id": row.id,
        "snapshotType": "publish",
        "snapshotEntityType": row.entity_type,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.created_at),
        "createdBy": link("User", row.created_by_id),
        "updatedBy": link("User", row.created_by_id),
        "space": link("Space", row.workspace_id),
        "environment": link("Environment", row.environment_id),
    }
    if row.entity_type == ENTRY:
        snapshot: dict[str, Any] = {"fields": body, "sys": row.entity_sys}
    else:
        snapshot = {
            "name": body.get("name", ""),
            "displayField": body.get("displayField"),
            "fields": body.get("fields", []),
            "sys": row.entity_sys,
        }
    return {"sys": sys, "snapshot": snapshot}
