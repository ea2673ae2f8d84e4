"""Users, workspaces and API tokens. Tokens are stored only as sha256 hashes.

A token may expire (`expires_at`), be revoked (`revoked_at`, kept so lists show
what happened) and be read-only (scope "read": the API answers it only for
GET/HEAD/OPTIONS). The token made from AMBER_ADMIN_TOKEN is marked as such
(origin "env"), so that when the setting changes the old one is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlmodel import Session, col, select

from crawler.clock import as_utc, utcnow
from crawler.errors import InvalidInput, NotFound, Unauthorized
from crawler.models import ApiToken, Membership, User, Workspace

SCOPES = ("write", "read")
ENV_ORIGIN = "env"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and which workspaces they may touch."""

    user_id: str
    username: str
    is_admin: bool
    workspace_ids: tuple[str, ...]
    admin_workspace_ids: tuple[str, ...] = field(default=())
    read_only: bool = False  # a "read" token: GET, HEAD and OPTIONS only

    @property
    def default_workspace_id(self) -> str:
        return self.workspace_ids[0]

    def can_read(self, workspace_id: str) -> bool:
        return self.is_admin or workspace_id in self.workspace_ids

    def is_workspace_admin(self, workspace_id: str) -> bool:
        return self.is_admin or workspace_id in self.admin_workspace_ids


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_user(
    session: Session, username: str, *, admin: bool = False, workspace_name: str | None = None
) -> User:
    """Find or create a user with a personal workspace (and join `workspace_name` if given)."""
    username = username.strip()
    if not username or len(username) > 150:
        raise InvalidInput("user name must be 1-150 characters")
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        user = User(username=username, is_admin=admin)
        session.add(user)
        session.flush()
        personal = Workspace(name=f"{username}'s workspace")
        session.add(personal)
        session.flush()
        session.add(Membership(user_id=user.id, workspace_id=personal.id, role="admin"))
    elif admin and not user.is_admin:
        user.is_admin = True
        session.add(user)
    if workspace_name:
        join_workspace(session, user, workspace_name)
    session.flush()
    return user


def join_workspace(session: Session, user: User, name: str, role: str = "member") -> Workspace:
    workspace = session.exec(select(Workspace).where(Workspace.name == name)).first()
    if workspace is None:
        workspace = Workspace(name=name)
        session.add(workspace)
        session.flush()
        role = "admin"
    membership = session.get(Membership, (user.id, workspace.id))
    if membership is None:
        session.add(Membership(user_id=user.id, workspace_id=workspace.id, role=role))
        session.flush()
    return workspace


def issue_token(
    session: Session,
    username: str,
    *,
    admin: bool = False,
    workspace_name: str | None = None,
    token: str | None = None,
    scope: str = "write",
    expires_at: datetime | None = None,
    origin: str = "",
) -> tuple[str, ApiToken]:
    """Issue a token for `username` (creating the user if new): the plaintext, shown once,
    and the stored row (its id is what lists show)."""
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if expires_at is not None and as_utc(expires_at) <= utcnow():  # type: ignore[operator]
        raise InvalidInput("expires_at must be in the future")
    user = ensure_user(session, username, admin=admin, workspace_name=workspace_name)
    plaintext = token or "amb_" + secrets.token_urlsafe(30)
    hashed = hash_token(plaintext)
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hashed)).first()
    if row is None:
        row = ApiToken(
            user_id=user.id, token_hash=hashed, scope=scope, expires_at=expires_at, origin=origin
        )
        session.add(row)
        session.flush()
    return plaintext, row


def is_active(row: ApiToken, *, now: datetime | None = None) -> bool:
    """Neither revoked nor past its expiry."""
    if row.revoked_at is not None:
        return False
    expires = as_utc(row.expires_at)
    return expires is None or expires > (now or utcnow())


def list_tokens(session: Session, *, user_id: str | None = None) -> Sequence[tuple[ApiToken, str]]:
    """Every token (or one user's), oldest first, with its user's name; hashes stay inside."""
    query = select(ApiToken, User.username).join(User, col(User.id) == col(ApiToken.user_id))
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    rows = session.exec(query.order_by(col(ApiToken.created_at), col(ApiToken.id))).all()
    return [(token, str(name)) for token, name in rows]


def revoke_token(session: Session, token_id: str, *, user_id: str | None = None) -> ApiToken:
    """Revoke one token by id (only among `user_id`'s when given); revoking twice is a no-op."""
    row = session.get(ApiToken, token_id)
    if row is None or (user_id is not None and row.user_id != user_id):
        raise NotFound(f"no token {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
    return row


def ensure_env_admin_token(session: Session, token: str) -> None:
    """Make sure AMBER_ADMIN_TOKEN works, and that no earlier value of it still does.

    A token revoked by hand stays revoked even while the setting still names it:
    the operator then picks a new value.
    """
    _, current = issue_token(session, "admin", admin=True, token=token, origin=ENV_ORIGIN)
    if current.origin != ENV_ORIGIN:  # stored before tokens had an origin
        current.origin = ENV_ORIGIN
        session.add(current)
    stale = session.exec(
        select(ApiToken).where(
            ApiToken.origin == ENV_ORIGIN,
            col(ApiToken.id) != current.id,
            col(ApiToken.revoked_at).is_(None),
        )
    ).all()
    now = utcnow()
    for row in stale:
        row.revoked_at = now
        session.add(row)
    session.flush()


def principal_for_user(session: Session, user: User) -> Principal:
    memberships = session.exec(
        select(Membership).where(Membership.user_id == user.id).order_by(Membership.role)
    ).all()
    ordered = sorted(memberships, key=lambda m: (m.role != "admin", m.workspace_id))
    return Principal(
        user_id=user.id,
        username=user.username,
        is_admin=user.is_admin,
        workspace_ids=tuple(m.workspace_id for m in ordered),
        admin_workspace_ids=tuple(m.workspace_id for m in ordered if m.role == "admin"),
    )


def authenticate(session: Session, token: str | None) -> Principal:
    if not token:
        raise Unauthorized("Authentication credentials were not provided")
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None:
        raise Unauthorized("Invalid API token")
    if row.revoked_at is not None:
        raise Unauthorized("This API token has been revoked")
    if not is_active(row):
        raise Unauthorized("This API token has expired")
    user = session.get(User, row.user_id)
    if user is None:
        raise Unauthorized("Invalid API token")
    principal = principal_for_user(session, user)
    if row.scope == "read":
        principal = replace(principal, read_only=True)
    return principal
