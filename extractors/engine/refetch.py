"""Fetching what the page's own loads left incomplete, through the capture's egress guard.

The browser context's request API (`context.request`) goes through the same
proxy as the page, with the page's cookies, so nothing here can reach an
address the allow-list refuses. Everything fetched here is charged to one byte
budget per capture (`ExtraBudget`).

Why bodies end up incomplete (issue 16):
- a body the page consumed as a `Blob` or a media stream: `Network.getResponseBody`
  answers "" although bytes arrived;
- media fetched in ranges: a 206 with part (or none) of the file, which replay
  cannot serve to a player asking for another range;
- a response still streaming when the capture ends (EventSource, a long poll):
  it keeps what arrived (`Network.streamResourceContent`) and is marked truncated.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

from extractors.engine.recorder import Exchange, HeaderList, HttpResponse, NetworkRecorder

log = logging.getLogger(__name__)

REFETCH_TIMEOUT_MS = 15_000
DROP_REQUEST_HEADERS = frozenset(
    {"host", "content-length", "range", "if-range", "accept-encoding", "connection", "cookie"}
)
CONTENT_RANGE_TOTAL = re.compile(r"/\s*(\d+)\s*$")


@dataclass(slots=True)
class ExtraBudget:
    """Bytes the engine may still fetch on its own for this capture."""

    remaining: int

    def take(self, size: int) -> bool:
        if size > self.remaining:
            return False
        self.remaining -= size
        return True


async def refetch(
    context: BrowserContext,
    recorder: NetworkRecorder,
    url: str,
    *,
    headers: HeaderList,
    budget: ExtraBudget,
    expected: int | None = None,
) -> Exchange | None:
    """GET `url` whole through the guard; an exchange ready for the WARC, or None."""
    if expected is not None and expected > budget.remaining:
        return None
    sent = {
        k: v for k, v in headers if not k.startswith(":") and k.lower() not in DROP_REQUEST_HEADERS
    }
    started = datetime.now(UTC)
    try:
        response = await context.request.get(
            url, headers=sent, timeout=REFETCH_TIMEOUT_MS, max_redirects=0
        )
        body = await response.body()
        head = response.headers_array
    except PlaywrightError as exc:
        log.debug("refetch of %s failed: %s", url, exc)
        return None
    if not budget.take(len(body)):
        return None
    path = await asyncio.to_thread(recorder.spool, body, "refetch")
    return Exchange(
        request_id=f"refetch-{url}",
        url=url,
        method="GET",
        request_headers=list(sent.items()),
        post_data=None,
        started_at=started,
        resource_type="Other",
        response=HttpResponse(
            status=response.status,
            reason=response.status_text,
            protocol="HTTP/1.1",
            headers=[(h["name"], h["value"]) for h in head],
            mimetype=response.headers.get("content-type", ""),
            body_path=path,
        ),
        finished=True,
    )


def _body_size(response: HttpResponse) -> int:
    if response.body_path is None:
        return 0
    with contextlib.suppress(OSError):
        return response.body_path.stat().st_size
    return 0


def _has_body(response: HttpResponse) -> bool:
    """Whether the server sent (or may have sent) bytes: a Content-Length other than 0.

    Chromium does not always report `dataReceived` for a body the page read as a
    Blob, so its byte count cannot tell; the header (or its absence) can.
    """
    for name, value in response.headers:
        if name.lower() == "content-length":
            return value.strip() != "0"
    return True


def _range_total(response: HttpResponse) -> int | None:
    for name, value in response.headers:
        if name.lower() == "content-range":
            match = CONTENT_RANGE_TOTAL.search(value)
            return int(match.group(1)) if match else None
    return None


async def keep_partial(recorder: NetworkRecorder, exchange: Exchange) -> None:
    """A response still open: keep the bytes that arrived, marked as truncated."""
    response = exchange.response
    assert response is not None
    try:
        answer = await recorder.cdp.send(
            "Network.streamResourceContent", {"requestId": exchange.request_id}
        )
    except PlaywrightError as exc:
        log.debug("cannot read open response %s: %s", exchange.url, exc)
        return
    data = base64.b64decode(answer.get("bufferedData", ""))
    response.body_path = await asyncio.to_thread(recorder.spool, data, "partial")
    response.truncated = "time"


async def complete_bodies(
    context: BrowserContext, recorder: NetworkRecorder, budget: ExtraBudget
) -> list[str]:
    """Make every recorded body whole, or say it is not; notes for the capture."""
    notes: list[str] = []
    wholes: set[str] = set()
    for exchange in list(recorder.exchanges):
        response = exchange.response
        if response is None:
            continue
        if response.status == 206:  # aborted or not: players cancel ranges all the time
            if exchange.url in wholes:  # a player asks for many ranges: one 200 is enough
                exchange.response = None
                continue
            whole = await refetch(
                context,
                recorder,
                exchange.url,
                headers=exchange.request_headers,
                budget=budget,
                expected=_range_total(response),
            )
            if whole is not None and whole.response is not None and whole.response.status == 200:
                wholes.add(exchange.url)
                exchange.response = whole.response
                exchange.request_headers = whole.request_headers
                exchange.finished = True
            else:
                notes.append(f"{exchange.url}: kept as a partial (206) response")
            continue
        if exchange.failed:
            continue
        if not exchange.finished:
            await keep_partial(recorder, exchange)
            continue
        if exchange.method != "GET":
            continue
        if response.status == 200 and _body_size(response) == 0 and _has_body(response):
            again = await refetch(
                context,
                recorder,
                exchange.url,
                headers=exchange.request_headers,
                budget=budget,
                expected=recorder.received.get(exchange.request_id) or None,
            )
            if again is not None and again.response is not None and again.response.status == 200:
                response.body_path = again.response.body_path
                response.body_error = None
            else:
                notes.append(f"{exchange.url}: the browser kept no body and a re-fetch failed")
    return notes
