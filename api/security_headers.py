"""Security headers on every answer of Amber's own origin, as a small ASGI middleware.

A route that sets one of these itself (the web UI's pages carry a full
Content-Security-Policy) keeps its own value: this only fills in what is
missing. The replay origin is a different app and is left alone: archived pages
are framed by Amber's UI from there, and their bytes are served as archived.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),
    # Only the framing rule: a route with a policy of its own keeps it whole.
    (b"content-security-policy", b"frame-ancestors 'self'"),
)


class SecurityHeaders:
    """Add DEFAULT_HEADERS to every HTTP response that does not already carry them."""

    def __init__(
        self, app: ASGIApp, *, headers: tuple[tuple[bytes, bytes], ...] = DEFAULT_HEADERS
    ) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                if extra:
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
