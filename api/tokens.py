"""API tokens over HTTP: list, issue and revoke (`/api/v1/tokens`, archive dialect).

Admins see and revoke every token and issue tokens for any user; other users
see, issue and revoke only their own (and cannot make an admin). A token's
plaintext is shown once, when it is issued; lists show ids, never hashes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from api.deps import ArchivePrincipalDep, KnownQueryOnly, SessionDep
from api.errors import ARCHIVE
from crawler import auth
from crawler.clock import iso
from crawler.errors import Forbidden
from crawler.models import ApiToken

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])


def token_json(row: ApiToken, username: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "username": username,
        "scope": row.scope,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
        "revoked_at": iso(row.revoked_at),
        "active": auth.is_active(row),
        "from_env": row.origin == auth.ENV_ORIGIN,
    }


class TokenCreate(BaseModel):
    user: str | None = Field(
        default=None, min_length=1, max_length=150, description="default: yourself"
    )
    scope: Literal["write", "read"] = "write"
    expires_at: datetime | None = None
    admin: bool = False

    @field_validator("user")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        """No control characters or lone surrogates: neither store can hold them."""
        if value is not None and any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise ValueError("user must be printable text")
        return value


@router.get("/tokens", dependencies=[KnownQueryOnly])
def list_tokens(session: SessionDep, principal: ArchivePrincipalDep) -> dict[str, Any]:
    """Every token (admins) or your own, oldest first."""
    rows = auth.list_tokens(session, user_id=None if principal.is_admin else principal.user_id)
    items = [token_json(row, name) for row, name in rows]
    return {"count": len(items), "items": items}


@router.post("/tokens", status_code=201)
def create_token(
    body: TokenCreate, session: SessionDep, principal: ArchivePrincipalDep
) -> dict[str, Any]:
    """Issue a token; its plaintext is in this answer and nowhere else, ever."""
    user = body.user or principal.username
    if not principal.is_admin and (user != principal.username or body.admin):
        raise Forbidden("only admins issue tokens for other users or with admin rights")
    plaintext, row = auth.issue_token(
        session, user, admin=body.admin, scope=body.scope, expires_at=body.expires_at
    )
    session.commit()
    return {**token_json(row, user), "token": plaintext}


@router.delete("/tokens/{token_id}")
def revoke_token(token_id: str, session: SessionDep, principal: ArchivePrincipalDep) -> Any:
    """Revoke a token at once; it answers 401 from the next request on."""
    owner = None if principal.is_admin else principal.user_id
    row = auth.revoke_token(session, token_id, user_id=owner)
    session.commit()
    names = dict((t.id, n) for t, n in auth.list_tokens(session, user_id=row.user_id))
    return {"success": True, **token_json(row, names.get(row.id, ""))}
