"""Records every HTTP exchange of a page through a CDP session (as Browsertrix does).

Playwright's own response events lose redirect hops, header order and the HTTP
version; the DevTools `Network` domain gives the raw status line and headers as
sent (`responseReceivedExtraInfo.headersText`) and one event per redirect hop.
Bodies are fetched with `Network.getResponseBody` as each response finishes and
spooled to disk, so a large page is never held in memory. The allow-list is not
enforced here but by the context's `EgressGuard`; the recorder only asks it why
a request failed, to list refused requests and to explain a refused document.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import CDPSession
from playwright.async_api import Error as PlaywrightError

from crawler.errors import CaptureError, FetchRefused
from extractors.engine.egress import EgressGuard

log = logging.getLogger(__name__)

HeaderList = list[tuple[str, str]]


@dataclass(slots=True)
class HttpResponse:
    status: int
    reason: str
    protocol: str
    headers: HeaderList
    mimetype: str = ""
    body_path: Path | None = None
    body_error: str | None = None
    truncated: str | None = None  # WARC-Truncated: the body is what arrived before the end


@dataclass(slots=True)
class Exchange:
    """One request and its response: a redirect hop, a document, an image, a fetch()."""

    request_id: str
    url: str
    method: str
    request_headers: HeaderList
    post_data: bytes | None
    started_at: datetime
    resource_type: str = ""
    response: HttpResponse | None = None
    failed: str | None = None
    finished: bool = False


@dataclass(slots=True)
class WebSocketLog:
    """A WebSocket the page opened and the frames it sent and received (for a metadata record)."""

    url: str
    started_at: datetime
    frames: list[dict[str, Any]] = field(default_factory=list)


# Connections that stay open by design: they never hold up the settle wait.
LONG_LIVED = frozenset({"EventSource", "WebSocket", "Media"})
MAX_FRAMES = 1000


@dataclass(slots=True)
class _Pending:
    hops: list[Exchange] = field(default_factory=list)
    request_extra: list[dict[str, Any]] = field(default_factory=list)
    response_extra: list[dict[str, Any]] = field(default_factory=list)


def _split_header_dict(headers: dict[str, str]) -> HeaderList:
    """CDP folds repeated headers into one value joined by newlines; unfold them."""
    out: HeaderList = []
    for name, value in headers.items():
        for part in str(value).split("\n"):
            out.append((name, part))
    return out


def parse_headers_text(text: str) -> tuple[str, int, str, HeaderList] | None:
    """Parse a raw HTTP/1.x response head into (protocol, status, reason, headers)."""
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or not lines[0].upper().startswith("HTTP/"):
        return None
    first = lines[0].split(" ", 2)
    if len(first) < 2 or not first[1].isdigit():
        return None
    headers: HeaderList = []
    for line in lines[1:]:
        if not line.strip():
            continue
        if line[0] in " \t" and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return first[0], int(first[1]), first[2] if len(first) > 2 else "", headers


def _protocol_label(protocol: str | None) -> str:
    mapping = {"http/1.0": "HTTP/1.0", "http/1.1": "HTTP/1.1", "h2": "HTTP/2", "h3": "HTTP/3"}
    return mapping.get((protocol or "").lower(), "HTTP/1.1")


def _wall(params: dict[str, Any]) -> datetime:
    wall = params.get("wallTime")
    return datetime.fromtimestamp(wall, UTC) if wall else datetime.now(UTC)


class NetworkRecorder:
    """Collects exchanges for one page; `settle()` waits for every body to be spooled."""

    def __init__(
        self,
        cdp: CDPSession,
        spool_dir: Path | None = None,
        *,
        max_bytes: int = 0,
        guard: EgressGuard,
    ) -> None:
        self.cdp = cdp
        self.guard = guard
        self.spool_dir = spool_dir
        self.max_bytes = max_bytes
        self.received_bytes = 0
        self.over_budget = asyncio.Event()
        self.exchanges: list[Exchange] = []
        self.blocked: list[str] = []
        self._pending: dict[str, _Pending] = {}
        self._inflight: set[str] = set()
        self._body_tasks: set[asyncio.Task[None]] = set()
        self._counter = itertools.count()
        self._last_activity = asyncio.get_running_loop().time()
        self._document_bodies: dict[str, Path] = {}
        self._streams: set[str] = set()
        self.received: dict[str, int] = {}
        self.websockets: dict[str, WebSocketLog] = {}

    def configure(self, *, spool_dir: Path, max_bytes: int) -> None:
        """Aim a recorder that was started ahead of time (on about:blank) at one capture."""
        self.spool_dir = spool_dir
        self.max_bytes = max_bytes
        self._touch()

    def _spool(self) -> Path:
        if self.spool_dir is None:
            raise RuntimeError("recorder used before configure()")
        return self.spool_dir

    async def start(self) -> None:
        handlers = {
            "Network.requestWillBeSent": self._on_request,
            "Network.requestWillBeSentExtraInfo": self._on_request_extra,
            "Network.responseReceived": self._on_response,
            "Network.responseReceivedExtraInfo": self._on_response_extra,
            "Network.dataReceived": self._on_data,
            "Network.loadingFinished": self._on_finished,
            "Network.loadingFailed": self._on_failed,
            "Network.webSocketCreated": self._on_ws_created,
            "Network.webSocketFrameSent": lambda p: self._on_ws_frame(p, "sent"),
            "Network.webSocketFrameReceived": lambda p: self._on_ws_frame(p, "received"),
        }
        for event, handler in handlers.items():
            self.cdp.on(event, handler)
        await self.cdp.send(
            "Network.enable",
            {"maxTotalBufferSize": 200 * 1024 * 1024, "maxResourceBufferSize": 100 * 1024 * 1024},
        )
        # Documents pause at the response stage: for a document Chromium hands to a viewer
        # (PDF), Network.getResponseBody returns the viewer's HTML, not the bytes.
        self.cdp.on("Fetch.requestPaused", self._on_paused)
        await self.cdp.send(
            "Fetch.enable",
            {"patterns": [{"resourceType": "Document", "requestStage": "Response"}]},
        )

    # -- events -------------------------------------------------------------------

    def _touch(self) -> None:
        self._last_activity = asyncio.get_running_loop().time()

    def quiet_for(self) -> float:
        """Seconds since the last network activity; 0 while a (short-lived) request is open."""
        if self._inflight - self._streams:
            return 0.0
        return asyncio.get_running_loop().time() - self._last_activity

    def _on_ws_created(self, params: dict[str, Any]) -> None:
        self.websockets[params["requestId"]] = WebSocketLog(
            url=params.get("url", ""), started_at=datetime.now(UTC)
        )

    def _on_ws_frame(self, params: dict[str, Any], direction: str) -> None:
        log_ = self.websockets.get(params["requestId"])
        if log_ is None or len(log_.frames) >= MAX_FRAMES:
            return
        frame = params.get("response", {})
        log_.frames.append(
            {
                "direction": direction,
                "time": params.get("timestamp"),
                "opcode": frame.get("opcode"),
                "data": frame.get("payloadData", ""),
            }
        )

    def _on_request(self, params: dict[str, Any]) -> None:
        request_id = params["requestId"]
        if params.get("type") in LONG_LIVED:
            self._streams.add(request_id)
        else:
            self._touch()
        request = params["request"]
        url = request.get("url", "")
        if not url.startswith(("http://", "https://")):
            return
        pending = self._pending.setdefault(request_id, _Pending())
        redirect = params.get("redirectResponse")
        if redirect and pending.hops:
            hop = pending.hops[-1]
            hop.response = self._make_response(redirect, pending, len(pending.hops) - 1)
            hop.finished = True
        post = request.get("postData")
        hop = Exchange(
            request_id=request_id,
            url=url,
            method=request.get("method", "GET"),
            request_headers=_split_header_dict(request.get("headers", {})),
            post_data=post.encode("utf-8") if isinstance(post, str) else None,
            started_at=_wall(params),
            resource_type=params.get("type", ""),
        )
        pending.hops.append(hop)
        self.exchanges.append(hop)
        self._inflight.add(request_id)

    def _on_request_extra(self, params: dict[str, Any]) -> None:
        pending = self._pending.setdefault(params["requestId"], _Pending())
        pending.request_extra.append(params)
        index = len(pending.request_extra) - 1
        if index < len(pending.hops) and params.get("headers"):
            pending.hops[index].request_headers = _split_header_dict(params["headers"])

    def _on_response(self, params: dict[str, Any]) -> None:
        if params["requestId"] not in self._streams:
            self._touch()
        if "event-stream" in str(params.get("response", {}).get("mimeType", "")):
            self._streams.add(params["requestId"])
        pending = self._pending.get(params["requestId"])
        if not pending or not pending.hops:
            return
        hop = pending.hops[-1]
        hop.response = self._make_response(params["response"], pending, len(pending.hops) - 1)

    def _on_response_extra(self, params: dict[str, Any]) -> None:
        pending = self._pending.setdefault(params["requestId"], _Pending())
        pending.response_extra.append(params)
        index = len(pending.response_extra) - 1
        response = pending.hops[index].response if index < len(pending.hops) else None
        if response is not None:
            self._apply_extra(response, params)

    def _on_data(self, params: dict[str, Any]) -> None:
        request_id = params["requestId"]
        if request_id not in self._streams:
            self._touch()
        self.received[request_id] = self.received.get(request_id, 0) + int(
            params.get("dataLength") or 0
        )
        self.received_bytes += int(params.get("encodedDataLength") or params.get("dataLength") or 0)
        if self.received_bytes > self.max_bytes:
            self.over_budget.set()

    def _ended(self, request_id: str) -> Exchange | None:
        """A request is no longer in flight; its last hop, if it was recorded."""
        if request_id not in self._streams:
            self._touch()
        self._inflight.discard(request_id)
        pending = self._pending.get(request_id)
        return pending.hops[-1] if pending and pending.hops else None

    def _on_finished(self, params: dict[str, Any]) -> None:
        request_id = params["requestId"]
        hop = self._ended(request_id)
        if hop is None:
            return
        hop.finished = True
        if hop.response is not None and hop.response.status not in (204, 304):
            task = asyncio.create_task(self._fetch_body(request_id, hop.response))
            self._body_tasks.add(task)
            task.add_done_callback(self._body_tasks.discard)

    def _on_failed(self, params: dict[str, Any]) -> None:
        hop = self._ended(params["requestId"])
        if hop is None:
            return
        hop.failed = params.get("blockedReason") or params.get("errorText") or "failed"
        refusal = self._refusal(hop.url, hop.failed)
        if refusal is not None:
            hop.failed = f"refused by the fetch allow-list: {refusal}"
            self.blocked.append(f"{hop.url} ({refusal})")

    def _refusal(self, url: str, error: str) -> str | None:
        """The guard's reason, when a request failed because the guard refused its address."""
        if "SOCKS" not in error:
            return None
        verdict = self.guard.verdict_for(url)
        return verdict.reason if verdict is not None and verdict.refused else None

    def explain(self, exc: CaptureError) -> CaptureError:
        """Turn the browser's opaque proxy error for the document into what really happened."""
        if "ERR_SOCKS_CONNECTION_FAILED" not in exc.message:
            return exc
        for hop in reversed(self.exchanges):
            if hop.resource_type not in ("Document", "") or not hop.failed:
                continue
            verdict = self.guard.verdict_for(hop.url)
            if verdict is None:
                continue
            if verdict.refused:
                reason = verdict.reason
                return FetchRefused(f"{hop.url} was refused by the fetch allow-list: {reason}")
            transient = verdict.net_error != "ERR_CONNECTION_FAILED"
            return CaptureError(
                f"failed to load {hop.url}: net::{verdict.net_error} ({verdict.reason})",
                transient=transient,
            )
        return exc

    def _on_paused(self, params: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self._keep_document_body(params))
        self._body_tasks.add(task)
        task.add_done_callback(self._body_tasks.discard)

    async def _keep_document_body(self, params: dict[str, Any]) -> None:
        """Spool a non-HTML document's real bytes; always let the response continue."""
        try:
            status = params.get("responseStatusCode")
            headers = {h["name"].lower(): h["value"] for h in params.get("responseHeaders", [])}
            content_type = headers.get("content-type", "").lower()
            if status and 200 <= int(status) < 300 and "html" not in content_type:
                body = await self.cdp.send(
                    "Fetch.getResponseBody", {"requestId": params["requestId"]}
                )
                raw = body.get("body", "")
                data = base64.b64decode(raw) if body.get("base64Encoded") else raw.encode()
                path = await asyncio.to_thread(self.spool, data, "doc")
                self._document_bodies[params.get("networkId") or params["requestId"]] = path
        except PlaywrightError as exc:
            log.debug("could not keep document body: %s", exc)
        finally:
            with contextlib.suppress(PlaywrightError):
                await self.cdp.send("Fetch.continueRequest", {"requestId": params["requestId"]})

    # -- helpers -------------------------------------------------------------------

    def _make_response(self, data: dict[str, Any], pending: _Pending, index: int) -> HttpResponse:
        response = HttpResponse(
            status=int(data.get("status", 0)),
            reason=data.get("statusText", ""),
            protocol=_protocol_label(data.get("protocol")),
            headers=_split_header_dict(data.get("headers", {})),
            mimetype=data.get("mimeType", ""),
        )
        if index < len(pending.response_extra):
            self._apply_extra(response, pending.response_extra[index])
        return response

    @staticmethod
    def _apply_extra(response: HttpResponse, extra: dict[str, Any]) -> None:
        """Prefer the head exactly as the server sent it."""
        parsed = parse_headers_text(extra.get("headersText") or "")
        if parsed:
            response.protocol, response.status, response.reason, response.headers = parsed
        elif extra.get("headers"):
            response.headers = _split_header_dict(extra["headers"])
            response.status = int(extra.get("statusCode") or response.status)

    async def _fetch_body(self, request_id: str, response: HttpResponse) -> None:
        if request_id in self._document_bodies:
            response.body_path = self._document_bodies[request_id]
            return
        try:
            result = await self.cdp.send("Network.getResponseBody", {"requestId": request_id})
        except PlaywrightError as exc:
            response.body_error = str(exc).splitlines()[0]
            return
        body = result.get("body", "")
        data = base64.b64decode(body) if result.get("base64Encoded") else body.encode("utf-8")
        try:
            response.body_path = await asyncio.to_thread(self.spool, data)
        except OSError as exc:  # a full disk: the WARC says the body is missing, and why
            response.body_error = f"cannot spool the body: {exc}"

    def add_exchange(self, exchange: Exchange) -> None:
        """Add an exchange made outside the page (the favicon fetch) so the WARC has it."""
        self.exchanges.append(exchange)

    def spool(self, data: bytes, kind: str = "body") -> Path:
        """Write one body to the capture's spool dir (bodies never stay in memory)."""
        path = self._spool() / f"{kind}-{next(self._counter):05d}"
        path.write_bytes(data)
        return path

    async def wait_idle(self, *, quiet: float, timeout: float) -> bool:
        """Wait until nothing is in flight for `quiet` seconds; False if the budget ran out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.quiet_for() >= quiet:
                return True
            await asyncio.sleep(0.01)
        return False

    async def settle(self, timeout: float) -> None:
        """Wait for pending body fetches (bounded), so the WARC sees every finished body."""
        if self._body_tasks:
            await asyncio.wait(set(self._body_tasks), timeout=timeout)

    def main_exchanges(self, url: str) -> list[Exchange]:
        """The document's redirect chain: the hops of the first request for `url`."""
        for pending in self._pending.values():
            if (
                pending.hops
                and pending.hops[0].url == url
                and pending.hops[0].resource_type in ("Document", "")
            ):
                return list(pending.hops)
        for pending in self._pending.values():
            if pending.hops and pending.hops[0].url == url:
                return list(pending.hops)
        return []
