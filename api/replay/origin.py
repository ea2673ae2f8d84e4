"""Where the replay origin is, seen from a request to either origin.

Replay must never share Amber's origin. By default it listens on its own port
(`amber serve --replay-port`, default the API port + 1) on the same host name
the reader used, so it works on a LAN address over plain HTTP with no set-up.
Behind a proxy, `AMBER_REPLAY_URL` names it explicitly (ideally its own host).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from api.state import AppState

REPLAY_PATH_PREFIX = "/_amber/"  # the replay origin's own files (the shim)


def _host(request: Request) -> str:
    host = request.url.hostname or "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def replay_base(request: Request, state: AppState) -> str:
    """The replay origin's base URL, without a trailing slash."""
    if state.settings.replay_url:
        return state.settings.replay_url.rstrip("/")
    return f"{request.url.scheme}://{_host(request)}:{state.replay_port}"


def amber_origin_source(request: Request, state: AppState) -> str:
    """A CSP source that matches Amber's UI origin (the only page that may frame replay)."""
    if state.settings.base_url:
        parts = urlsplit(state.settings.base_url)
        return f"{parts.scheme}://{parts.netloc}"
    return f"{request.url.scheme}://{_host(request)}:*"


def is_replay_request(
    scope_server: tuple[str, int] | None, host_header: str, state: AppState
) -> bool:
    """True when a request arrived for the replay origin (by its port, or its host name)."""
    if scope_server and state.replay_port and scope_server[1] == state.replay_port:
        return True
    if state.settings.replay_url:
        wanted = urlsplit(state.settings.replay_url).netloc.lower()
        return bool(wanted) and host_header.lower() == wanted
    return False
