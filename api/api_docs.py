"""The API describing itself: OpenAPI documents and Swagger UI pages.

``/openapi.json`` (FastAPI's) covers every route; ``/api/v1/openapi.json`` is
ArchiveBox's part of it, titled as ArchiveBox's own, which its iOS/macOS app
checks on first contact (``info.title`` naming ArchiveBox, ``…/cli/add`` and
``…/auth/check_api_token`` among the paths). ``/docs`` and ``/api/v1/docs`` are
Swagger UI from the copy vendored in ``api/static/swagger-ui`` (no CDN), and
``/api/`` leads to the latter, as in ArchiveBox (the browser extension probes it).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

router = APIRouter(include_in_schema=False)

ARCHIVEBOX_PREFIX = "/api/v1/"
ARCHIVEBOX_OPENAPI = "/api/v1/openapi.json"
ARCHIVEBOX_DOCS = "/api/v1/docs"
SWAGGER = "/static/swagger-ui"
SCHEMA_REF = "#/components/schemas/"
SECURITY_SCHEMES = {
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-ArchiveBox-API-Key"},
    "HttpBearer": {"type": "http", "scheme": "bearer"},
    "APIKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
}
# Routes that answer without a token (security: [] in the document).
PUBLIC = {"/api/v1/auth/check_api_token", "/api/v1/auth/get_api_token"}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = (
            {node["$ref"].removeprefix(SCHEMA_REF)} if isinstance(node.get("$ref"), str) else set()
        )
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node))
    return set()


def _used_schemas(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """The component schemas `paths` refer to, directly or through other schemas."""
    wanted, todo = set(), _refs(paths)
    while todo:
        name = todo.pop()
        if name in wanted or name not in schemas:
            continue
        wanted.add(name)
        todo |= _refs(schemas[name])
    return {name: schemas[name] for name in sorted(wanted)}


def archivebox_openapi(app: FastAPI) -> dict[str, Any]:
    """The ``/api/v1`` part of the app's document, with ArchiveBox's ways to authenticate."""
    cached: dict[str, Any] | None = getattr(app.state, "archivebox_openapi", None)
    if cached is not None:
        return cached
    full = app.openapi()
    paths = {
        path: copy.deepcopy(item)
        for path, item in full["paths"].items()
        if path.startswith(ARCHIVEBOX_PREFIX)
    }
    for path in PUBLIC & set(paths):
        for operation in paths[path].values():
            operation["security"] = []
    schemas = full.get("components", {}).get("schemas", {})
    doc = {
        "openapi": full["openapi"],
        "info": {
            "title": "ArchiveBox API (served by Amber)",
            "version": full["info"]["version"],
            "description": "ArchiveBox 0.9's REST API as Amber answers it; "
            "/openapi.json describes every dialect Amber speaks.",
        },
        "paths": paths,
        "components": {
            "schemas": _used_schemas(paths, copy.deepcopy(schemas)),
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": [{name: []} for name in SECURITY_SCHEMES],
    }
    app.state.archivebox_openapi = doc
    return doc


# Swagger UI starts itself with an inline script; everything else comes from Amber.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def swagger_page(openapi_url: str, title: str) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        swagger_ui_parameters={"persistAuthorization": True},
    )
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    return page


@router.get(ARCHIVEBOX_OPENAPI)
def archivebox_openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(archivebox_openapi(request.app))


@router.get(ARCHIVEBOX_DOCS, response_class=HTMLResponse)
def archivebox_docs() -> HTMLResponse:
    return swagger_page(ARCHIVEBOX_OPENAPI, "ArchiveBox API (Amber)")


@router.get("/docs", response_class=HTMLResponse)
def all_docs(request: Request) -> HTMLResponse:
    return swagger_page(request.app.openapi_url or "/openapi.json", "Amber API")


@router.get("/api/", response_class=RedirectResponse)
def api_root() -> RedirectResponse:
    return RedirectResponse(ARCHIVEBOX_DOCS, status_code=302)
