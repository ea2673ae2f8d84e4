"""A small server-rendered web UI: browse, search, and open or replay what was archived.

It reads the same store as the API and signs in with an API token kept in an
HttpOnly, SameSite=Strict cookie, which is only honoured on GET pages and
archived files, so no state-changing request can ride on it.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from api.deps import WEB_COOKIE as COOKIE
from api.deps import SessionDep, browser_principal
from api.errors import WEB
from crawler import snapshots as snaps
from crawler.auth import Principal, authenticate
from crawler.bounds import MAX_OFFSET
from crawler.clock import iso
from crawler.errors import Unauthorized
from crawler.models import ArchiveResult
from crawler.snapshot_query import SnapshotFilters, query_snapshots

router = APIRouter(tags=[WEB], include_in_schema=False)
PAGE_SIZE = 50

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafaf7}
header{background:#b3541e;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1rem;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:1rem 1.2rem;max-width:1100px}
table{border-collapse:collapse;width:100%}
td,th{padding:.35rem .5rem;border-bottom:1px solid #e4e0d8;text-align:left;vertical-align:top}
.st-succeeded{color:#2e7d32}.st-failed{color:#c62828}.st-queued,.st-started{color:#ef6c00}
.tag{background:#f1e4d8;border-radius:4px;padding:0 .35rem;margin-right:.2rem;font-size:.85em}
img.shot{max-width:100%;border:1px solid #ddd}input[type=search]{width:22rem;padding:.3rem}
"""


def optional_principal(request: Request, session: SessionDep) -> Principal | None:
    try:
        return browser_principal(request, session)
    except Unauthorized:
        return None


WebPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def page(title: str, body: str, *, user: str | None = None) -> HTMLResponse:
    who = f"<span>{escape(user)}</span> <a href='/logout'>sign out</a>" if user else ""
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)} · Amber</title>"
        f"<style>{STYLE}</style></head><body><header><a href='/'>Amber</a>"
        f"<span style='flex:1'></span>{who}</header><main>{body}</main></body></html>"
    )


def _local(target: str) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def login_form(message: str = "", *, next_url: str = "/") -> HTMLResponse:
    note = f"<p class='st-failed'>{escape(message)}</p>" if message else ""
    return page(
        "Sign in",
        f"<h1>Sign in</h1>{note}<form method='post' action='/login'>"
        f"<input type='hidden' name='next' value='{escape(_local(next_url))}'>"
        "<p><label>API token <input name='token' type='password' size='50' autofocus></label></p>"
        "<p><button>Sign in</button></p></form>"
        "<p>Create a token with <code>amber token create --user NAME</code>.</p>",
    )


@router.get("/login", response_model=None)
def login_page(next: Annotated[str, Query(max_length=2000)] = "/") -> Response:
    return login_form(next_url=next)


@router.post("/login", response_model=None)
def login(
    session: SessionDep,
    token: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    try:
        authenticate(session, token.strip())
    except Unauthorized:
        return login_form("That token is not valid.", next_url=next)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", max_age=86400 * 30)
    return response


@router.get("/logout", response_model=None)
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def _row(snapshot: Any, tags: list[str]) -> str:
    tag_html = "".join(f"<span class='tag'>{escape(t)}</span>" for t in tags)
    return (
        f"<tr><td><a href='/snapshot/{snapshot.id}'>{escape(snapshot.title or snapshot.url)}"
        f"</a><br><small>{escape(snapshot.url)}</small> {tag_html}</td>"
        f"<td class='st-{snapshot.status}'>{escape(snapshot.status)}</td>"
        f"<td><small>{escape(iso(snapshot.created_at) or '')}</small></td></tr>"
    )


@router.get("/", response_model=None)
def browse(
    session: SessionDep,
    principal: WebPrincipal,
    q: Annotated[str, Query(max_length=500)] = "",
    tag: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    filters = SnapshotFilters(search=q or None, tag=tag or None)
    rows, total = query_snapshots(session, principal, filters, limit=PAGE_SIZE, offset=offset)
    tags = snaps.snapshot_tags(session, [r.id for r in rows])
    body = "".join(_row(r, tags[r.id]) for r in rows) or "<tr><td>Nothing here yet.</td></tr>"
    pager = ""
    if offset + PAGE_SIZE < total:
        query = urlencode({"q": q, "tag": tag, "offset": offset + PAGE_SIZE})
        pager = f"<p><a href='/?{query}'>next page →</a></p>"
    return page(
        "Archive",
        f"<form><input type='search' name='q' value='{escape(q)}' placeholder='Search text, "
        f"titles, URLs, tags'> <button>Search</button></form><p>{total} snapshots</p>"
        f"<table><tr><th>page</th><th>status</th><th>archived</th></tr>{body}</table>{pager}",
        user=principal.username,
    )


def _output_path(results: list[ArchiveResult], mimetype: str) -> str | None:
    """The largest output file of this type: the page's own picture, DOM or WARC.

    Chosen by type rather than by extractor, so the UI names no extractor (the
    screenshot is far larger than any favicon).
    """
    found = [
        (int(meta.get("size", 0)), path)
        for result in results
        for path, meta in result.output_files.items()
        if str(meta.get("mimetype", "")).startswith(mimetype)
    ]
    return max(found)[1] if found else None


def _results_html(session: Session, snapshot: Any) -> tuple[str, str, dict[str, str]]:
    """The results table, the screenshot, and links to the archived page and WARC."""
    results = snaps.results_for(session, [snapshot.id])[snapshot.id]
    rows = []
    for result in sorted(results, key=lambda r: r.plugin):
        links = " ".join(
            f"<a href='/archive/{snapshot.timestamp}/{escape(path)}'>{escape(path)}</a>"
            for path in sorted(result.output_files)
        )
        detail = escape(result.error or result.output_str or "")
        rows.append(
            f"<tr><td>{escape(result.plugin)}</td><td class='st-{result.status}'>"
            f"{escape(result.status)}</td><td>{links}</td><td><small>{detail[:300]}</small></td></tr>"
        )
    base = f"/archive/{snapshot.timestamp}/"
    opens = {
        label: base + escape(path)
        for label, mimetype in (("page", "text/html"), ("warc", "application/warc"))
        if (path := _output_path(results, mimetype))
    }
    picture = _output_path(results, "image/")
    shot = f"<img class='shot' src='{base}{escape(picture)}'>" if picture else ""
    return "".join(rows), shot, opens


@router.get("/snapshot/{snapshot_id}", response_model=None)
def snapshot_page(snapshot_id: str, session: SessionDep, principal: WebPrincipal) -> Response:
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    snapshot = snaps.get_snapshot(session, principal, snapshot_id)
    rows, shot, links = _results_html(session, snapshot)
    tags = snaps.snapshot_tags(session, [snapshot.id])[snapshot.id]
    reason = (
        f"<p class='st-failed'>{escape(snapshot.last_error)}</p>" if snapshot.last_error else ""
    )
    from urllib.parse import quote

    from crawler.timeline import capture_time, to_wayback, warc_sha256

    timeline = f"/timeline?url={quote(snapshot.url, safe='')}"
    if snapshot.status == "succeeded" and warc_sha256(session, snapshot.id):
        replay = (
            f"<a href='/web/{to_wayback(capture_time(snapshot))}/{escape(snapshot.url)}'>"
            "replay the archived page</a> · "
        )
    else:
        replay = ""
    return page(
        snapshot.title or snapshot.url,
        f"<h1>{escape(snapshot.title or snapshot.url)}</h1>"
        f"<p><a href='{escape(snapshot.url)}' rel='noreferrer'>{escape(snapshot.url)}</a><br>"
        f"<span class='st-{snapshot.status}'>{escape(snapshot.status)}</span> · "
        f"{escape(iso(snapshot.downloaded_at) or 'not captured yet')} · "
        f"{' '.join(escape(t) for t in tags)}</p>{reason}"
        f"<p>{replay}<a href='{timeline}'>every capture of this URL</a>"
        + (f" · <a href='{links['warc']}'>WARC</a>" if "warc" in links else "")
        + "</p>"
        f"<table><tr><th>output</th><th>status</th><th>files</th><th></th></tr>{rows}</table>"
        f"<h2>Screenshot</h2>{shot or '<p>none</p>'}",
        user=principal.username,
    )
