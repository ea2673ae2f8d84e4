"""Passwords and server-side web sessions.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106).
A web session is a random id in an HttpOnly cookie; the store keeps only its
sha256 and a per-session CSRF token, so signing out (deleting the row) ends it
everywhere at once, and a copy of the database signs no one in.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlmodel import Session, col, select

from crawler.auth import Principal, ensure_user, principal_for_user
from crawler.clock import utcnow
from crawler.errors import InvalidInput, NotFound, Unauthorized
from crawler.models import ApiToken, User, WebSession

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user is unknown, so a wrong name costs as long as a wrong password.

    Made on first use, not at import: every `amber` command imports this module, and
    an argon2 hash is slow on purpose.
    """
    return _hasher.hash("not a real password")


def check_password_rules(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"a password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return password


def set_password(
    session: Session, username: str, password: str, *, create: bool, admin: bool = False
) -> User:
    """Give `username` a password; `create=False` refuses a user that does not exist."""
    check_password_rules(password)
    user = session.exec(select(User).where(User.username == username.strip())).first()
    if user is None:
        if not create:
            raise NotFound(f"no user named {username!r}")
        user = ensure_user(session, username, admin=admin)
    elif admin and not user.is_admin:
        user.is_admin = True
    if user.password_hash and _verifies(user.password_hash, password):
        return user  # unchanged (AMBER_ADMIN_PASSWORD at every start): keep the hash
    user.password_hash = _hasher.hash(password)
    session.add(user)
    session.flush()
    end_all_sessions(session, user.id)  # a new password signs the old browsers out
    return user


def _verifies(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def check_login(session: Session, username: str, password: str) -> User:
    """The user these credentials belong to, or Unauthorized (same answer for either part)."""
    user = session.exec(select(User).where(User.username == username.strip())).first()
    if user is None or not user.password_hash:
        _verifies(_dummy_hash(), password)
        raise Unauthorized("Wrong user name or password")
    if not _verifies(user.password_hash, password):
        raise Unauthorized("Wrong user name or password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.add(user)
    return user


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything Amber stores is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live web session: who it is, and the CSRF token its forms must carry."""

    principal: Principal
    csrf_token: str
    id_hash: str


def start_session(session: Session, user: User, *, lifetime: timedelta) -> tuple[str, str]:
    """A new session for `user`; returns (cookie value, CSRF token). Also drops expired rows."""
    now = utcnow()
    session.exec(delete(WebSession).where(col(WebSession.expires_at) < now))  # type: ignore[call-overload]
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_digest(session_id),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return session_id, csrf


def resume_session(session: Session, session_id: str | None) -> SignedIn | None:
    """The signed-in session behind a cookie value, or None (unknown, expired, revoked)."""
    if not session_id or len(session_id) > 200:
        return None
    row = session.get(WebSession, _digest(session_id))
    if row is None or aware(row.expires_at) < utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    return SignedIn(principal_for_user(session, user), row.csrf_token, row.id_hash)


def end_session(session: Session, session_id: str | None) -> None:
    if session_id:
        session.exec(delete(WebSession).where(col(WebSession.id_hash) == _digest(session_id)))  # type: ignore[call-overload]


def end_all_sessions(session: Session, user_id: str) -> int:
    """Sign a user out everywhere (a password change does this)."""
    result = session.exec(delete(WebSession).where(col(WebSession.user_id) == user_id))  # type: ignore[call-overload]
    return int(result.rowcount or 0)


def user_tokens(session: Session, user_id: str) -> list[ApiToken]:
    """A user's API tokens, newest first (only ids and dates: the tokens are hashed)."""
    return list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(col(ApiToken.created_at).desc())
        )
    )


def revoke_token(session: Session, user_id: str, token_id: str) -> None:
    """Delete one of the user's tokens; another user's token is not found."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user_id:
        raise NotFound("no such token")
    session.delete(row)
    session.flush()
