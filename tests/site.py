"""A local test web site on 127.0.0.1: the pages every capture test (and bench/) archives.

Pages: a rich page (JS fetch into the DOM, CSS served gzip-encoded, images, lazy
images below the fold, an iframe, a favicon), a redirect chain, a windows-1252
page, a PDF, a page that hangs, one that streams forever, a redirect loop, a
page with dialogs, a page in Japanese, Arabic and emoji (`/scripts.html`), a
page that pulls a sub-resource from a refused address, a small linked site
under /crawl/ with a robots.txt, and pages under /changing/<key>/ whose text
and images a test changes between captures (`site.versions[key]`).
"""

from __future__ import annotations

import gzip
import json
import struct
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

JSON_MESSAGE = "hello from the json endpoint"


def make_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid solid-colour PNG without any imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def make_pdf(text: str) -> bytes:
    """A minimal one-page PDF with correct xref offsets."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


RED_PNG = make_png(40, 30, (220, 30, 30))
LAZY_PNG = make_png(20, 20, (30, 30, 220))
SCROLLED_PNG = make_png(24, 24, (200, 160, 0))
ICON_PNG = make_png(16, 16, (10, 160, 10))
PDF_BYTES = make_pdf("Amber test PDF")
CSS = b"body { background: #fafafa; font-family: sans-serif; } #data { color: rgb(0, 128, 0); }"

RICH_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Amber Rich Page</title>
<link rel="stylesheet" href="/static/style.css">
<link rel="icon" href="/static/icon.png" type="image/png">
<script src="/static/app.js" defer></script></head>
<body>
<h1>Rich page</h1>
<article><p>Amber archives pages faithfully. This paragraph is the readable main text of the
rich test page, long enough for a readability extractor to keep it as the article body.
Historians want every byte, and the archive keeps them.</p>
<p>A second paragraph talks about lighthouses, tidal charts and the smell of old paper
so that text extraction has something substantial to work with.</p></article>
<div id="data">loading...</div>
<img id="hero" src="/static/red.png" alt="red">
<iframe src="/frame.html" width="300" height="100"></iframe>
<div style="height: 3000px">spacer</div>
<img id="lazy" loading="lazy" src="/static/lazy.png" alt="lazy">
<div style="height: 1500px">more spacer</div>
<img id="scrolled" data-src="/static/scrolled.png" alt="loaded by script when in view">
<script>
new IntersectionObserver((entries, observer) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    entry.target.src = entry.target.dataset.src;
    observer.disconnect();
  }
}).observe(document.getElementById('scrolled'));
</script>
</body></html>
"""

APP_JS = """
fetch('/api/data.json').then((r) => r.json()).then((d) => {
  document.getElementById('data').textContent = 'Fetched: ' + d.message;
});
"""

FRAME_PAGE = "<!doctype html><html><body><p id='framed'>inside the iframe</p></body></html>"

CP1252_TITLE = "Caf\u00e9 na\u00efve \u201cquotes\u201d \u2013 \u20ac5"
CP1252_PAGE = (
    "<html><head><title>"
    + CP1252_TITLE
    + "</title></head><body><p>"
    + CP1252_TITLE
    + " in windows-1252</p></body></html>"
).encode("cp1252")

DIALOG_PAGE = """<!doctype html><html><head><title>Dialogs</title></head><body>
<p id="p">before</p>
<script>alert('hi'); if (confirm('sure?')) {} window.addEventListener('beforeunload', (e) => {
e.preventDefault(); e.returnValue = 'stay'; });
document.getElementById('p').textContent = 'after dialogs';</script></body></html>"""

# A page in Japanese, Arabic and emoji. Each character of GLYPHS is drawn alone in its
# own box (GLYPH_BOXES: x, y, width, height in CSS px), so a test can crop the screenshot
# there: real glyphs differ from one character to the next, "tofu" boxes do not.
GLYPHS = {"ja": "日本語東", "ar": "عربس", "emoji": "🌍🎉😀🍣"}
GLYPH_CELL = 80
GLYPH_BOXES = {
    script: [(20 + i * 100, 20 + row * 100, GLYPH_CELL, GLYPH_CELL) for i in range(len(chars))]
    for row, (script, chars) in enumerate(GLYPHS.items())
}
SCRIPTS_TEXT = {"ja": "日本語のテキスト、東京は晴れ", "ar": "مرحبا بالعالم", "emoji": "🌍🎉😀"}


def _scripts_page() -> bytes:
    cells = "".join(
        f'<span class="g" lang="{script if script != "emoji" else "und"}" '
        f'style="left:{x}px;top:{y}px">{char}</span>'
        for script, chars in GLYPHS.items()
        for char, (x, y, _w, _h) in zip(chars, GLYPH_BOXES[script], strict=True)
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Scripts: 日本語 · العربية · 🌍</title><style>"
        "body{margin:0;background:#fff;color:#000;font-family:sans-serif}"
        f".g{{position:absolute;width:{GLYPH_CELL}px;height:{GLYPH_CELL}px;font-size:56px;"
        f"line-height:{GLYPH_CELL}px;text-align:center;overflow:hidden}}"
        "p{position:absolute;left:20px;margin:0;font-size:24px}</style></head><body>"
        f"{cells}"
        f'<p lang="ja" style="top:340px">{SCRIPTS_TEXT["ja"]}</p>'
        f'<p lang="ar" dir="rtl" style="top:390px">{SCRIPTS_TEXT["ar"]}</p>'
        f'<p style="top:440px">{SCRIPTS_TEXT["emoji"]}</p>'
        "</body></html>"
    ).encode()


SCRIPTS_PAGE = _scripts_page()


class TestSite:
    """Start with `TestSite().start()`; `url(path)` builds absolute URLs."""

    __test__ = False  # not a pytest test class

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.stopping = threading.Event()
        self.hits: dict[str, int] = {}
        self.versions: dict[str, int] = {}  # /changing/<key>/: which version each key serves
        self.extra_routes: dict[str, Callable[[SiteHandler], None]] = {}
        self.server = ThreadingHTTPServer((host, 0), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> TestSite:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def _handler_class(self) -> type[SiteHandler]:
        return type("Handler", (SiteHandler,), {"site": self})


class SiteHandler(BaseHTTPRequestHandler):
    """One request to the test site; `send` and `redirect` are what route functions use."""

    site: TestSite
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: object) -> None:
        pass

    def send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def redirect(self, status: int, location: str) -> None:
        self.send(status, b"", "text/html", {"Location": location})

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path = parts.path
        self.site.hits[path] = self.site.hits.get(path, 0) + 1
        if path in self.site.extra_routes:
            self.site.extra_routes[path](self)
            return
        route = ROUTES.get(path)
        if route is None and path.startswith("/crawl/"):
            route = crawl_page
        if route is None and path.startswith("/static/blob-"):
            route = numbered_png
        if route is None and path.startswith("/p/"):
            route = numbered_page
        if route is None and path.startswith("/changing/"):
            route = changing
        if route is None:
            self.send(404, b"<h1>not found</h1>", "text/html")
            return
        route(self, self.site, parse_qs(parts.query))


Handler = SiteHandler
Query = dict[str, list[str]]


def index(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(
        200,
        b"<html><head><title>Index</title></head><body><a href='/page.html'>rich</a></body></html>",
        "text/html; charset=utf-8",
    )


HOSTILE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Hostile page</title></head>
<body><h1>Archived page that attacks its reader</h1><pre id="out">pending</pre>
<script>
(async () => {
  const amber = new URLSearchParams(location.search).get("amber") || "";
  const out = {};
  try { out.cookie = document.cookie; } catch (e) { out.cookie = "error:" + e.name; }
  try { out.topCookie = top.document.cookie; } catch (e) { out.topCookie = "error:" + e.name; }
  try { out.topHref = top.location.href; } catch (e) { out.topHref = "error:" + e.name; }
  for (const [name, path] of [["api", "/api/v1/core/snapshots"], ["ui", "/"]]) {
    try {
      const r = await fetch(amber + path, {credentials: "include"});
      out[name] = "status:" + r.status + ":" + (await r.text()).slice(0, 200);
    } catch (e) { out[name] = "error:" + e.name; }
  }
  try {
    const pristine = document.body.appendChild(document.createElement("iframe")).contentWindow;
    const r = await pristine.fetch(amber + "/api/v1/core/snapshots", {credentials: "include"});
    out.rawApi = "status:" + r.status;
  } catch (e) { out.rawApi = "error:" + e.name; }
  if (top !== self) {  // only an attack when replayed in a frame; captured, it stays put
    try { top.location.href = "http://127.0.0.1:9/hijacked"; out.navigate = "no error"; }
    catch (e) { out.navigate = "error:" + e.name; }
  }
  document.getElementById("out").textContent = JSON.stringify(out);
})();
</script></body></html>
"""


def hostile(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, HOSTILE_PAGE.encode(), "text/html; charset=utf-8")


def rich(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(
        200,
        RICH_PAGE.encode(),
        "text/html; charset=utf-8",
        {"X-Test-Header": "amber"},
    )


def style(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, gzip.compress(CSS), "text/css", {"Content-Encoding": "gzip"})


def app_js(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, APP_JS.encode(), "application/javascript")


def data_json(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, json.dumps({"message": JSON_MESSAGE}).encode(), "application/json")


def png(body: bytes) -> Callable[[Handler, TestSite, Query], None]:
    def serve(h: Handler, site: TestSite, _q: Query) -> None:
        h.send(200, body, "image/png", {"Cache-Control": "no-store"})

    return serve


def numbered_png(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, RED_PNG, "image/png")


def numbered_page(h: Handler, site: TestSite, _q: Query) -> None:
    """/p/N: cheap distinct pages for benchmarks and fleet tests."""
    number = h.path.split("/")[2].split("?")[0]
    body = (
        f"<!doctype html><html><head><title>Page {number}</title>"
        f"<link rel='stylesheet' href='/static/style.css'></head><body><h1>Page {number}</h1>"
        f"<p>Benchmark page number {number} with an image.</p>"
        f"<img src='/static/red.png'></body></html>"
    )
    h.send(200, body.encode(), "text/html; charset=utf-8")


def frame(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, FRAME_PAGE.encode(), "text/html; charset=utf-8")


def redirect_hop(n: int, target: str, status: int) -> Callable[[Handler, TestSite, Query], None]:
    def serve(h: Handler, site: TestSite, _q: Query) -> None:
        h.redirect(status, target)

    return serve


def final(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(
        200,
        b"<html><head><title>Final Destination</title></head><body>arrived</body></html>",
        "text/html; charset=utf-8",
    )


def scripts(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, SCRIPTS_PAGE, "text/html; charset=utf-8")


def cp1252(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, CP1252_PAGE, "text/html; charset=windows-1252")


def pdf(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, PDF_BYTES, "application/pdf")


ATTACHMENT_BYTES = b"<!doctype html><title>attached</title><p>sent as an attachment</p>"
UNKNOWN_BYTES = bytes(range(256)) * 4


def attachment(h: Handler, site: TestSite, _q: Query) -> None:
    """An HTML page the server asks browsers to save rather than show."""
    disposition = {"Content-Disposition": 'attachment; filename="report.html"'}
    h.send(200, ATTACHMENT_BYTES, "text/html; charset=utf-8", disposition)


def unknown_type(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, UNKNOWN_BYTES, "application/x-amber-unknown")


def hang(h: Handler, site: TestSite, _q: Query) -> None:
    """Accept the request and never answer (until the site stops)."""
    site.stopping.wait(120)


def stream(h: Handler, site: TestSite, _q: Query) -> None:
    """A 200 whose body never ends."""
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    started = time.monotonic()
    try:
        h.wfile.write(b"5\r\n<html\r\n")
        while not site.stopping.is_set() and time.monotonic() - started < 120:
            piece = b"<p>" + b"x" * 1024 + b"</p>\n"
            h.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            h.wfile.flush()
            time.sleep(0.05)
    except OSError:
        pass


def loop(h: Handler, site: TestSite, q: Query) -> None:
    n = int(q.get("n", ["0"])[0])
    h.redirect(302, f"/loop?n={(n + 1) % 5}")


def dialogs(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, DIALOG_PAGE.encode(), "text/html; charset=utf-8")


def private_sub(h: Handler, site: TestSite, _q: Query) -> None:
    """Pulls an image from 127.0.0.2, which tests leave outside AMBER_ALLOWED_NETWORKS."""
    body = (
        f"<html><head><title>Private sub-resource</title></head><body>"
        f"<img id='ok' src='/static/red.png'>"
        f"<img id='bad' src='http://127.0.0.2:{site.port}/static/forbidden.png'></body></html>"
    )
    h.send(200, body.encode(), "text/html; charset=utf-8")


def redirect_private(h: Handler, site: TestSite, _q: Query) -> None:
    """An allowed page that redirects to 127.0.0.2: the hop must be refused, not followed."""
    h.redirect(302, f"http://127.0.0.2:{site.port}/final.html")


def big(h: Handler, site: TestSite, _q: Query) -> None:
    """About 3 MB of HTML, for byte-budget tests."""
    body = b"<html><body><p>" + b"y z " * 750_000 + b"</p></body></html>"
    h.send(200, body, "text/html")


def robots(h: Handler, site: TestSite, _q: Query) -> None:
    h.send(200, b"User-agent: *\nDisallow: /crawl/private/\n", "text/plain")


def crawl_page(h: Handler, site: TestSite, _q: Query) -> None:
    """/crawl/ tree: index -> a, b, private/secret, external; a -> a/deep; b -> b/deeper."""
    links = {
        "/crawl/": [
            "/crawl/a",
            "/crawl/b",
            "/crawl/private/secret",
            "/crawl/skip-me",
            "/elsewhere.html",
            "http://127.0.0.2:1/outside",
        ],
        "/crawl/a": ["/crawl/a/deep", "/crawl/"],
        "/crawl/b": ["/crawl/b/deeper", "/crawl/a"],
        "/crawl/a/deep": ["/crawl/a/deep/deepest"],
    }
    path = urlsplit(h.path).path
    anchors = "".join(f"<a href='{link}'>{link}</a> " for link in links.get(path, []))
    body = f"<html><head><title>Crawl {path}</title></head><body>{anchors}</body></html>"
    h.send(200, body.encode(), "text/html; charset=utf-8")


CHANGING_TEXT = {
    1: "The harbour opens at dawn and the ferries leave for the island every hour.",
    2: "The harbour opens at noon and the ferries leave for the mainland every hour.",
}
CHANGING_STABLE = (
    "Harbour notes are published by the port authority for sailors, fishermen and visitors. "
    "They list the tides, the berths that are free, the weather warnings of the day and the "
    "timetable of every boat that calls here, and they are kept short on purpose. "
) * 3
BANNER_BOX = (100, 300, 200, 100)  # x, y, width, height of the banner on the page
BANNER_COLOURS = {1: (30, 30, 220), 2: (220, 30, 30)}
CHANGING_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Harbour notes</title>
<style>body{{margin:0;font:16px/1.5 sans-serif;background:#fff}}
article{{position:absolute;left:20px;top:20px;width:900px}}
#banner{{position:absolute;left:{bx}px;top:{by}px}}
#extra{{position:absolute;left:1000px;top:20px}}</style></head>
<body><article><h1>Harbour notes</h1><p id="news">{news}</p><p>{stable}</p></article>
<img id="banner" src="banner.png" width="{bw}" height="{bh}" alt="banner">
<img id="extra" src="v{version}.png" width="20" height="20" alt="extra"></body></html>
"""


def changing(h: Handler, site: TestSite, _q: Query) -> None:
    """/changing/<key>/page.html, banner.png and v<N>.png, as version `site.versions[key]`."""
    _, _, key, name = urlsplit(h.path).path.split("/", 3)
    version = site.versions.get(key, 1)
    if name == "page.html":
        x, y, width, height = BANNER_BOX
        body = CHANGING_PAGE.format(
            news=CHANGING_TEXT[version],
            stable=CHANGING_STABLE,
            version=version,
            bx=x,
            by=y,
            bw=width,
            bh=height,
        )
        h.send(200, body.encode(), "text/html; charset=utf-8")
    elif name == "banner.png":
        banner = make_png(BANNER_BOX[2], BANNER_BOX[3], BANNER_COLOURS[version])
        h.send(200, banner, "image/png", {"Cache-Control": "no-store"})
    elif name == f"v{version}.png":
        h.send(200, ICON_PNG, "image/png")
    else:
        h.send(404, b"<h1>not found</h1>", "text/html")


ROUTES: dict[str, Callable[[Handler, TestSite, Query], None]] = {
    "/": index,
    "/page.html": rich,
    "/static/style.css": style,
    "/static/app.js": app_js,
    "/api/data.json": data_json,
    "/static/red.png": png(RED_PNG),
    "/static/lazy.png": png(LAZY_PNG),
    "/static/scrolled.png": png(SCROLLED_PNG),
    "/static/icon.png": png(ICON_PNG),
    "/frame.html": frame,
    "/redirect/1": redirect_hop(1, "/redirect/2", 302),
    "/redirect/2": redirect_hop(2, "/redirect/3", 301),
    "/redirect/3": redirect_hop(3, "/final.html", 307),
    "/final.html": final,
    "/cp1252.html": cp1252,
    "/scripts.html": scripts,
    "/doc.pdf": pdf,
    "/attachment": attachment,
    "/blob.unknown": unknown_type,
    "/hang": hang,
    "/stream": stream,
    "/loop": loop,
    "/dialogs.html": dialogs,
    "/private-sub.html": private_sub,
    "/redirect-private": redirect_private,
    "/big.html": big,
    "/robots.txt": robots,
    "/elsewhere.html": final,
    "/hostile.html": hostile,
}
