"""`amber update`: which snapshots to capture that were stored without capturing (or again).

Index-only snapshots are ``queued`` with ``retry_at`` NULL, which the reconciler
never picks up. `crawler.snapshot_states.requeue` gives them a ``retry_at``,
making them ordinary queued work: the caller dispatches them after commit, and
the reconciler re-sends any message that gets lost from then on.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists
from sqlmodel import Session, col, select

from crawler.errors import InvalidInput
from crawler.models import Snapshot, SnapshotStatus, SnapshotTag, Tag

CHUNK = 500
INDEX_ONLY = "index-only"
SELECTABLE = (INDEX_ONLY, "queued", "failed", "succeeded")


def select_for_update(
    session: Session,
    *,
    workspace_ids: Sequence[str] | None,
    tag: str | None = None,
    status: str | None = None,
    limit: int = 0,
) -> list[str]:
    """Ids to (re)capture: index-only ones by default, or every snapshot in `status`."""
    wanted = status or INDEX_ONLY
    if wanted not in SELECTABLE:
        raise InvalidInput(
            f"cannot update snapshots in status {wanted!r}; choose one of {', '.join(SELECTABLE)}"
        )
    query = select(Snapshot.id).order_by(col(Snapshot.created_at), col(Snapshot.id))
    if wanted == INDEX_ONLY:
        query = query.where(
            col(Snapshot.status) == SnapshotStatus.queued, col(Snapshot.retry_at).is_(None)
        )
    else:
        query = query.where(col(Snapshot.status) == wanted)
    if workspace_ids is not None:
        query = query.where(col(Snapshot.workspace_id).in_(list(workspace_ids)))
    if tag:
        query = query.where(
            exists(
                select(SnapshotTag.snapshot_id)
                .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
                .where(col(SnapshotTag.snapshot_id) == col(Snapshot.id), col(Tag.name) == tag)
            )
        )
    if limit > 0:
        query = query.limit(limit)
    return list(session.exec(query).all())
