"""Serves archived outputs at /archive/{timestamp}/{path}.

Only paths an ArchiveResult lists are served, by exact match, and bytes come
from the blob store by hash, so a crafted path can never reach the filesystem.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from sqlmodel import col, select

from api.deps import BrowserPrincipalDep, SessionDep, StateDep
from api.errors import ARCHIVE
from crawler import snapshots as snaps
from crawler.errors import InvalidInput, NotFound
from crawler.models import ArchiveResult
from crawler.timeline import captures

router = APIRouter(tags=[ARCHIVE])


def _files(session: Any, snapshot_id: str) -> dict[str, dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    for result in session.exec(
        select(ArchiveResult).where(col(ArchiveResult.snapshot_id) == snapshot_id)
    ):
        files.update(result.output_files)
    return files


@router.get("/archive/{timestamp}/{path:path}", response_model=None)
def archived_file(
    timestamp: str,
    path: str,
    request: Request,
    session: SessionDep,
    principal: BrowserPrincipalDep,
    state: StateDep,
) -> Response:
    if timestamp.lower() in ("http:", "https:"):
        # The archived URL's own query string arrives as this request's query.
        query = request.url.query
        return _newest_snapshot_page(
            session, principal, timestamp, f"{path}?{query}" if query else path
        )
    snapshot = snaps.get_snapshot(session, principal, timestamp)
    files = _files(session, snapshot.id)
    if path in ("", "index.html") and "index.html" not in files:
        links = "".join(
            f'<li><a href="{escape(name)}">{escape(name)}</a> ({meta.get("size", 0)} bytes)</li>'
            for name, meta in sorted(files.items())
        )
        return HTMLResponse(f"<!doctype html><title>{snapshot.timestamp}</title><ul>{links}</ul>")
    meta = files.get(path)
    if meta is None:
        raise NotFound(f"{path!r} is not part of snapshot {snapshot.timestamp}")
    media_type = meta.get("mimetype") or "application/octet-stream"
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox" if "html" in media_type else "default-src 'none'",
    }
    local = state.blobs.local_path(meta["sha256"])
    if local is not None:
        return FileResponse(local, media_type=media_type, headers=headers)
    return StreamingResponse(
        _chunks(state.blobs.open(meta["sha256"])), media_type=media_type, headers=headers
    )


def _chunks(stream: BinaryIO, size: int = 256 * 1024) -> Iterator[bytes]:
    """Stream a remote blob (S3) instead of holding it in memory."""
    with stream:
        while chunk := stream.read(size):
            yield chunk


def _newest_snapshot_page(session: Any, principal: Any, scheme: str, path: str) -> Response:
    """`/archive/<url>` (the extension's "View on server"): that URL's newest snapshot page."""
    raw = f"{scheme}//{path.lstrip('/')}"
    try:
        found = captures(session, principal, raw, limit=1)
    except InvalidInput as exc:
        raise NotFound(f"{raw!r} is not an archived URL") from exc
    if not found:
        raise NotFound(f"{raw} has not been archived")
    return RedirectResponse(f"/snapshot/{found[0].id}", status_code=302)
