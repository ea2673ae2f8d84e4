"""ArchiveBox archive results under /api/v1/core: one extractor's output for one snapshot."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlmodel import Session, col, select

from api.archive import PageDep, usernames_for
from api.archive_json import page_envelope, result_json
from api.deps import ArchivePrincipalDep, KnownQueryOnly, SessionDep
from api.errors import ARCHIVE
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.counts import EXACT_UP_TO, Total, count_rows, count_total
from crawler.errors import NotFound
from crawler.models import ArchiveResult, Snapshot
from crawler.result_query import (
    ResultFilters,
    result_conditions,
    tag_is_rare,
    tag_links,
    tagged_total,
    url_is_rare,
)

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])


def _visible_results(principal: Principal) -> Any:
    query = select(ArchiveResult, Snapshot).join(
        Snapshot, col(Snapshot.id) == col(ArchiveResult.snapshot_id)
    )
    if not principal.is_admin:
        query = query.where(col(Snapshot.workspace_id).in_(principal.workspace_ids))
    return query


def render_results(session: Session, pairs: list[tuple[ArchiveResult, Snapshot]]) -> list[Any]:
    tags = snaps.snapshot_tags(session, list({s.id for _, s in pairs}))
    names = usernames_for(session, [r.created_by_id for r, _ in pairs])
    return [result_json(r, s, tags[s.id], names) for r, s in pairs]


def result_filters(
    id: str | None = None,
    search: str | None = None,
    snapshot_id: str | None = None,
    snapshot_url: str | None = None,
    snapshot_tag: str | None = None,
    status: str | None = None,
    output_str: str | None = None,
    output: str | None = None,
    plugin: str | None = None,
    extractor: str | None = None,
    hook_name: str | None = None,
    process_id: str | None = None,
    cmd: str | None = None,
    pwd: str | None = None,
    cmd_version: str | None = None,
    created_at: datetime | None = None,
    created_at__gte: datetime | None = None,
    created_at__lt: datetime | None = None,
) -> ResultFilters:
    """ArchiveBox's archive-result filters as query parameters (crawler.result_query)."""
    return ResultFilters(**{k: v for k, v in locals().items()})


@router.get("/core/archiveresults", dependencies=[KnownQueryOnly])
def list_results(
    session: SessionDep,
    principal: ArchivePrincipalDep,
    paging: PageDep,
    filters: Annotated[ResultFilters, Depends(result_filters)],
) -> dict[str, Any]:
    dialect = session.get_bind().dialect.name
    indexed = not filters.snapshot_url or url_is_rare(session, filters.snapshot_url)
    walk = bool(filters.snapshot_tag) and not tag_is_rare(session, filters.snapshot_tag or "")
    conds = result_conditions(filters, dialect, url_indexed=indexed, tag_walk=walk)
    query = _visible_results(principal).where(*conds)
    total = _results_total(session, principal, filters, dialect, indexed)
    pairs = session.exec(
        query.order_by(col(ArchiveResult.created_at).desc(), col(ArchiveResult.id))
        .offset(paging.offset)
        .limit(paging.limit)
    ).all()
    return page_envelope(
        render_results(session, list(pairs)),
        total=total.value,
        limit=paging.limit,
        offset=paging.offset,
        exact=total.exact,
    )


def _results_total(
    session: Session, principal: Principal, filters: ResultFilters, dialect: str, indexed: bool
) -> Total:
    """The list's total. Counted driving from the tagged snapshots under ``snapshot_tag``
    (about 1 µs per tagged result; a walk of the whole list would cost about 1 µs per
    result of all). A tag with more than `EXACT_UP_TO` snapshots is estimated from its
    link count and the results per snapshot of all, then counted in the background."""
    conds = result_conditions(filters, dialect, url_indexed=indexed)
    counting = _visible_results(principal).where(*conds).with_only_columns(col(ArchiveResult.id))
    estimate = None
    if filters.snapshot_tag:
        links = tag_links(session, filters.snapshot_tag, EXACT_UP_TO + 1)
        if links > EXACT_UP_TO:
            snapshots = count_rows(session, select(col(Snapshot.id)))
            # never below what the capped count saw (the planner may not know a new tag)
            links = max(links, tagged_total(session, filters.snapshot_tag))
            results = count_rows(session, select(col(ArchiveResult.id)))
            estimate = round(links * results / max(1, snapshots))
    return count_total(session, counting, estimate=estimate)


def find_result(session: Session, principal: Principal, ref: str) -> tuple[ArchiveResult, Snapshot]:
    """By id or an unambiguous id prefix (4 characters or more)."""
    pairs = session.exec(
        _visible_results(principal)
        .where(col(ArchiveResult.id).startswith(ref, autoescape=True))
        .limit(2)
    ).all()
    exact = [pair for pair in pairs if pair[0].id == ref]
    if exact:
        return exact[0]
    if len(pairs) != 1 or len(ref) < 4:
        raise NotFound(f"ArchiveResult {ref!r} not found")
    return pairs[0]


@router.get("/core/archiveresult/{result_id}")
def get_result(
    result_id: str, session: SessionDep, principal: ArchivePrincipalDep
) -> dict[str, Any]:
    return render_results(session, [find_result(session, principal, result_id)])[0]
