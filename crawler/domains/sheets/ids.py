"""Flatfile's ids: minting them, and refusing ones that cannot exist before they reach SQL."""

from __future__ import annotations

import re
import secrets

from crawler.errors import NotFound

FLATFILE_ID = re.compile(r"^us_[a-z]{2,3}_[0-9a-f]{1,32}$")
WORKSPACE_ID = re.compile(r"^[A-Za-z0-9\-]{1,64}$")


def record_id() -> str:
    return "us_rc_" + secrets.token_hex(8)


def not_found(kind: str, resource_id: str) -> NotFound:
    return NotFound(f"{kind} {resource_id} not found")


def well_formed(resource_id: str) -> bool:
    """Ids that cannot exist never reach SQL (PostgreSQL refuses NUL bytes, for one)."""
    return bool(FLATFILE_ID.match(resource_id))
