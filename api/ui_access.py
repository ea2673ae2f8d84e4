"""What every page of the fleet and kinds browsers shares: who is signed in, and where to go if not.

Signing in is api.web's job; these pages only ask it (through `WebPrincipal`)
so they follow whatever api.web does (token cookie today, sessions later).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse

from api.web import WebPrincipal

__all__ = ["WebPrincipal", "to_login"]


def to_login(request: Request) -> RedirectResponse:
    """Send a visitor without a session to sign in, and back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
