"""The replay origin: archived responses served from a snapshot's WARC, never the live web.

Paths are ``/{capability}/{snapshot id}/{mp_|id_}/{original URL}``. `mp_`
rewrites HTML and CSS so their URLs stay under the same prefix; `id_` serves
the recorded bytes as they are. Every answer carries a Content-Security-Policy
that lets the page load only from this origin, so a URL that escapes the
rewriting fails in the browser instead of reaching the site. A request that
lost the prefix (a script built `/x.png` by hand) is sent back under it using
its Referer, as pywb does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from sqlmodel import Session

from api.errors import REPLAY, install_error_handlers, replay_error_page
from api.replay import caps
from api.replay.origin import REPLAY_PATH_PREFIX, amber_origin_source
from api.replay.rewrite import UrlMapper, rewrite_css_bytes, rewrite_html
from api.state import AppState
from crawler.auth import Principal, authenticate, principal_for_user
from crawler.errors import NotFound, Unauthorized
from crawler.models import Snapshot, User
from crawler.timeline import capture_time, captures, nearest, to_wayback, warc_sha256
from crawler.warcindex import IndexEntry, WarcIndex, open_record

STATIC = Path(__file__).parent / "static"
MODIFIERS = ("mp_", "id_")
REWRITE_LIMIT = 20 * 1024 * 1024  # larger HTML/CSS is served as recorded
CHUNK = 256 * 1024
ID_PATTERN = re.compile(r"^[0-9a-fA-F-]{8,64}$")
SCHEME_SLASH = re.compile(r"^(https?):/(?!/)", re.IGNORECASE)
DROPPED_HEADERS = {
    "content-encoding",
    "transfer-encoding",
    "content-length",
    "connection",
    "keep-alive",
    "set-cookie",
    "set-cookie2",
    "strict-transport-security",
    "content-security-policy",
    "content-security-policy-report-only",
    "x-frame-options",
    "public-key-pins",
    "alt-svc",
    "report-to",
    "nel",
    "clear-site-data",
    "link",
    "vary",
    "cache-control",
    "expires",
    "pragma",
    "age",
    "cross-origin-opener-policy",
    "cross-origin-embedder-policy",
    "cross-origin-resource-policy",
    "origin-agent-cluster",
    "service-worker-allowed",
    "permissions-policy",
    "accept-ranges",
    "content-range",
}

router = APIRouter(tags=[REPLAY])


def create_replay_app(state: AppState) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.amber = state
    app.state.default_dialect = REPLAY
    install_error_handlers(app)
    app.include_router(router)
    return app


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.amber
    return state


def _policy(request: Request, state: AppState) -> str:
    return (
        "default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob: mediastream:; "
        "form-action 'self'; base-uri 'self'; "
        f"frame-ancestors 'self' {amber_origin_source(request, state)}"
    )


@router.get(REPLAY_PATH_PREFIX + "replay.js", include_in_schema=False)
def shim() -> Response:
    return FileResponse(
        STATIC / "replay.js",
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/robots.txt", include_in_schema=False)
def robots() -> Response:
    return Response("User-agent: *\nDisallow: /\n", media_type="text/plain")


@router.api_route("/{rest:path}", methods=["GET", "HEAD", "POST"], include_in_schema=False)
def replay(request: Request) -> Response:
    state = _state(request)
    raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    parsed = _parse(raw, request.url.query)
    if parsed is None:
        return _from_referer(request, raw)
    token, snapshot_id, modifier, url = parsed
    with Session(state.engine, expire_on_commit=False) as session:
        principal = _principal(session, request, state, token)
        snapshot = _visible_snapshot(session, principal, snapshot_id)
        warc_sha = warc_sha256(session, snapshot.id)
        prefix = f"/{token}/{snapshot.id}/mp_/"
        if warc_sha is None:
            if _same_page(url, snapshot.url):
                reason = snapshot.last_error or f"This capture is {snapshot.status}."
                raise NotFound(f"{snapshot.url} was not archived: {reason}")
            raise NotFound(f"{url} is not in this capture")
        index = state.warc_indexes.get(warc_sha)
        entry = _resolve(index, url, request.method, capture_time(snapshot))
        if entry is None:
            elsewhere = _other_capture(session, principal, snapshot, url, request)
            if elsewhere is not None:
                return RedirectResponse(f"/{token}/{elsewhere.id}/{modifier}/{url}", 302)
            raise NotFound(f"{url} is not in the archive")
    return _serve(request, state, snapshot, warc_sha, entry, url, UrlMapper(prefix), modifier)


def _parse(raw_path: str, query: str) -> tuple[str, str, str, str] | None:
    parts = raw_path.split("/", 4)
    if len(parts) < 5 or parts[0] != "":
        return None
    _, token, snapshot_id, modifier, url = parts
    if modifier not in MODIFIERS or not ID_PATTERN.match(snapshot_id) or not token:
        return None
    url = SCHEME_SLASH.sub(r"\1://", url)
    if not url.lower().startswith(("http://", "https://")):
        return None
    return token, snapshot_id, modifier, url + (f"?{query}" if query else "")


def _principal(session: Session, request: Request, state: AppState, token: str) -> Principal | None:
    """None means public replay; otherwise the capability's (or the API token's) user."""
    if state.settings.public_replay:
        return None
    if token == caps.PUBLIC:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("bearer", "token") and value.strip():
            return authenticate(session, value.strip())
        raise Unauthorized("Sign in to Amber to replay this capture.")
    grant = caps.verify(state.replay_key, token, public=False)
    if grant is None or grant.user_id is None:
        raise Unauthorized("This replay link has expired; reload the page in Amber.")
    user = session.get(User, grant.user_id)
    if user is None:
        raise Unauthorized("This replay link is no longer valid.")
    return principal_for_user(session, user)


def _visible_snapshot(session: Session, principal: Principal | None, snapshot_id: str) -> Snapshot:
    snapshot = session.get(Snapshot, snapshot_id)
    if snapshot is None or (
        principal is not None and not principal.can_read(snapshot.workspace_id)
    ):
        raise NotFound("No such capture")
    return snapshot


def _same_page(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _resolve(index: WarcIndex, url: str, method: str, near: datetime) -> IndexEntry | None:
    """The record to answer with; a shared WARC (an imported crawl) may hold the URL often."""
    entry = index.lookup(url, method="GET" if method == "HEAD" else method, near=near)
    if entry is not None and entry.record_type == "revisit":
        # A revisit says "same bytes as before": serve the earlier record with that digest.
        for candidate in index.responses():
            if candidate.digest == entry.digest and candidate.record_type == "response":
                return candidate
        return None
    return entry


def _is_navigation(request: Request) -> bool:
    dest = request.headers.get("sec-fetch-dest", "")
    if dest:
        return dest in ("document", "iframe", "frame")
    return "text/html" in request.headers.get("accept", "")


def _other_capture(
    session: Session, principal: Principal | None, snapshot: Snapshot, url: str, request: Request
) -> Snapshot | None:
    """A link to another page: its capture nearest this one in time, if the archive has one."""
    if request.method != "GET" or not _is_navigation(request):
        return None
    try:
        found = captures(session, principal, url, replayable_only=True)
    except Exception:  # an URL the archive cannot even key has no captures
        return None
    found = [s for s in found if s.id != snapshot.id]
    return nearest(found, capture_time(snapshot))


def _headers(
    record_headers: list[tuple[str, str]], entry: IndexEntry, mapper: UrlMapper
) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in record_headers:
        lowered = name.lower()
        if lowered in DROPPED_HEADERS or lowered.startswith(("x-archive-", "access-control-")):
            continue
        if lowered == "location":
            value = mapper(value, entry.url)
        out[name] = value
    return out


def _serve(
    request: Request,
    state: AppState,
    snapshot: Snapshot,
    warc_sha: str,
    entry: IndexEntry,
    url: str,
    mapper: UrlMapper,
    modifier: str,
) -> Response:
    when = capture_time(snapshot)
    with open_record(state.blobs, warc_sha, entry) as record:
        status_line = record.http_headers.get_statuscode() if record.http_headers else "200"
        status = int(status_line or 200)
        headers = _headers(
            list(record.http_headers.headers) if record.http_headers else [], entry, mapper
        )
        mime = entry.mime or headers.get("Content-Type", "")
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), mime)
        rewrite = (
            modifier == "mp_"
            and entry.length <= REWRITE_LIMIT
            and ("html" in mime or "css" in mime)
        )
        body = record.content_stream().read() if rewrite or request.method == "HEAD" else None
    headers.update(
        {
            "Content-Security-Policy": _policy(request, state),
            "Referrer-Policy": "same-origin",
            "Cache-Control": "private, max-age=3600",
            "Memento-Datetime": format_datetime(when, usegmt=True),
            "Link": f'<{entry.url}>; rel="original"',
        }
    )
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    if body is not None:
        if "html" in mime and not (300 <= status < 400):
            insert = _shim_tag(mapper.prefix, entry.url, when)
            body = rewrite_html(body, content_type, entry.url, mapper, head_insert=insert)
        elif "css" in mime:
            body = rewrite_css_bytes(body, content_type, entry.url, mapper)
        return Response(body, status_code=status, headers=headers)
    return StreamingResponse(_stream(state, warc_sha, entry), status_code=status, headers=headers)


def _shim_tag(prefix: str, url: str, when: datetime) -> str:
    from html import escape

    return (
        f'<script src="{REPLAY_PATH_PREFIX}replay.js" data-prefix="{escape(prefix)}" '
        f'data-url="{escape(url)}" data-ts="{to_wayback(when)}"></script>'
    )


def _stream(state: AppState, warc_sha: str, entry: IndexEntry) -> Iterator[bytes]:
    with open_record(state.blobs, warc_sha, entry) as record:
        stream = record.content_stream()
        while chunk := stream.read(CHUNK):
            yield chunk


def _from_referer(request: Request, raw_path: str) -> Response:
    """A URL that lost its replay prefix: put it back under the page that asked for it."""
    referer = request.headers.get("referer", "")
    parts = urlsplit(referer)
    here = request.url.netloc
    if parts.netloc == here:
        parsed = _parse(parts.path, parts.query)
        if parsed is not None:
            token, snapshot_id, _modifier, page_url = parsed
            target = urljoin(
                page_url, raw_path + (f"?{request.url.query}" if request.url.query else "")
            )
            if urlsplit(target).scheme in ("http", "https"):
                return RedirectResponse(f"/{token}/{snapshot_id}/mp_/{target}", 307)
    return replay_error_page(404, "Not in the archive.")
