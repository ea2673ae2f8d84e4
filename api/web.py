"""The web UI's reading pages: the archive as cards or a list, and one snapshot's page.

Both read the same store as the API through a signed-in web session
(api.web_auth). Pages are Jinja2 templates that read fully without JavaScript;
what they change goes through api.web_actions and api.web_add.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlmodel import Session, col, select

from api.deps import SessionDep, StateDep, WebSessionDep, browser_principal
from api.errors import WEB
from api.state import AppState
from api.web_auth import page, to_login
from crawler import search
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.errors import InvalidInput, Unauthorized
from crawler.models import ArchiveResult, Crawl, Snapshot, SnapshotStatus
from crawler.snapshot_query import SORTS, SnapshotFilters, query_page
from crawler.timeline import capture_time, captures, to_wayback, warc_sha256

router = APIRouter(tags=[WEB], include_in_schema=False)
PAGE_SIZE = 48
MAX_PAGE = 100_000
TEXT_PREVIEW = 20_000  # characters of readable text shown on a snapshot's page
STATUSES = tuple(s.value for s in SnapshotStatus)


def optional_principal(request: Request, session: SessionDep) -> Principal | None:
    """The reader of a page that sends strangers to sign in (the diff page)."""
    try:
        return browser_principal(request, session)
    except Unauthorized:
        return None


@dataclass(slots=True)
class Card:
    """One snapshot as the list shows it."""

    snapshot: Snapshot
    tags: list[str]
    domain: str
    thumbnail: str | None
    favicon: str | None
    snippet: Markup | None


def domain_of(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


def file_url(snapshot: Snapshot, path: str) -> str:
    return f"/archive/{snapshot.timestamp}/{quote(path)}"


def _first_file(results: list[ArchiveResult], plugin: str) -> str | None:
    for result in results:
        if result.plugin == plugin and result.status == "succeeded" and result.output_files:
            return sorted(result.output_files)[0]
    return None


def _day(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD)") from exc


def _cards(session: Session, rows: list[Snapshot], query: str) -> list[Card]:
    ids = [r.id for r in rows]
    tags = snaps.snapshot_tags(session, ids)
    results = snaps.results_for(session, ids)
    found = search.snippets(session, query, ids) if query else {}
    cards = []
    for row in rows:
        thumb = _first_file(results[row.id], "thumbnail")
        icon = _first_file(results[row.id], "favicon")
        cards.append(
            Card(
                snapshot=row,
                tags=tags[row.id],
                domain=domain_of(row.url),
                thumbnail=file_url(row, thumb) if thumb else None,
                favicon=file_url(row, icon) if icon else None,
                snippet=Markup(search.snippet_html(found[row.id])) if row.id in found else None,
            )
        )
    return cards


def _page_numbers(current: int, last: int) -> list[int | None]:
    """1 … 4 5 [6] 7 8 … 40: None marks a gap."""
    wanted = {1, last, *range(max(1, current - 2), min(last, current + 2) + 1)}
    numbers: list[int | None] = []
    for n in sorted(wanted):
        if numbers and n - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(n)
    return numbers


def _crawls(session: Session, principal: Principal) -> list[Crawl]:
    query = select(Crawl).order_by(col(Crawl.created_at).desc()).limit(50)
    if not principal.is_admin:
        query = query.where(col(Crawl.workspace_id).in_(principal.workspace_ids))
    return list(session.exec(query))


@router.get("/", response_model=None)
def browse(
    request: Request,
    session: SessionDep,
    signed: WebSessionDep,
    q: Annotated[str, Query(max_length=500)] = "",
    tag: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    domain: Annotated[str, Query(max_length=255)] = "",
    crawl: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    sort: Annotated[str, Query(max_length=10)] = "added",
    view: Annotated[str, Query(max_length=10)] = "cards",
    page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    if signed is None:
        return to_login(request)
    if status and status not in STATUSES:
        raise InvalidInput(f"status must be one of: {', '.join(STATUSES)}")
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of: {', '.join(SORTS)}")
    until_day = _day(until, "until")
    filters = SnapshotFilters(
        search=q.strip() or None,
        tag=tag or None,
        status=status or None,
        domain=domain.strip() or None,
        crawl_id=crawl or None,
        created_at__gte=_day(since, "since"),
        created_at__lt=until_day + timedelta(days=1) if until_day else None,
    )
    principal = signed.principal
    offset = (page_number - 1) * PAGE_SIZE
    listed = query_page(session, principal, filters, limit=PAGE_SIZE, offset=offset, sort=sort)
    rows, total = listed.rows, listed.total.value
    last = max(1, math.ceil(total / PAGE_SIZE))
    params = {
        k: v
        for k, v in {
            "q": q,
            "tag": tag,
            "status": status,
            "domain": domain,
            "crawl": crawl,
            "since": since,
            "until": until,
            "sort": sort if sort != "added" else "",
            "view": view if view == "list" else "",
        }.items()
        if v
    }

    def link(**changes: Any) -> str:
        merged = {**params, **changes}
        query = urlencode({k: v for k, v in merged.items() if v not in ("", None, 1)})
        return "/?" + query if query else "/"

    context = {
        "cards": _cards(session, rows, q.strip()),
        "total": total,
        # (a large total is estimated until counted in the background, as the API says)
        "total_exact": listed.total.exact,
        "search_order": listed.search_order.value if listed.search_order else "",
        "page_number": page_number,
        "last_page": last,
        "numbers": _page_numbers(page_number, last),
        "link": link,
        "params": params,
        "q": q,
        "tag": tag,
        "status": status,
        "domain": domain,
        "crawl": crawl,
        "since": since,
        "until": until,
        "sort": sort,
        "view": "list" if view == "list" else "cards",
        "statuses": STATUSES,
        "sorts": {"added": "date added", "captured": "date captured", "title": "title"},
        "crawls": _crawls(session, principal),
        "export_ids": [r.id for r in rows],
    }
    return page(request, "browse.html", context, signed=signed)


def _output_bytes(
    state: AppState, results: list[ArchiveResult], plugin: str, limit: int
) -> bytes | None:
    """The first stored file of `plugin`'s succeeded result, up to `limit` bytes."""
    for result in results:
        if result.plugin != plugin or result.status != "succeeded":
            continue
        for meta in result.output_files.values():
            sha = meta.get("sha256")
            if not sha:
                continue
            try:
                with state.blobs.open(sha) as handle:
                    data: bytes = handle.read(limit)
            except (OSError, KeyError):
                return None
            return data
    return None


def _text_preview(state: AppState, results: list[ArchiveResult]) -> str | None:
    """The readable text, from the text extractor's file (capped for the page)."""
    data = _output_bytes(state, results, "text", TEXT_PREVIEW * 4)
    return None if data is None else data.decode("utf-8", "replace")[:TEXT_PREVIEW]


def _headers(results: list[ArchiveResult], state: AppState) -> dict[str, Any] | None:
    data = _output_bytes(state, results, "headers", 200_000)
    try:
        loaded = json.loads(data) if data is not None else None
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _outputs(snapshot: Snapshot, results: list[ArchiveResult]) -> list[dict[str, Any]]:
    rows = []
    for result in sorted(results, key=lambda r: r.plugin):
        files = [
            {"path": path, "url": file_url(snapshot, path), "size": int(meta.get("size", 0))}
            for path, meta in sorted(result.output_files.items())
        ]
        rows.append({"result": result, "files": files})
    return rows


@router.get("/snapshot/{snapshot_id}", response_model=None)
def snapshot_page(
    snapshot_id: str, request: Request, session: SessionDep, state: StateDep, signed: WebSessionDep
) -> Response:
    if signed is None:
        return to_login(request)
    principal = signed.principal
    snapshot = snaps.get_snapshot(session, principal, snapshot_id)
    results = snaps.results_for(session, [snapshot.id])[snapshot.id]
    tags = snaps.snapshot_tags(session, [snapshot.id])[snapshot.id]
    by_plugin = {r.plugin: r for r in results}
    files = {
        name: file_url(snapshot, path)
        for name in by_plugin
        if (path := _first_file(results, name)) is not None
    }
    has_warc = warc_sha256(session, snapshot.id) is not None
    replay = None
    if snapshot.status == SnapshotStatus.succeeded and has_warc:
        replay = f"/web/{to_wayback(capture_time(snapshot))}/{snapshot.url}"
    warc_result = by_plugin.get("warc")
    kept = sorted(warc_result.output_files) if warc_result else []
    original_path = next((p for p in kept if p.startswith("original/")), None)
    original = file_url(snapshot, original_path) if original_path else None
    is_html = original is None
    others = [
        s for s in captures(session, principal, snapshot.url, limit=50) if s.id != snapshot.id
    ]
    context = {
        "snapshot": snapshot,
        "tags": tags,
        "domain": domain_of(snapshot.url),
        "captured": capture_time(snapshot) if snapshot.downloaded_at else None,
        "replay": replay,
        "original": original,
        "is_html": is_html,
        "screenshot": files.get("screenshot"),
        "pdf": files.get("pdf"),
        "warc": files.get("warc"),
        "wacz": f"/api/v1/core/snapshot/{snapshot.id}/wacz" if has_warc else None,
        "text": _text_preview(state, results),
        "headers": _headers(results, state),
        "outputs": _outputs(snapshot, results),
        "failed_outputs": [r.plugin for r in results if r.status == "failed"],
        "timeline": f"/timeline?url={quote(snapshot.url, safe='')}",
        "others": others,
        "tags_text": ", ".join(tags),
    }
    return page(request, "snapshot.html", context, signed=signed)
