"""Security headers on every answer of Amber's own origin (not the replay origin).

A route that needs another policy sets its own header (archived files are
sandboxed, the replay page frames the replay origin); this middleware only
fills in what is missing. HTML without its own policy gets the UI's strict one:
scripts, styles and frames from Amber alone, and no page may frame Amber.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)
ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "SAMEORIGIN",
}


class SecurityHeaders:
    """Pure ASGI (no BaseHTTPMiddleware), so streamed answers (SSE, WARCs) stay streamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                is_html = headers.get("content-type", "").startswith("text/html")
                if "content-security-policy" not in headers:
                    if is_html:
                        headers["content-security-policy"] = UI_POLICY
                        headers["x-frame-options"] = "DENY"
                    else:  # only the framing rule: JSON, files and errors need no more
                        headers["content-security-policy"] = "frame-ancestors 'self'"
            await send(message)

        await self.app(scope, receive, send_with_headers)
