"""ArchiveBox archive results under /api/v1/core: one extractor's output for one snapshot."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.archive import PageDep, usernames_for
from api.archive_json import page_envelope, result_json
from api.deps import ArchivePrincipalDep, SessionDep
from api.errors import ARCHIVE
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.errors import NotFound
from crawler.models import ArchiveResult, Snapshot

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


@router.get("/core/archiveresults")
def list_results(
    session: SessionDep,
    principal: ArchivePrincipalDep,
    paging: PageDep,
    snapshot_id: str | None = None,
    plugin: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    query = _visible_results(principal)
    if snapshot_id:
        query = query.where(col(ArchiveResult.snapshot_id).startswith(snapshot_id, autoescape=True))
    if plugin:
        query = query.where(col(ArchiveResult.plugin) == plugin)
    if status:
        query = query.where(col(ArchiveResult.status) == status)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    pairs = session.exec(
        query.order_by(col(ArchiveResult.created_at).desc(), col(ArchiveResult.id))
        .offset(paging.offset)
        .limit(paging.limit)
    ).all()
    return page_envelope(
        render_results(session, list(pairs)),
        total=int(total),
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/core/archiveresult/{result_id}")
def get_result(
    result_id: str, session: SessionDep, principal: ArchivePrincipalDep
) -> dict[str, Any]:
    pair = session.exec(
        _visible_results(principal)
        .where(col(ArchiveResult.id).startswith(result_id, autoescape=True))
        .limit(2)
    ).all()
    if len(pair) != 1 or len(result_id) < 4:
        raise NotFound(f"ArchiveResult {result_id!r} not found")
    return render_results(session, list(pair))[0]
