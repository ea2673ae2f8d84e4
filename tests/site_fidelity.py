"""Test-site pages for capture fidelity (issue 16): one page per feature that used to be lost.

Install them on a `TestSite` with `site.extra_routes.update(fidelity_routes())`.
Every page puts a marker text into its DOM once the hard feature worked, so a
test can look for the marker in `dom.html`, `text.txt` and the WARC.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from collections.abc import Callable

from tests.site import SiteHandler, make_png

Route = Callable[[SiteHandler], None]

BLOB_PNG = make_png(64, 48, (40, 120, 200))
LAZY_IMAGES = 10
LAZY_PNGS = [make_png(30 + i, 20, (10 * i, 100, 150)) for i in range(LAZY_IMAGES)]
RESPONSIVE = {
    "r-480.png": make_png(48, 10, (200, 0, 0)),
    "r-960.png": make_png(96, 10, (0, 200, 0)),
    "r-1920.png": make_png(192, 10, (0, 0, 200)),
    "p-small.png": make_png(30, 10, (10, 10, 10)),
    "p-1x.png": make_png(60, 10, (20, 20, 20)),
    "p-2x.png": make_png(120, 10, (30, 30, 30)),
    "p-fallback.png": make_png(50, 10, (40, 40, 40)),
    "is-1x.png": make_png(70, 10, (50, 50, 50)),
    "is-2x.png": make_png(140, 10, (60, 60, 60)),
}
AUDIO_SECONDS = 12
WAV_BYTES = (
    b"RIFF"
    + struct.pack("<I", 36 + AUDIO_SECONDS * 44100 * 2)
    + b"WAVEfmt "
    + struct.pack("<IHHIIHH", 16, 1, 1, 44100, 88200, 2, 16)
    + b"data"
    + struct.pack("<I", AUDIO_SECONDS * 44100 * 2)
    + bytes(AUDIO_SECONDS * 44100 * 2)
)
SEARCH_BODY = '{"query":"lighthouse","page":1}'
SSE_EVENTS = ("SSE-ONE first event", "SSE-TWO second event")

MARKERS = {
    "delayed": ("DELAYED-TWO arrived", "DELAYED-SIX arrived"),
    "websocket": ("WEBSOCKET-NEWS from the socket",),
    "serviceworker": ("SERVICE-WORKER-TEXT made by the worker",),
    "sse": SSE_EVENTS,
    "blob": ("BLOB-IMAGE shown",),
    "lazy": ("LAZY-ALL 10 images asked for",),
    "post": ("POST-RESULT lighthouse charts",),
    "shadow": ("SHADOW-TEXT inside the component",),
    "srcdoc": ("SRCDOC-TEXT in the srcdoc frame",),
    "cross": ("CROSS-ORIGIN-TEXT in another origin",),
    "more": ("MORE-ITEM-1", "MORE-ITEM-2"),
}


def page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{body}</body></html>"
    ).encode()


def html(body: bytes) -> Route:
    def serve(h: SiteHandler) -> None:
        h.send(200, body, "text/html; charset=utf-8")

    return serve


def blob(data: bytes, content_type: str) -> Route:
    def serve(h: SiteHandler) -> None:
        h.send(200, data, content_type, {"Cache-Control": "no-store"})

    return serve


DELAYED = page(
    "Delayed content",
    "<p id='two'>waiting</p><p id='six'>waiting</p><script>"
    "const late = (id, url, ms) => setTimeout(() => fetch(url).then((r) => r.json())"
    ".then((d) => { document.getElementById(id).textContent = d.text; }), ms);"
    "late('two', '/fid/late-2.json', 2000); late('six', '/fid/late-6.json', 6000);</script>",
)
WEBSOCKET = page(
    "WebSocket content",
    "<p id='news'>waiting</p><script>const ws = new WebSocket(`ws://${location.host}/fid/ws`);"
    "ws.onopen = () => ws.send('hello server');"
    "ws.onmessage = (e) => { document.getElementById('news').textContent = e.data; };</script>",
)
SERVICE_WORKER = page(
    "Service worker content",
    "<p id='sw'>waiting</p><script>"
    "const show = () => fetch('/fid/sw-content').then((r) => r.text())"
    ".then((t) => { document.getElementById('sw').textContent = t; });"
    "navigator.serviceWorker.register('/fid/sw.js').then(() => {"
    "  if (navigator.serviceWorker.controller) show();"
    "  else navigator.serviceWorker.addEventListener('controllerchange', show);"
    "});</script>",
)
SW_JS = b"""
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (e) => {
  if (new URL(e.request.url).pathname === '/fid/sw-content') {
    e.respondWith(new Response('SERVICE-WORKER-TEXT made by the worker',
      {headers: {'Content-Type': 'text/plain'}}));
  }
});
"""
SSE_PAGE = page(
    "Server-sent events",
    "<ul id='events'></ul><script>const es = new EventSource('/fid/sse');"
    "es.onmessage = (e) => { const li = document.createElement('li'); li.textContent = e.data;"
    "document.getElementById('events').appendChild(li); };</script>",
)
BLOB_PAGE = page(
    "Blob image",
    "<img id='pic' alt='blob'><p id='state'>waiting</p><script>"
    "fetch('/fid/blob.png').then((r) => r.blob()).then((b) => {"
    "  document.getElementById('pic').src = URL.createObjectURL(b);"
    "  document.getElementById('state').textContent = 'BLOB-IMAGE shown'; });</script>",
)
LAZY_PAGE = page(
    "Debounced lazy images",
    "".join(
        f"<div style='height:700px'><img class='lazy' data-src='/fid/lazy-{i}.png' "
        f"width='30' height='20' alt='lazy {i}'></div>"
        for i in range(LAZY_IMAGES)
    )
    + "<p id='state'>waiting</p><script>let timer; let asked = 0;"
    "const load = () => { for (const img of document.querySelectorAll('img.lazy[data-src]')) {"
    "  const box = img.getBoundingClientRect();"
    "  if (box.top < innerHeight + 100 && box.bottom > -100) {"
    "    img.src = img.dataset.src; img.removeAttribute('data-src'); asked++; } }"
    "  if (asked === " + str(LAZY_IMAGES) + ") document.getElementById('state').textContent ="
    " 'LAZY-ALL 10 images asked for'; };"
    "addEventListener('scroll', () => { clearTimeout(timer); timer = setTimeout(load, 250); });"
    "</script>",
)
RESPONSIVE_PAGE = page(
    "Responsive images",
    "<style>.set { width: 70px; height: 10px; background-image: "
    "image-set(url('/fid/is-1x.png') 1x, url('/fid/is-2x.png') 2x); }</style>"
    "<img src='/fid/r-960.png' srcset='/fid/r-480.png 480w, /fid/r-960.png 960w, "
    "/fid/r-1920.png 1920w' sizes='50vw' alt='srcset'>"
    "<picture><source media='(max-width: 600px)' srcset='/fid/p-small.png'>"
    "<source srcset='/fid/p-1x.png 1x, /fid/p-2x.png 2x'>"
    "<img src='/fid/p-fallback.png' alt='picture'></picture><div class='set'></div>",
)
MEDIA_PAGE = page(
    "Audio", "<audio id='a' preload='auto' controls src='/fid/tone.wav'></audio><p>audio</p>"
)
POST_PAGE = page(
    "JSON POST",
    "<p id='result'>waiting</p><script>fetch('/fid/search', {method: 'POST', "
    "headers: {'Content-Type': 'application/json'}, body: '" + SEARCH_BODY + "'})"
    ".then((r) => r.json()).then((d) => { document.getElementById('result').textContent ="
    " 'POST-RESULT ' + d.results[0]; });</script>",
)
MORE_PAGE = page(
    "Load more",
    "<ul id='items'></ul><button id='more'>Load more</button><script>let next = 1;"
    "document.getElementById('more').addEventListener('click', () => "
    "fetch('/fid/more.json?page=' + next++).then((r) => r.json()).then((d) => {"
    "  const li = document.createElement('li'); li.textContent = d.item;"
    "  document.getElementById('items').appendChild(li);"
    "  if (d.last) document.getElementById('more').remove(); }));</script>",
)
CROSS_FRAME = page("Cross frame", "<p>CROSS-ORIGIN-TEXT in another origin</p>")


def shadow_page(h: SiteHandler) -> None:
    port = h.site.port
    body = page(
        "Shadow and frames",
        "<amber-card></amber-card><script>customElements.define('amber-card', class extends "
        "HTMLElement { connectedCallback() { this.attachShadow({mode: 'open'}).innerHTML ="
        " '<style>p{color:red}</style><p>SHADOW-TEXT inside the component</p>'; } });</script>"
        "<iframe id='doc' srcdoc='<p>SRCDOC-TEXT in the srcdoc frame</p>'></iframe>"
        f"<iframe id='cross' src='http://localhost:{port}/fid/cross.html'></iframe>"
        "<canvas id='c' width='50' height='20'></canvas><script>"
        "document.getElementById('c').getContext('2d').fillRect(0, 0, 50, 20);</script>",
    )
    h.send(200, body, "text/html; charset=utf-8")


def late(text: str) -> Route:
    def serve(h: SiteHandler) -> None:
        h.send(200, json.dumps({"text": text}).encode(), "application/json")

    return serve


def websocket(h: SiteHandler) -> None:
    """A minimal RFC 6455 server: the handshake, one text frame out, then wait for the close."""
    key = h.headers.get("Sec-WebSocket-Key", "")
    accept = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    ).decode()
    h.send_response(101, "Switching Protocols")
    h.send_header("Upgrade", "websocket")
    h.send_header("Connection", "Upgrade")
    h.send_header("Sec-WebSocket-Accept", accept)
    h.end_headers()
    message = MARKERS["websocket"][0].encode()
    try:
        time.sleep(0.3)
        h.wfile.write(bytes([0x81, len(message)]) + message)
        h.wfile.flush()
        h.connection.settimeout(30)
        while not h.site.stopping.is_set() and h.rfile.read(1):
            pass
    except OSError:
        pass
    h.close_connection = True


def sse(h: SiteHandler) -> None:
    """Two events, then the stream stays open (as a live feed does) until the site stops."""
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Cache-Control", "no-cache")
    h.end_headers()
    try:
        for event in SSE_EVENTS:
            h.wfile.write(f"data: {event}\n\n".encode())
            h.wfile.flush()
            time.sleep(0.1)
        h.site.stopping.wait(60)
    except OSError:
        pass
    h.close_connection = True


def wav(h: SiteHandler) -> None:
    """The audio file, answering byte ranges with 206 as media servers do."""
    header = h.headers.get("Range", "")
    total = len(WAV_BYTES)
    if header.startswith("bytes="):
        start_s, _, end_s = header[6:].partition("-")
        start = int(start_s or 0)
        end = min(int(end_s), total - 1) if end_s else total - 1
        h.send(
            206,
            WAV_BYTES[start : end + 1],
            "audio/wav",
            {"Content-Range": f"bytes {start}-{end}/{total}", "Accept-Ranges": "bytes"},
        )
        return
    h.send(200, WAV_BYTES, "audio/wav", {"Accept-Ranges": "bytes"})


def search(h: SiteHandler) -> None:
    length = int(h.headers.get("Content-Length") or 0)
    query = json.loads(h.rfile.read(length) or b"{}").get("query", "") if length else ""
    if h.command != "POST" or query != "lighthouse":
        h.send(400, b'{"error": "POST a query"}', "application/json")
        return
    h.send(200, json.dumps({"results": [f"{query} charts"]}).encode(), "application/json")


def more(h: SiteHandler) -> None:
    number = int(h.path.rsplit("page=", 1)[-1] or 1)
    body = {"item": f"MORE-ITEM-{number}", "last": number >= 2}
    h.send(200, json.dumps(body).encode(), "application/json")


def not_here(h: SiteHandler) -> None:
    h.send(404, b"only the service worker serves this", "text/plain")


PAGES = {
    "delayed": "/fid/delayed.html",
    "websocket": "/fid/ws.html",
    "serviceworker": "/fid/sw.html",
    "sse": "/fid/sse.html",
    "blob": "/fid/blob.html",
    "lazy": "/fid/lazy.html",
    "responsive": "/fid/responsive.html",
    "media": "/fid/media.html",
    "post": "/fid/post.html",
    "shadow": "/fid/shadow.html",
    "more": "/fid/more.html",
}


def fidelity_routes() -> dict[str, Route]:
    routes: dict[str, Route] = {
        "/fid/delayed.html": html(DELAYED),
        "/fid/late-2.json": late(MARKERS["delayed"][0]),
        "/fid/late-6.json": late(MARKERS["delayed"][1]),
        "/fid/ws.html": html(WEBSOCKET),
        "/fid/ws": websocket,
        "/fid/sw.html": html(SERVICE_WORKER),
        "/fid/sw.js": blob(SW_JS, "text/javascript"),
        "/fid/sw-content": not_here,
        "/fid/sse.html": html(SSE_PAGE),
        "/fid/sse": sse,
        "/fid/blob.html": html(BLOB_PAGE),
        "/fid/blob.png": blob(BLOB_PNG, "image/png"),
        "/fid/lazy.html": html(LAZY_PAGE),
        "/fid/responsive.html": html(RESPONSIVE_PAGE),
        "/fid/media.html": html(MEDIA_PAGE),
        "/fid/tone.wav": wav,
        "/fid/post.html": html(POST_PAGE),
        "/fid/search": search,
        "/fid/shadow.html": shadow_page,
        "/fid/cross.html": html(CROSS_FRAME),
        "/fid/more.html": html(MORE_PAGE),
        "/fid/more.json": more,
    }
    for i, data in enumerate(LAZY_PNGS):
        routes[f"/fid/lazy-{i}.png"] = blob(data, "image/png")
    for name, data in RESPONSIVE.items():
        routes[f"/fid/{name}"] = blob(data, "image/png")
    return routes
