"""Replay capabilities: who may read replayed content, carried in the replay URL itself.

Replay runs on another origin than Amber's UI, so the UI's session cookie is not
a reliable credential there (cookies ignore ports, but not host names, and a
cross-site frame's cookies are third-party). Instead every replay URL starts
with a capability: the user id and an expiry, signed with a server secret.
Archived scripts can read their own URL, so a capability only grants what the
user could already see, only for replay, and only until it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

PUBLIC = "_"
LIFETIME_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class Capability:
    user_id: str | None  # None: public replay
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:18])


def mint(key: bytes, user_id: str, *, now: float | None = None) -> str:
    """A capability for `user_id`, valid for LIFETIME_SECONDS."""
    expires = int((now or time.time()) + LIFETIME_SECONDS)
    body = f"{user_id}.{expires:x}"
    return f"{body}.{_sign(key, body)}"


def verify(key: bytes, token: str, *, public: bool, now: float | None = None) -> Capability | None:
    """The capability `token` grants, or None when it is forged, expired or malformed."""
    if token == PUBLIC:
        return Capability(None, 0) if public else None
    parts = token.split(".")
    if len(parts) != 3 or not (1 <= len(parts[0]) <= 64):
        return None
    user_id, expires_hex, signature = parts
    if not hmac.compare_digest(_sign(key, f"{user_id}.{expires_hex}"), signature):
        return None
    try:
        expires = int(expires_hex, 16)
    except ValueError:
        return None
    if expires < (now or time.time()):
        return None
    return Capability(user_id, expires)
