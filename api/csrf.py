"""CSRF for the fleet and kinds pages' forms, on the web session's own token.

A form that changes state carries `csrf_token(request)` in the hidden field
`FIELD` and its handler calls `verify_csrf`. The token is the one stored with
the signed-in web session (`request.state.signed`, set by the session
dependency, see `api/web_auth.py`), so another site can neither read nor guess
it; a post that names another origin is refused outright.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import Request

from crawler.errors import Forbidden

FIELD = "csrfmiddlewaretoken"


def csrf_token(request: Request) -> str:
    """The token to embed in this visitor's forms ("" when not signed in)."""
    signed = getattr(request.state, "signed", None)
    return str(getattr(signed, "csrf_token", "") or "")


def verify_csrf(request: Request, token: str) -> None:
    """Refuse a form post from another site, or whose token is not this visitor's."""
    origin = request.headers.get("origin")
    if origin and (origin == "null" or urlsplit(origin).netloc != request.url.netloc):
        raise Forbidden("This request came from another site, so it was refused")
    expected = csrf_token(request)
    if not expected or not hmac.compare_digest(expected, token or ""):
        raise Forbidden("This form has expired or came from another site; reload and try again")
