"""Change alerts as the API shows them: `GET /api/v1/core/changes` (ArchiveBox page envelope)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.archive import PageDep
from api.archive_json import page_envelope
from api.deps import ArchivePrincipalDep, KnownQueryOnly, SessionDep, StateDep
from api.errors import ARCHIVE
from crawler.alerts import diff_paths
from crawler.changes import query_changes
from crawler.clock import iso
from crawler.models import Change

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])


def change_json(change: Change, *, base_url: str) -> dict[str, Any]:
    api_path, page_path = diff_paths(change.before_snapshot_id, change.after_snapshot_id)
    base = base_url.rstrip("/")
    return {
        "TYPE": "amber.Change",
        "id": change.id,
        "created_at": iso(change.created_at),
        "url": change.url,
        "schedule_id": change.schedule_id,
        "before_snapshot_id": change.before_snapshot_id,
        "after_snapshot_id": change.after_snapshot_id,
        "share_changed": change.share_changed,
        "summary": {
            "words_inserted": change.words_inserted,
            "words_deleted": change.words_deleted,
            "excerpt": change.excerpt,
        },
        "diff_url": base + api_path,
        "diff_page_url": base + page_path,
        "notify_url": change.notify_url,
        "delivery": {
            "state": change.delivery_state,
            "attempts": change.attempts,
            "next_attempt_at": iso(change.next_attempt_at),
            "delivered_at": iso(change.delivered_at),
            "last_error": change.last_error,
        },
    }


@router.get("/core/changes", dependencies=[KnownQueryOnly])
def list_changes(
    session: SessionDep,
    principal: ArchivePrincipalDep,
    paging: PageDep,
    state: StateDep,
    url: Annotated[str | None, Query(max_length=8192)] = None,
    schedule_id: Annotated[str | None, Query(max_length=64)] = None,
    snapshot_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Changes the caller's schedules detected, newest first."""
    rows, total = query_changes(
        session,
        principal,
        url=url,
        schedule_id=schedule_id,
        snapshot_id=snapshot_id,
        limit=paging.limit,
        offset=paging.offset,
    )
    base = state.settings.base_url
    return page_envelope(
        [change_json(c, base_url=base) for c in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )
