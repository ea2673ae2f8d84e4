"""Personas: logins to capture as, kept as encrypted browser storage states.

A persona is what Playwright calls a storage state (cookies and each origin's
local storage). It is imported from a Netscape ``cookies.txt`` or a
storage-state JSON, or recorded by logging in once (`amber persona login`).
The state is encrypted at rest with Fernet under ``AMBER_PERSONA_KEY``, or,
when that is unset, a random key made once and shared through the store (as
`crawler.secrets` does for replay); only the capture decrypts it, and nothing
that lists personas ever shows it.

A capture uses a persona when its snapshot names one (``persona`` on
``cli/add``, ``--persona`` on ``amber add``), when its crawl's config does, or
when the URL's host matches one of a persona's host patterns, always within the
snapshot's own workspace: one tenant can never capture as another's persona.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawler.auth import Principal
from crawler.clock import utcnow
from crawler.errors import AmberError, InvalidInput, NotFound
from crawler.models import Crawl, Persona, Snapshot
from crawler.secrets import server_secret

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
HOST_PATTERN = re.compile(r"[A-Za-z0-9*?.\-\[\]]{1,253}")
SAME_SITE = {"strict": "Strict", "lax": "Lax", "none": "None", "no_restriction": "None"}
StorageState = dict[str, Any]


def cipher(engine: Engine, key: str = "") -> Fernet:
    """The Fernet for persona states: from `key` (any string) or a key made once per store."""
    raw = hashlib.sha256(key.encode()).digest() if key else server_secret(engine, "persona-key")
    return Fernet(base64.urlsafe_b64encode(raw[:32]))


def parse_state(data: bytes) -> StorageState:
    """A storage state from a storage-state JSON or a Netscape cookies.txt, else InvalidInput."""
    text = data.decode("utf-8-sig", errors="replace").strip()
    if text.startswith("{"):
        try:
            state = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"not a storage-state JSON: {exc.msg}") from exc
        return _checked(state)
    cookies = []
    for number, line in enumerate(text.splitlines(), start=1):
        http_only = line.startswith("#HttpOnly_")
        if http_only:
            line = line[len("#HttpOnly_") :]
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 7:
            raise InvalidInput(f"cookies.txt line {number}: expected 7 tab-separated fields")
        domain, _sub, path, secure, expires, name, value = fields
        try:
            expiry = float(expires)
        except ValueError as exc:
            raise InvalidInput(f"cookies.txt line {number}: bad expiry {expires!r}") from exc
        cookies.append(
            {
                "name": name,
                "value": value,
                "domain": domain,
                "path": path or "/",
                "expires": expiry if expiry > 0 else -1,
                "httpOnly": http_only,
                "secure": secure.upper() == "TRUE",
                "sameSite": "Lax",
            }
        )
    if not cookies:
        raise InvalidInput("no cookies found: expected a Netscape cookies.txt or a storage state")
    return {"cookies": cookies, "origins": []}


def parse_state_dict(state: object) -> StorageState:
    """A storage state as Playwright's `storage_state()` returns it, checked."""
    return _checked(state)


def _checked(state: object) -> StorageState:
    """Keep only what Playwright's storage state holds, in the shape it needs."""
    if not isinstance(state, dict) or not isinstance(state.get("cookies", []), list):
        raise InvalidInput("a storage state is an object with a list of cookies")
    cookies = []
    for cookie in state.get("cookies", []):
        if not isinstance(cookie, dict) or not cookie.get("name") or not cookie.get("domain"):
            raise InvalidInput("each cookie needs a name and a domain")
        cookies.append(
            {
                "name": str(cookie["name"]),
                "value": str(cookie.get("value", "")),
                "domain": str(cookie["domain"]),
                "path": str(cookie.get("path") or "/"),
                "expires": float(cookie.get("expires", -1) or -1),
                "httpOnly": bool(cookie.get("httpOnly", False)),
                "secure": bool(cookie.get("secure", False)),
                "sameSite": SAME_SITE.get(str(cookie.get("sameSite", "Lax")).lower(), "Lax"),
            }
        )
    origins = []
    for origin in state.get("origins", []) or []:
        if not isinstance(origin, dict) or not isinstance(origin.get("origin"), str):
            raise InvalidInput("each origin needs an `origin` URL")
        items = [
            {"name": str(i.get("name", "")), "value": str(i.get("value", ""))}
            for i in origin.get("localStorage", []) or []
            if isinstance(i, dict)
        ]
        origins.append({"origin": origin["origin"], "localStorage": items})
    if not cookies and not origins:
        raise InvalidInput("the storage state holds no cookies and no local storage")
    return {"cookies": cookies, "origins": origins}


def check_hosts(hosts: list[str]) -> str:
    for host in hosts:
        if not HOST_PATTERN.fullmatch(host) or host.strip("*.?") == "":
            raise InvalidInput(f"not a host pattern: {host!r} (e.g. example.com, *.example.com)")
    return ",".join(h.lower() for h in hosts)


def save(
    session: Session,
    *,
    principal: Principal,
    name: str,
    state: StorageState,
    hosts: list[str],
    fernet: Fernet,
) -> Persona:
    """Create or replace the workspace's persona `name` (its state encrypted)."""
    if not NAME.fullmatch(name):
        raise InvalidInput("a persona name is 1-100 letters, digits, '.', '_' or '-'")
    workspace = principal.default_workspace_id
    persona = _named(session, workspace, name)
    token = fernet.encrypt(json.dumps(state).encode()).decode()
    now = utcnow()
    if persona is None:
        persona = Persona(
            workspace_id=workspace, created_by_id=principal.user_id, name=name, state=token
        )
    persona.state = token
    persona.hosts = check_hosts(hosts)
    persona.modified_at = now
    session.add(persona)
    session.flush()
    return persona


def _named(session: Session, workspace_id: str, name: str) -> Persona | None:
    return session.exec(
        select(Persona).where(col(Persona.workspace_id) == workspace_id, col(Persona.name) == name)
    ).first()


def get(session: Session, *, workspace_id: str, name: str) -> Persona:
    """The workspace's persona called `name`; another workspace's is as unknown as none."""
    persona = _named(session, workspace_id, name)
    if persona is None:
        raise NotFound(f"no persona named {name!r}")
    return persona


def named_id(session: Session, *, workspace_id: str, name: str) -> str | None:
    """The id of the persona a request names ("" = none); an unknown name is bad input."""
    if not name:
        return None
    persona = _named(session, workspace_id, name)
    if persona is None:
        raise InvalidInput(f"no persona named {name!r} in this workspace")
    return persona.id


def listing(session: Session, *, workspace_ids: tuple[str, ...]) -> list[Persona]:
    return list(
        session.exec(
            select(Persona)
            .where(col(Persona.workspace_id).in_(workspace_ids))
            .order_by(col(Persona.name))
        )
    )


def delete(session: Session, *, principal: Principal, name: str) -> None:
    session.delete(get(session, workspace_id=principal.default_workspace_id, name=name))


def public(persona: Persona) -> dict[str, Any]:
    """What may be shown about a persona: never its state."""
    return {
        "id": persona.id,
        "name": persona.name,
        "hosts": [h for h in persona.hosts.split(",") if h],
        "created_at": persona.created_at.isoformat(),
        "modified_at": persona.modified_at.isoformat(),
    }


def for_snapshot(session: Session, snapshot: Snapshot) -> Persona | None:
    """The persona a capture uses: the snapshot's, its crawl's, or one whose hosts match."""
    if snapshot.persona_id:
        persona = session.get(Persona, snapshot.persona_id)
        if persona is not None and persona.workspace_id == snapshot.workspace_id:
            return persona
    if snapshot.crawl_id:
        crawl = session.get(Crawl, snapshot.crawl_id)
        name = str((crawl.config or {}).get("persona") or "") if crawl else ""
        if name:
            return _named(session, snapshot.workspace_id, name)
    host = (urlsplit(snapshot.url).hostname or "").lower()
    for persona in listing(session, workspace_ids=(snapshot.workspace_id,)):
        if any(host_matches(host, p) for p in persona.hosts.split(",") if p):
            return persona
    return None


def host_matches(host: str, pattern: str) -> bool:
    """fnmatch on the host; ``*.example.com`` also matches ``example.com`` itself."""
    return fnmatch.fnmatchcase(host, pattern) or (pattern.startswith("*.") and host == pattern[2:])


def decrypt(persona: Persona, fernet: Fernet) -> StorageState:
    try:
        state: StorageState = json.loads(fernet.decrypt(persona.state.encode()))
    except InvalidToken as exc:
        raise AmberError(
            f"persona {persona.name!r} cannot be decrypted: was AMBER_PERSONA_KEY changed?"
        ) from exc
    return state
