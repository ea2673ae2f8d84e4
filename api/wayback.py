"""The `/web/` URL space, as the Wayback Machine and pywb spell it, with Memento (RFC 7089).

| path | what it is |
| --- | --- |
| `/web/<url>` | TimeGate: redirects to the capture nearest `Accept-Datetime` (newest without it) |
| `/web/<14 digits>/<url>` | a memento: Amber's frame around the replayed capture |
| `/web/<14 digits>id_/<url>` | a memento's recorded bytes, as captured |
| `/web/*/<url>` | the URL's timeline page |
| `/web/timemap/link/<url>`, `/web/timemap/json/<url>` | TimeMaps |

Replayed content itself lives on the replay origin (api/replay/app.py); these
pages only frame it. Auth is the UI sign-in or any API token form; with
`AMBER_PUBLIC_REPLAY` no sign-in is needed.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from api.deps import SessionDep, StateDep, browser_principal
from api.errors import WEB
from api.replay import caps
from api.replay.origin import replay_base
from api.state import AppState
from api.templating import render
from crawler.auth import Principal
from crawler.errors import InvalidInput, NotFound, Unauthorized
from crawler.models import Snapshot
from crawler.timeline import (
    capture_time,
    captures,
    from_wayback,
    nearest,
    neighbours,
    to_wayback,
    warc_sha256,
)
from crawler.warcindex import open_record

router = APIRouter(tags=[WEB], include_in_schema=False)

MEMENTO = re.compile(r"^(\d{4,14})(id_|mp_)?/(.+)$", re.DOTALL)
SCHEME_SLASH = re.compile(r"^(https?):/(?!/)", re.IGNORECASE)
OLD_UI = {"": "/", "login": "/login", "logout": "/logout"}


def _rest(request: Request) -> str:
    raw = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    rest = raw.split("/web/", 1)[1] if "/web/" in raw else ""
    return rest + (f"?{request.url.query}" if request.url.query else "")


def _as_url(text: str) -> str:
    text = SCHEME_SLASH.sub(r"\1://", text)
    if "://" not in text.split("?", 1)[0]:
        text = "http://" + text
    return text


def _who(request: Request, session: Session, state: AppState) -> Principal | None:
    """The reader; None for public replay. Raises Unauthorized when neither applies."""
    try:
        return browser_principal(request, session)
    except Unauthorized:
        if state.settings.public_replay:
            return None
        raise


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and not request.headers.get(
        "authorization"
    )


def _base(request: Request, state: AppState) -> str:
    return (state.settings.base_url or str(request.base_url)).rstrip("/")


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


class Links:
    """Absolute URLs of one original URL's Memento resources."""

    def __init__(self, base: str, url: str) -> None:
        self.base = base
        self.url = url

    def memento(self, snapshot: Snapshot, modifier: str = "") -> str:
        return f"{self.base}/web/{to_wayback(capture_time(snapshot))}{modifier}/{self.url}"

    @property
    def timegate(self) -> str:
        return f"{self.base}/web/{self.url}"

    def timemap(self, kind: str = "link") -> str:
        return f"{self.base}/web/timemap/{kind}/{self.url}"

    def header(self, mementos: list[Snapshot], current: Snapshot | None = None) -> str:
        """The Link header: original, timegate, timemap, and the mementos around `current`."""
        parts = [
            f'<{self.url}>; rel="original"',
            f'<{self.timegate}>; rel="timegate"',
            f'<{self.timemap()}>; rel="timemap"; type="application/link-format"',
        ]
        if mementos:
            rels: dict[str, list[str]] = {}
            first, last = mementos[-1], mementos[0]
            rels.setdefault(first.id, []).append("first")
            rels.setdefault(last.id, []).append("last")
            if current is not None:
                older, newer = neighbours(mementos, current)
                if older is not None:
                    rels.setdefault(older.id, []).append("prev")
                if newer is not None:
                    rels.setdefault(newer.id, []).append("next")
                rels.setdefault(current.id, [])
            by_id = {m.id: m for m in mementos}
            for snapshot_id, names in rels.items():
                snapshot = by_id[snapshot_id]
                rel = " ".join([*names, "memento"])
                parts.append(
                    f'<{self.memento(snapshot)}>; rel="{rel}"; '
                    f'datetime="{_http_date(capture_time(snapshot))}"'
                )
        return ", ".join(parts)


@router.api_route("/web/{rest:path}", methods=["GET", "HEAD"], response_model=None)
def wayback(request: Request, session: SessionDep, state: StateDep) -> Response:
    rest = _rest(request)
    if rest in OLD_UI:
        return RedirectResponse(OLD_UI[rest], status_code=301)
    if rest.startswith("snapshot/"):
        return RedirectResponse("/" + rest, status_code=301)
    try:
        principal = _who(request, session, state)
    except Unauthorized:
        if _wants_html(request):
            return RedirectResponse(f"/login?next={quote('/web/' + rest)}", status_code=303)
        raise
    if rest.startswith("timemap/link/"):
        return _timemap_link(request, session, state, principal, _as_url(rest[13:]))
    if rest.startswith("timemap/json/"):
        return _timemap_json(request, session, state, principal, _as_url(rest[13:]))
    if rest.startswith("*/"):
        url = _as_url(rest[2:])
        return RedirectResponse(f"/timeline?url={quote(url, safe='')}", status_code=302)
    match = MEMENTO.match(rest)
    if match:
        digits, modifier, url = match.group(1), match.group(2) or "", _as_url(match.group(3))
        return _memento(request, session, state, principal, digits, modifier, url)
    return _timegate(request, session, state, principal, _as_url(rest))


def _accept_datetime(request: Request) -> datetime | None:
    value = request.headers.get("accept-datetime")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Accept-Datetime {value!r} is not an HTTP date") from exc


def _mementos(session: Session, principal: Principal | None, url: str) -> list[Snapshot]:
    return captures(session, principal, url, replayable_only=True)


def _timegate(
    request: Request, session: Session, state: AppState, principal: Principal | None, url: str
) -> Response:
    mementos = _mementos(session, principal, url)
    links = Links(_base(request, state), url)
    chosen = nearest(mementos, _accept_datetime(request))
    headers = {"Vary": "accept-datetime", "Link": links.header(mementos, chosen)}
    if chosen is None:
        timeline = captures(session, principal, url)
        if _wants_html(request):
            return render(
                request,
                "not_archived.html",
                {
                    "url": url,
                    "user": principal.username if principal else None,
                    "timeline": timeline,
                },
                status_code=404,
                headers=headers,
            )
        why = ""
        if timeline:
            newest = timeline[0]
            why = f" (its newest capture is {newest.status}: {newest.last_error or 'no WARC'})"
        raise NotFound(f"{url} has no capture that can be replayed{why}")
    return RedirectResponse(links.memento(chosen), status_code=302, headers=headers)


def _memento(
    request: Request,
    session: Session,
    state: AppState,
    principal: Principal | None,
    digits: str,
    modifier: str,
    url: str,
) -> Response:
    mementos = _mementos(session, principal, url)
    links = Links(_base(request, state), url)
    chosen = nearest(mementos, from_wayback(digits))
    if chosen is None:
        return _timegate(request, session, state, principal, url)
    canonical = to_wayback(capture_time(chosen))
    if canonical != digits or modifier == "mp_":
        target = links.memento(chosen, "" if modifier == "mp_" else modifier)
        return RedirectResponse(target, status_code=302)
    headers = {
        "Memento-Datetime": _http_date(capture_time(chosen)),
        "Link": links.header(mementos, chosen),
    }
    if modifier == "id_":
        return _recorded(state, session, chosen, url, headers)
    token = caps.PUBLIC if principal is None else caps.mint(state.replay_key, principal.user_id)
    replay = replay_base(request, state)
    older, newer = neighbours(mementos, chosen)
    context = {
        "user": principal.username if principal else None,
        "snapshot": chosen,
        "url": url,
        "captured": capture_time(chosen),
        "frame_src": f"{replay}/{token}/{chosen.id}/mp_/{url}",
        "replay_origin": replay,
        "older": older,
        "newer": newer,
        "count": len(mementos),
        "links": links,
        "timeline": f"/timeline?url={quote(url, safe='')}",
    }
    page_headers = {
        **headers,
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"frame-src {replay}; frame-ancestors 'self'; form-action 'self'; base-uri 'none'; "
            "object-src 'none'"
        ),
    }
    return render(request, "replay_frame.html", context, headers=page_headers)


def _recorded(
    state: AppState, session: Session, snapshot: Snapshot, url: str, headers: dict[str, str]
) -> Response:
    """The recorded response body, on Amber's origin, so sandboxed and script-free."""
    warc_sha = warc_sha256(session, snapshot.id)
    if warc_sha is None:
        raise NotFound(f"{url} has no recorded bytes")
    entry = state.warc_indexes.get(warc_sha).lookup(url, near=capture_time(snapshot))
    if entry is None:
        raise NotFound(f"{url} is not in this capture")
    with open_record(state.blobs, warc_sha, entry) as record:
        body = record.content_stream().read()
        status = int(record.http_headers.get_statuscode() or 200) if record.http_headers else 200
    return Response(
        body,
        status_code=status,
        media_type=entry.mime or "application/octet-stream",
        headers={
            **headers,
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _timemap_entries(
    request: Request, session: Session, state: AppState, principal: Principal | None, url: str
) -> tuple[Links, list[Snapshot]]:
    mementos = _mementos(session, principal, url)
    if not mementos:
        raise NotFound(f"{url} has no capture that can be replayed")
    return Links(_base(request, state), url), mementos


def _timemap_link(
    request: Request, session: Session, state: AppState, principal: Principal | None, url: str
) -> Response:
    links, mementos = _timemap_entries(request, session, state, principal, url)
    oldest, newest = capture_time(mementos[-1]), capture_time(mementos[0])
    lines = [
        f'<{url}>; rel="original"',
        f'<{links.timemap()}>; rel="self"; type="application/link-format"; '
        f'from="{_http_date(oldest)}"; until="{_http_date(newest)}"',
        f'<{links.timegate}>; rel="timegate"',
    ]
    ordered = list(reversed(mementos))
    for position, snapshot in enumerate(ordered):
        rel = "memento"
        if position == 0:
            rel = "first memento"
        if position == len(ordered) - 1:
            rel = "last memento" if len(ordered) > 1 else "first last memento"
        lines.append(
            f'<{links.memento(snapshot)}>; rel="{rel}"; '
            f'datetime="{_http_date(capture_time(snapshot))}"'
        )
    return Response(",\n".join(lines) + "\n", media_type="application/link-format")


def _timemap_json(
    request: Request, session: Session, state: AppState, principal: Principal | None, url: str
) -> Response:
    links, mementos = _timemap_entries(request, session, state, principal, url)

    def item(snapshot: Snapshot) -> dict[str, str]:
        return {
            "datetime": capture_time(snapshot).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "uri": links.memento(snapshot),
        }

    ordered = list(reversed(mementos))
    body = {
        "original_uri": url,
        "timegate_uri": links.timegate,
        "timemap_uri": {"link_format": links.timemap("link"), "json_format": links.timemap("json")},
        "mementos": {
            "first": item(ordered[0]),
            "last": item(ordered[-1]),
            "list": [item(s) for s in ordered],
        },
    }
    return JSONResponse(body)


@router.get("/timeline", response_model=None)
def timeline_page(
    request: Request, session: SessionDep, state: StateDep, url: str = ""
) -> Response:
    """Every capture of a URL, newest first, with replay and compare links."""
    try:
        principal = _who(request, session, state)
    except Unauthorized:
        return RedirectResponse(
            f"/login?next={quote(str(request.url.path) + '?' + request.url.query)}", 303
        )
    if not url or len(url) > 8000:
        raise InvalidInput("url: give the URL whose captures to list")
    url = _as_url(url)
    rows = captures(session, principal, url)
    replayable = {s.id for s in _mementos(session, principal, url)}
    links = Links("", url)
    out = []
    for position, snapshot in enumerate(rows):
        earlier = next((s for s in rows[position + 1 :] if s.id in replayable), None)
        out.append(
            {
                "snapshot": snapshot,
                "when": capture_time(snapshot),
                "replay": links.memento(snapshot) if snapshot.id in replayable else None,
                "previous": earlier if snapshot.id in replayable else None,
            }
        )
    return render(
        request,
        "timeline.html",
        {"url": url, "rows": out, "user": principal.username if principal else None},
    )
