"""``/api/v1/auth/check_api_token``: ArchiveBox's "is this key good?" (no auth header).

The browser extension's *Test* button and the iOS app call it before saving a key.
As in ArchiveBox, a wrong key is a 200 ``{"success": false, "user_id": null}``,
which both clients show as an invalid key. Asking for a token by username and
password (``get_api_token``) needs sign-in, which Amber does not have yet.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import SessionDep
from api.errors import ARCHIVE
from crawler.auth import authenticate
from crawler.errors import Unauthorized

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
