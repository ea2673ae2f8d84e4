"""``/api/v1/auth/check_api_token``: ArchiveBox's "is this key good?" (no auth header).

The browser extension's *Test* button and the iOS app call it before saving a key.
As in ArchiveBox, a wrong key is a 200 ``{"success": false, "user_id": null}``,
which both clients show as an invalid key. ``get_api_token`` trades a user name and
password (the web UI's, crawler.users) for a new token in ArchiveBox's ``APIToken``
shape; wrong credentials are a 200 ``{"success": false, "errors": [...]}``, as there.
Unlike ArchiveBox (superusers only, one token reused), any user with a password
gets a token, and each call issues a new one: Amber keeps only tokens' hashes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import SessionDep
from api.errors import ARCHIVE
from crawler.auth import authenticate, issue_token
from crawler.clock import iso, utcnow
from crawler.errors import Unauthorized
from crawler.users import check_login

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])


class TokenCheck(BaseModel):
    token: str = Field(max_length=1000)


@router.post(
    "/auth/check_api_token",
    summary="Validate an API token to make sure its valid and non-expired",
)
def check_api_token(body: TokenCheck, session: SessionDep) -> dict[str, Any]:
    try:
        principal = authenticate(session, body.token)
    except Unauthorized:
        return {"success": False, "user_id": None}
    return {"success": True, "user_id": principal.user_id}


class PasswordAuth(BaseModel):
    username: str | None = Field(default=None, max_length=150)
    password: str | None = Field(default=None, max_length=1024)


@router.post(
    "/auth/get_api_token",
    summary="Generate an API token for a given username & password",
)
def get_api_token(body: PasswordAuth, session: SessionDep) -> dict[str, Any]:
    try:
        user = check_login(session, body.username or "", body.password or "")
    except Unauthorized:
        return {"success": False, "errors": ["Invalid credentials"]}
    plaintext, row = issue_token(session, user.username)
    session.commit()
    never = utcnow().replace(year=utcnow().year + 100)  # ArchiveBox: no expiry = in 100 years
    return {
        "TYPE": "APIToken",
        "id": row.id,
        "abid": row.id,
        "created_by_id": user.id,
        "token": plaintext,
        "created": iso(row.created_at),
        "expires": iso(never),
    }
