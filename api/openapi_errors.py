"""The error answers of every operation in `/openapi.json`, in its dialect's real shape.

FastAPI documents one error per operation: a 422 whose ``detail`` is an array.
Amber answers errors through `api.errors` instead, each dialect in its own
shape (an archive 422 may carry ``detail`` as a string; Grafana answers 400
``{"message"}``; Contentful a ``sys`` error object), and with 401/403/404/409
as well. This rewrites the responses so the schema says what clients get.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from api.errors import ARCHIVE, CONTENT, DASHBOARDS, NOTES, PREFIXES, SHEETS, WEB

REF = "#/components/schemas/"

_TEXT = {"type": "string"}

ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "ArchiveError": {
        "title": "ArchiveError",
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "detail": {"anyOf": [_TEXT, {"type": "array", "items": {"type": "object"}}]}
                },
                "required": ["detail"],
            },
            {
                "type": "object",
                "properties": {
                    "succeeded": {"type": "boolean"},
                    "message": _TEXT,
                    "errors": {"type": "array"},
                },
                "required": ["message"],
            },
        ],
    },
    "GrafanaError": {
        "title": "GrafanaError",
        "type": "object",
        "properties": {"message": _TEXT},
        "required": ["message"],
    },
    "ContentfulError": {
        "title": "ContentfulError",
        "type": "object",
        "properties": {
            "sys": {
                "type": "object",
                "properties": {"type": {"const": "Error"}, "id": _TEXT},
                "required": ["type", "id"],
            },
            "message": _TEXT,
            "details": {},
            "requestId": _TEXT,
        },
        "required": ["sys", "message"],
    },
    "FlatfileError": {
        "title": "FlatfileError",
        "type": "object",
        "properties": {
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"key": _TEXT, "message": _TEXT},
                    "required": ["message"],
                },
            }
        },
        "required": ["errors"],
    },
    "SidvyError": {
        "title": "SidvyError",
        "type": "object",
        "properties": {"error": _TEXT, "message": _TEXT},
        "required": ["error", "message"],
    },
}

COMMON = (401, 403, 404, 409, 413, 503)
# dialect -> (its error schema, the statuses its errors use besides COMMON)
DIALECT_ERRORS: dict[str, tuple[str, tuple[int, ...]]] = {
    ARCHIVE: ("ArchiveError", (422,)),  # bad input is a 422 (ArchiveBox/django-ninja)
    WEB: ("ArchiveError", (422,)),
    DASHBOARDS: ("GrafanaError", (400,)),
    CONTENT: ("ContentfulError", (400, 422)),
    SHEETS: ("FlatfileError", (400,)),
    NOTES: ("SidvyError", (400,)),
}

DESCRIPTIONS = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    422: "Invalid input",
    503: "Database unavailable; retry",
}


def _dialect(path: str, operation: dict[str, Any]) -> str | None:
    for tag in operation.get("tags", ()):
        if tag in DIALECT_ERRORS:
            return str(tag)
    for prefix, dialect in PREFIXES:
        if path.startswith(prefix):
            return dialect
    return None


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every operation its dialect's error responses (mutates and returns `schema`)."""
    schema.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_SCHEMAS)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            dialect = _dialect(path, operation)
            if dialect is None:
                continue
            name, statuses = DIALECT_ERRORS[dialect]
            responses = operation["responses"]
            responses.pop("422", None)  # FastAPI's, replaced by the dialect's own if it has one
            for status in sorted((*COMMON, *statuses)):
                responses[str(status)] = {
                    "description": DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": {"$ref": REF + name}}},
                }
    return schema


def install_error_docs(app: FastAPI) -> None:
    """Wrap `app.openapi` so the generated schema documents the real error answers."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
