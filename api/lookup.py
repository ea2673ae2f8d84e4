"""``/api/v1/core/any/{id}``: one id, whichever kind of object it names.

As in ArchiveBox, the answer is a redirect to the object's own route (query string
kept), trying snapshots, then archive results, tags and crawls. Another tenant's
object is simply not found.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from api.deps import ArchivePrincipalDep, SessionDep
from api.errors import ARCHIVE
from api.results import find_result
from crawler import crawls
from crawler import snapshots as snaps
from crawler import tags as tag_rules
from crawler.auth import Principal
from crawler.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])

Finder = Callable[[Session, Principal, str], str]

# ArchiveBox's order; each finder returns the path of the object it found.
FINDERS: tuple[Finder, ...] = (
    lambda s, p, ref: f"/api/v1/core/snapshot/{snaps.get_snapshot(s, p, ref).id}",
    lambda s, p, ref: f"/api/v1/core/archiveresult/{find_result(s, p, ref)[0].id}",
    lambda s, p, ref: f"/api/v1/core/tag/{tag_rules.get_tag(s, p, ref).id}",
    lambda s, p, ref: f"/api/v1/crawls/crawl/{crawls.get_crawl(s, p, ref).id}",
)


@router.get(
    "/core/any/{id}",
    status_code=302,
    response_class=RedirectResponse,
    summary="Get any object by its ID",
    responses={302: {"description": "The object's own route"}},
)
def get_any(id: str, request: Request, session: SessionDep, principal: ArchivePrincipalDep) -> str:
    """A snapshot, archive result, tag or crawl, by id (or id prefix / timestamp / tag name)."""
    for find in FINDERS:
        try:
            path = find(session, principal, id)
        except NotFound:
            continue
        query = request.url.query
        return f"{path}?{query}" if query else path
    raise NotFound("Object with given ID not found")
