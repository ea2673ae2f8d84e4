"""Jinja2 pages: one base layout, one stylesheet, autoescaping on.

Every UI page renders through `render`, which also sets the security headers a
page of Amber's own origin must carry (archived content never renders here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.security_headers import UI_POLICY
from crawler.clock import iso

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _page_context(request: Request) -> dict[str, Any]:
    """What the base layout needs on every page: where we are, and the sign-out form's token."""
    signed = getattr(request.state, "signed", None)
    return {"path": request.url.path, "csrf_token": signed.csrf_token if signed else ""}


templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.filters["iso"] = iso

PAGE_HEADERS = {
    "Content-Security-Policy": UI_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A template as a response with Amber's page headers (callers may add more)."""
    full = {**_page_context(request), **(context or {})}
    response = templates.TemplateResponse(
        request, name, full, status_code=status_code, headers=headers
    )
    for key, value in PAGE_HEADERS.items():
        response.headers.setdefault(key, value)
    return response
