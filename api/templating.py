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

from crawler.clock import iso

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.filters["iso"] = iso

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-src *; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
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
    response = templates.TemplateResponse(
        request, name, context or {}, status_code=status_code, headers=headers
    )
    for key, value in PAGE_HEADERS.items():
        response.headers.setdefault(key, value)
    return response
