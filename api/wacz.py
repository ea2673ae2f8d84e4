"""WACZ downloads in the ArchiveBox dialect: one snapshot, or a selection of them.

- ``GET /api/v1/core/snapshot/{id}/wacz``: that snapshot's WACZ.
- ``GET /api/v1/core/export.wacz?tag=…&crawl_id=…`` takes the snapshot list's
  filters; ``?id=A&id=B`` (repeatable) names snapshots instead.

What goes in is decided and checked before the answer starts (an unknown or
another tenant's id is a 404, a selection without a WARC a 422), then the zip
streams as it is built. Reading the archive is a GET, so the UI's sign-in cookie
works as well as the API token (`BrowserPrincipalDep`), for plain download links.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from api.archive import snapshot_filters
from api.deps import BrowserPrincipalDep, SessionDep, StateDep
from api.errors import ARCHIVE
from crawler.snapshot_query import SnapshotFilters
from crawler.wacz.export import MEDIA_TYPE, wacz_chunks
from crawler.wacz.selection import ExportPlan, plan_export

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])


def _download(plan: ExportPlan, state: StateDep) -> StreamingResponse:
    chunks = wacz_chunks(plan, state.blobs, scratch=state.settings.data_dir / "tmp")
    return StreamingResponse(
        chunks,
        media_type=MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{plan.filename}"',
            "X-Amber-Snapshots": str(len(plan.pages)),
            "X-Amber-Skipped": str(plan.skipped),
        },
    )


@router.get(
    "/core/snapshot/{snapshot_id}/wacz",
    response_class=StreamingResponse,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "The snapshot as a WACZ"}},
)
def snapshot_wacz(
    snapshot_id: str, session: SessionDep, principal: BrowserPrincipalDep, state: StateDep
) -> StreamingResponse:
    """One snapshot as a WACZ: its WARC, index and page (with title and text)."""
    plan = plan_export(session, principal, blobs=state.blobs, ids=[snapshot_id])
    return _download(plan, state)


def _ids(request: Request) -> Sequence[str]:
    return [v for v in request.query_params.getlist("id") if v.strip()]


@router.get(
    "/core/export.wacz",
    response_class=StreamingResponse,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "The selection as a WACZ"}},
)
def export_wacz(
    request: Request,
    session: SessionDep,
    principal: BrowserPrincipalDep,
    state: StateDep,
    filters: Annotated[SnapshotFilters, Depends(snapshot_filters)],
    title: str | None = None,
) -> StreamingResponse:
    """Snapshots chosen by the list's filters, or by `id` (repeat it), as one WACZ.

    Snapshots without a WARC are left out (counted in `X-Amber-Skipped`).
    """
    ids = _ids(request)
    if ids:
        filters.id = None  # `id` names snapshots here, it is not the list's prefix filter
    plan = plan_export(session, principal, blobs=state.blobs, ids=ids, filters=filters, title=title)
    return _download(plan, state)
