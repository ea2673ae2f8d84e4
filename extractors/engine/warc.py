"""The WARC writer: WARC/1.1 of every exchange the page made, one gzip member per record.

Each response record comes before its request record, whose `WARC-Concurrent-To`
names the response: pywb and ReplayWeb.page pair a POST with its response only
that way. A body that was still arriving when the capture ended carries
`WARC-Truncated`. WebSocket frames are listed in one `metadata` record per socket.

Bodies come from the browser already decoded, so each response is written with
`Content-Encoding`/`Transfer-Encoding` removed (kept as `X-Archive-Orig-*`) and
`Content-Length` set to the bytes actually stored; replay tools then serve them
as-is.
"""

from __future__ import annotations

import io
import json
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler import __version__
from extractors.engine.recorder import Exchange, HeaderList, WebSocketLog

WARC_PATH = "warc/capture.warc.gz"
WARCIO_VERSION = version("warcio")


def _response_headers(headers: HeaderList, body_length: int) -> HeaderList:
    out: HeaderList = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in ("content-encoding", "transfer-encoding"):
            out.append((f"X-Archive-Orig-{name}", value))
        elif lowered != "content-length":
            out.append((name, value))
    out.append(("Content-Length", str(body_length)))
    return out


def _request_line(exchange: Exchange) -> str:
    parts = urlsplit(exchange.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{exchange.method} {target} HTTP/1.1"


def _request_headers(exchange: Exchange) -> HeaderList:
    headers = [(k, v) for k, v in exchange.request_headers if not k.startswith(":")]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", urlsplit(exchange.url).netloc))
    return headers


def write_exchange(writer: WARCWriter, exchange: Exchange, stack: ExitStack) -> bool:
    response = exchange.response
    if response is None:
        return False
    date = exchange.started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body: BinaryIO = io.BytesIO(b"")
    length = 0
    if response.body_path is not None:
        body = stack.enter_context(response.body_path.open("rb"))
        length = response.body_path.stat().st_size
    status_line = f"{response.status} {response.reason}".rstrip()
    http_headers = StatusAndHeaders(
        status_line, _response_headers(response.headers, length), protocol=response.protocol
    )
    warc_headers = {"WARC-Date": date}
    if response.truncated:
        warc_headers["WARC-Truncated"] = response.truncated
    record = writer.create_warc_record(
        exchange.url,
        "response",
        payload=body,
        length=length,
        http_headers=http_headers,
        warc_headers_dict=warc_headers,
    )
    request_record = writer.create_warc_record(
        exchange.url,
        "request",
        payload=io.BytesIO(exchange.post_data or b""),
        length=len(exchange.post_data or b""),
        http_headers=StatusAndHeaders(
            _request_line(exchange), _request_headers(exchange), is_http_request=True
        ),
        warc_headers_dict={
            "WARC-Date": date,
            "WARC-Concurrent-To": record.rec_headers.get_header("WARC-Record-ID"),
        },
    )
    writer.write_record(record)
    writer.write_record(request_record)
    return True


def write_websocket(writer: WARCWriter, socket: WebSocketLog) -> None:
    """The frames of one WebSocket as JSON: no WARC record type replays them yet."""
    payload = json.dumps({"websocket": socket.url, "frames": socket.frames}).encode("utf-8")
    record = writer.create_warc_record(
        socket.url,
        "metadata",
        payload=io.BytesIO(payload),
        length=len(payload),
        warc_content_type="application/json",
        warc_headers_dict={"WARC-Date": socket.started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
    )
    writer.write_record(record)


def write_warc(
    path: Path,
    seed: str,
    browser_version: str,
    exchanges: list[Exchange],
    blocked: list[str],
    websockets: list[WebSocketLog] | None = None,
) -> int:
    """Write the whole WARC; returns how many responses it holds."""
    written = 0
    with path.open("wb") as handle, ExitStack() as stack:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        info = writer.create_warcinfo_record(
            "capture.warc.gz",
            {
                "software": f"Amber {__version__} (warcio {WARCIO_VERSION}, "
                f"Chromium {browser_version})",
                "format": "WARC File Format 1.1",
                "isPartOf": seed,
                "json-metadata": json.dumps({"seed": seed}),
            },
        )
        writer.write_record(info)
        for exchange in exchanges:
            if write_exchange(writer, exchange, stack):
                written += 1
        for socket in websockets or []:
            write_websocket(writer, socket)
        if blocked:
            meta = writer.create_warc_record(
                seed,
                "metadata",
                payload=io.BytesIO(json.dumps({"blocked": blocked}).encode("utf-8")),
                warc_content_type="application/json",
            )
            writer.write_record(meta)
    return written
