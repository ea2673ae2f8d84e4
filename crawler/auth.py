"""Users, workspaces and API tokens. Tokens are stored only as sha256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from sqlmodel import Session, select

from crawler.errors import InvalidInput, Unauthorized
from crawler.models import ApiToken, Membership, User, Workspace


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and which workspaces they may touch."""

    user_id: str
    username: str
    is_admin: bool
    workspace_ids: tuple[str, ...]
    admin_workspace_ids: tuple[str, ...] = field(default=())

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


def create_token(
    session: Session,
    username: str,
    *,
    admin: bool = False,
    workspace_name: str | None = None,
    token: str | None = None,
) -> str:
    """Issue a token for `username` (creating the user if new); return the plaintext once."""
    user = ensure_user(session, username, admin=admin, workspace_name=workspace_name)
    plaintext = token or "amb_" + secrets.token_urlsafe(30)
    hashed = hash_token(plaintext)
    if session.exec(select(ApiToken).where(ApiToken.token_hash == hashed)).first() is None:
        session.add(ApiToken(user_id=user.id, token_hash=hashed))
        session.flush()
    return plaintext


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
    user = session.get(User, row.user_id)
    if user is None:
        raise Unauthorized("Invalid API token")
    return principal_for_user(session, user)
