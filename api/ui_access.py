"""What every page of the fleet and kinds browsers shares: who is signed in, and where to go if not.

Signing in is api.web's job; these pages only ask it, through its
`optional_principal`, so they follow whatever it accepts (the sign-in cookie
today, sessions later) without reading cookies themselves.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from api.web import optional_principal
from crawler.auth import Principal

WebPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def to_login(request: Request) -> RedirectResponse:
    """Send a visitor who is not signed in to sign in, and back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
