"""CSRF tokens for the fleet and kinds pages' forms (a placeholder for the UI's own).

A form that changes state carries `csrf_token(request)` in the hidden field
`FIELD` and its handler calls `verify_csrf`. When the request has a web session
with its own token (`request.state.signed`, set by the session dependency),
that token is used; otherwise the token is an HMAC of the sign-in cookie,
which another site can neither read (HttpOnly) nor compute. A post that names
another origin is refused outright. The UI's session work owns the real
implementation; these two functions are the only calls to replace.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import Request

from api import deps
from crawler.errors import Forbidden

FIELD = "csrfmiddlewaretoken"
# The token sign-in cookie, while the UI has one (sessions replace it).
TOKEN_COOKIE: str = getattr(deps, "WEB_COOKIE", "")


def csrf_token(request: Request) -> str:
    """The token to embed in this visitor's forms ("" when not signed in)."""
    signed = getattr(request.state, "signed", None)
    session_token = str(getattr(signed, "csrf_token", "") or "")
    if session_token:
        return session_token
    secret = request.cookies.get(TOKEN_COOKIE, "") if TOKEN_COOKIE else ""
    if not secret:
        return ""
    return hmac.new(secret.encode(), b"amber-ui-csrf", hashlib.sha256).hexdigest()


def verify_csrf(request: Request, token: str) -> None:
    """Refuse a form post from another site, or whose token is not this visitor's."""
    origin = request.headers.get("origin")
    if origin and (origin == "null" or urlsplit(origin).netloc != request.url.netloc):
        raise Forbidden("This request came from another site, so it was refused")
    expected = csrf_token(request)
    if not expected or not hmac.compare_digest(expected, token or ""):
        raise Forbidden("This form has expired or came from another site; reload and try again")
