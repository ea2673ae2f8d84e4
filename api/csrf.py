"""CSRF tokens for the UI's forms (placeholder until sessions land).

A form that changes state carries `csrf_token(request)` in a hidden field and
its handler calls `verify_csrf`. For now the token is an HMAC of the UI's
sign-in cookie: another origin can neither read that HttpOnly cookie nor
compute the token, so a forged form post fails. The session work replaces the
body of these two functions; callers keep calling them as they are.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from api.deps import WEB_COOKIE
from crawler.errors import Forbidden

FIELD = "csrf_token"


def csrf_token(request: Request) -> str:
    """The token to embed in this visitor's forms ("" when not signed in)."""
    secret = request.cookies.get(WEB_COOKIE, "")
    if not secret:
        return ""
    return hmac.new(secret.encode(), b"amber-ui-csrf", hashlib.sha256).hexdigest()


def verify_csrf(request: Request, token: str) -> None:
    """Refuse a form post whose token does not match this visitor's cookie."""
    expected = csrf_token(request)
    if not expected or not hmac.compare_digest(expected, token or ""):
        raise Forbidden("This form has expired or came from another site; reload and try again")
