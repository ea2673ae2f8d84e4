"""ArchiveBox 0.9 REST dialect under /api/v1: `/cli/add` and snapshots.

Their archive results are served by `api.results`, tags by `api.tags`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, field_validator
from sqlmodel import Session, col, select

from api.archive_json import (
    MAX_LIMIT,
    page_envelope,
    resolve_page,
    snapshot_json,
)
from api.deps import ArchivePrincipalDep, KnownQueryOnly, SessionDep, StateDep
from api.errors import ARCHIVE
from api.state import AppState
from crawler import crawls, importers, personas, search
from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.bounds import MAX_OFFSET
from crawler.errors import InvalidInput, NotFound
from crawler.models import Snapshot, SnapshotStatus, User
from crawler.snapshot_query import SnapshotFilters, query_page

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])


def usernames_for(session: Session, ids: Iterable[str]) -> dict[str, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return dict(session.exec(select(User.id, User.username).where(col(User.id).in_(wanted))).all())


def render_snapshots(session: Session, rows: list[Snapshot], *, with_results: bool) -> list[Any]:
    ids = [s.id for s in rows]
    tags = snaps.snapshot_tags(session, ids)
    results = snaps.results_for(session, ids)
    names = usernames_for(
        session,
        [s.created_by_id for s in rows] + [r.created_by_id for rs in results.values() for r in rs],
    )
    return [
        snapshot_json(
            s, tags=tags[s.id], results=results[s.id], usernames=names, with_results=with_results
        )
        for s in rows
    ]


class AddRequest(BaseModel):
    urls: list[str] | str
    tag: str = ""
    depth: int = Field(default=0, ge=0, le=4)
    parser: str = "auto"
    plugins: str = ""
    update: bool = False
    overwrite: bool = False
    index_only: bool = False
    persona: str = Field(default="", max_length=100)  # log in as this persona (crawler.personas)

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str] | str) -> list[str] | str:
        items = value.splitlines() if isinstance(value, str) else value
        if not any(u and u.strip() for u in items):
            raise ValueError("at least one URL is required")
        return value

    @property
    def url_list(self) -> list[str]:
        items = self.urls.splitlines() if isinstance(self.urls, str) else self.urls
        return [u.strip() for u in items if u and u.strip()]

    @property
    def is_document(self) -> bool:
        """A bookmarks export or free text to parse, rather than a list of URLs.

        A JSON list is always a list of URLs (each must be valid, as in ArchiveBox);
        text is parsed when a parser is named or when it is not one URL per line.
        """
        if self.parser != "auto":
            return True
        return isinstance(self.urls, str) and not importers.is_url_list(self.url_list)


@dataclass(slots=True)
class Added:
    """What a `/cli/add` stored, whichever way its URLs came."""

    snapshot_ids: list[str]
    queued_ids: list[str]
    duplicates: int
    urls: list[str]
    crawl_id: str | None = None
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@router.post("/cli/add")
def cli_add(
    body: AddRequest, session: SessionDep, principal: ArchivePrincipalDep, state: StateDep
) -> dict[str, Any]:
    """Store snapshots for the URLs and queue their capture; returns before capture runs."""
    added = store_add(body, session, principal, state)
    session.commit()
    state.dispatch(added.queued_ids)
    return add_answer(added)


def store_add(body: AddRequest, session: Session, principal: Principal, state: AppState) -> Added:
    """What `/cli/add` stores, for the web UI's add form too (nothing is committed here)."""
    add = _add_document if body.is_document else _add_urls
    return add(body, session, principal, state)


def add_answer(added: Added) -> dict[str, Any]:
    """ArchiveBox 0.9's answer (clients read ``result``), with Amber's flat fields beside it.

    ``errors`` stays empty on success, as clients take any entry for a failed add;
    lines a parser skipped are warnings, so they go to ``stderr`` (and ``problems``).
    """
    stored = len(added.snapshot_ids)
    return {
        "success": True,
        "errors": [],
        "result": {
            "crawl_id": added.crawl_id,
            "num_snapshots": stored,
            "snapshot_ids": added.snapshot_ids,
            "queued_urls": added.urls,
        },
        "result_format": "json",
        "stdout": f"{stored} URLs stored, {len(added.queued_ids)} queued for capture, "
        f"{added.duplicates} already archived"
        + (f", {n} failed before and queued again" if (n := added.extra.get("retried")) else ""),
        "stderr": "\n".join(added.problems),
        "crawl_id": added.crawl_id,
        "num_snapshots": stored,
        "snapshot_ids": added.snapshot_ids,
        "queued": len(added.queued_ids),
        "duplicates": added.duplicates,
        **added.extra,
    }


def _add_urls(body: AddRequest, session: Session, principal: Principal, state: AppState) -> Added:
    """A list of URLs; with a depth, a crawl that follows the captured pages' links."""
    if body.depth:  # crawler.crawl_links follows the links of the captured pages
        if body.index_only:
            raise InvalidInput("depth > 0 needs a capture to read links from; drop index_only")
        crawl, outcome = crawls.create_crawl(
            session,
            principal=principal,
            urls=body.url_list,
            max_depth=body.depth,
            tags_str=body.tag,
            config={"scope": "any", "persona": body.persona},
            redeliver_after=state.settings.redeliver_seconds,
        )
        return Added(
            outcome.snapshot_ids, outcome.queued_ids, outcome.duplicates, body.url_list, crawl.id
        )
    outcome = snaps.add_urls(
        session,
        principal=principal,
        entries=[snaps.UrlEntry(url=url) for url in body.url_list],
        tags=snaps.parse_tags(body.tag),
        update=body.update or body.overwrite,
        index_only=body.index_only,
        redeliver_after=state.settings.redeliver_seconds,
        persona_id=personas.named_id(
            session, workspace_id=principal.default_workspace_id, name=body.persona
        ),
    )
    retried = {"retried": outcome.retried}  # failed before: queued again, not "already archived"
    return Added(
        outcome.snapshot_ids, outcome.queued_ids, outcome.duplicates, body.url_list, extra=retried
    )


def _add_document(
    body: AddRequest, session: Session, principal: Principal, state: AppState
) -> Added:
    """`urls` holds a bookmarks export or free text: parse it (crawler.importers)."""
    if body.depth:
        raise InvalidInput("depth > 0 works with a plain list of URLs, not with a parser")
    if body.persona:
        raise InvalidInput("persona works with a plain list of URLs, not with a parser")
    summary = importers.import_text(
        session,
        body.urls if isinstance(body.urls, str) else "\n".join(body.urls),
        parser=body.parser,
        principal=principal,
        tags=snaps.parse_tags(body.tag),
        update=body.update or body.overwrite,
        index_only=body.index_only,
        redeliver_after=state.settings.redeliver_seconds,
    )
    problems = [str(problem) for problem in summary.problems[:100]]
    return Added(
        summary.snapshot_ids,
        summary.queued_ids,
        summary.duplicates,
        snaps.urls_of(session, summary.snapshot_ids),
        problems=problems,
        extra={"retried": summary.retried, "invalid": summary.invalid, "problems": problems},
    )


def snapshot_filters(
    id: str | None = None,
    url: str | None = None,
    url__icontains: str | None = None,
    domain: str | None = None,
    search: str | None = None,
    tag: str | None = None,
    title: str | None = None,
    timestamp: str | None = None,
    status: SnapshotStatus | None = None,
    crawl_id: str | None = None,
    created_by_id: str | None = None,
    created_by_username: str | None = None,
    created_at: datetime | None = None,
    created_at__gte: datetime | None = None,
    created_at__lt: datetime | None = None,
    modified_at: datetime | None = None,
    modified_at__gte: datetime | None = None,
    modified_at__lt: datetime | None = None,
    bookmarked_at__gte: datetime | None = None,
    bookmarked_at__lt: datetime | None = None,
) -> SnapshotFilters:
    return SnapshotFilters(**{k: v for k, v in locals().items()})


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1)] = 200,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    page: Annotated[int, Query(ge=0, le=MAX_OFFSET // MAX_LIMIT)] = 0,
) -> PageParams:
    limit, offset = resolve_page(limit, offset, page)
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


@router.get("/core/snapshots", dependencies=[KnownQueryOnly])
def list_snapshots(
    session: SessionDep,
    principal: ArchivePrincipalDep,
    paging: PageDep,
    filters: Annotated[SnapshotFilters, Depends(snapshot_filters)],
    with_archiveresults: bool = False,
) -> dict[str, Any]:
    page = query_page(session, principal, filters, limit=paging.limit, offset=paging.offset)
    rows = page.rows
    items = render_snapshots(session, rows, with_results=with_archiveresults)
    if filters.search:  # ranked already; say where each matched (HTML with <mark>)
        found = search.snippets(session, filters.search, [r.id for r in rows])
        for item in items:
            item["search_snippet"] = search.snippet_html(found.get(item["id"], ""))
    envelope = page_envelope(
        items,
        total=page.total.value,
        limit=paging.limit,
        offset=paging.offset,
        exact=page.total.exact,
    )
    if page.search_order is not None:  # relevance, or newest first when too many to rank
        envelope["search_order"] = page.search_order.value
    return envelope


class SnapshotCreate(BaseModel):
    url: str
    crawl_id: str | None = None
    depth: int = Field(default=0, ge=0, le=4)
    title: str | None = None
    tags: list[str] = Field(default_factory=list)
    status: Literal["queued", "sealed"] | None = None


@router.post("/core/snapshots", status_code=201)
def create_snapshot(
    body: SnapshotCreate, session: SessionDep, principal: ArchivePrincipalDep, state: StateDep
) -> dict[str, Any]:
    outcome = snaps.add_urls(
        session,
        principal=principal,
        entries=[snaps.UrlEntry(url=body.url, title=body.title)],
        tags=snaps.parse_tags(body.tags),
        depth=body.depth,
        crawl_id=None,
        update=True,
        index_only=body.status == "sealed",
        redeliver_after=state.settings.redeliver_seconds,
    )
    snapshot = snaps.get_snapshot(session, principal, outcome.snapshot_ids[0])
    if body.crawl_id:
        from crawler.models import Crawl

        crawl = session.get(Crawl, body.crawl_id)
        if crawl is None or not principal.can_read(crawl.workspace_id):
            raise NotFound(f"Crawl {body.crawl_id!r} not found")
        snapshot.crawl_id = crawl.id
    if body.status == "sealed":
        states.seal(session, [snapshot.id])
    session.commit()
    state.dispatch(outcome.queued_ids)
    return render_snapshots(session, [snapshot], with_results=True)[0]


@router.get("/core/snapshot/{snapshot_id}")
def get_snapshot(
    snapshot_id: str,
    session: SessionDep,
    principal: ArchivePrincipalDep,
    with_archiveresults: bool = True,
) -> dict[str, Any]:
    snapshot = snaps.get_snapshot(session, principal, snapshot_id)
    return render_snapshots(session, [snapshot], with_results=with_archiveresults)[0]


class SnapshotPatch(BaseModel):
    status: SnapshotStatus | None = None
    retry_at: datetime | None = None
    tags: list[str] | None = None


@router.patch("/core/snapshot/{snapshot_id}")
def patch_snapshot(
    snapshot_id: str,
    body: SnapshotPatch,
    session: SessionDep,
    principal: ArchivePrincipalDep,
    state: StateDep,
) -> dict[str, Any]:
    """`sealed` cancels pending work; `queued` re-archives (a new capture replaces results)."""
    snapshot = snaps.get_snapshot(session, principal, snapshot_id)
    dispatch: list[str] = []
    if body.tags is not None:
        snaps.set_snapshot_tags(
            session, snapshot, snaps.parse_tags(body.tags), user_id=principal.user_id
        )
    if body.status == SnapshotStatus.sealed:
        states.seal(session, [snapshot.id])
    elif body.status == SnapshotStatus.queued:
        if not states.rearchive(
            session, snapshot.id, redeliver_after=state.settings.redeliver_seconds
        ):
            raise InvalidInput("snapshot is being captured right now; try again when it finishes")
        dispatch.append(snapshot.id)
    elif body.status is not None:
        raise InvalidInput("status can only be set to 'queued' (re-archive) or 'sealed'")
    if body.retry_at is not None:
        states.defer(session, [snapshot.id], until=body.retry_at)
    session.commit()
    session.refresh(snapshot)
    state.dispatch(dispatch)
    return render_snapshots(session, [snapshot], with_results=True)[0]


@router.delete("/core/snapshot/{snapshot_id}")
def delete_snapshot(
    snapshot_id: str, session: SessionDep, principal: ArchivePrincipalDep
) -> dict[str, Any]:
    snapshot = snaps.get_snapshot(session, principal, snapshot_id)
    crawl_id = snapshot.crawl_id
    deleted = snaps.delete_snapshot(session, snapshot)
    session.commit()
    return {
        "success": True,
        "snapshot_id": snapshot_id,
        "crawl_id": crawl_id,
        "deleted_count": deleted,
    }
