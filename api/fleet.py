"""The fleet's own views: `GET /api/v1/workers` and Prometheus `/metrics`.

Both read the database only, so any API node shows the whole fleet, whether or
not it captures itself. Auth is the archive API's (bearer, X-ArchiveBox-API-Key
or ?api_key=); a tenant sees other tenants' workers but not which of their
snapshots those workers are capturing. `/metrics` is for admins or the
separate AMBER_METRICS_TOKEN.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from api import metrics as metrics_text
from api.deps import ArchivePrincipalDep, KnownQueryOnly, SessionDep, StateDep, archivebox_token
from api.errors import ARCHIVE
from crawler import fleet as registry
from crawler import snapshots as snaps
from crawler.auth import Principal, authenticate
from crawler.errors import Forbidden, Unavailable

router = APIRouter(tags=[ARCHIVE])


def _redact(session: Session, principal: Principal, items: list[dict[str, Any]]) -> None:
    if principal.is_admin:
        return
    current = [sid for item in items for sid in item["current_snapshot_ids"]]
    mine = registry.visible_snapshot_ids(session, current, principal.workspace_ids)
    for item in items:
        item["current_snapshot_ids"] = [s for s in item["current_snapshot_ids"] if s in mine]
        item["current_snapshot"] = next(iter(item["current_snapshot_ids"]), None)


@router.get("/api/v1/workers", dependencies=[KnownQueryOnly])
def list_workers(
    session: SessionDep,
    principal: ArchivePrincipalDep,
    state: StateDep,
    include_stopped: bool = False,
) -> dict[str, Any]:
    """Every worker process with its last heartbeat; silent ones show as `lost`."""
    views = registry.list_workers(
        session,
        lost_after=registry.lost_after(state.settings.heartbeat_seconds),
        include_stopped=include_stopped,
    )
    items = [registry.describe(v) for v in views]
    _redact(session, principal, items)
    counts = {s.value: sum(1 for v in views if v.state == s) for s in registry.WorkerState}
    return {"count": len(items), **counts, "items": items}


@router.get("/healthz")
def healthz(session: SessionDep) -> dict[str, str]:
    """Liveness/readiness for load balancers: this node answers and reaches the database."""
    try:
        session.exec(select(1)).one()  # type: ignore[call-overload]
    except SQLAlchemyError as exc:
        raise Unavailable("the database is unreachable") from exc
    return {"status": "ok"}


def metrics_reader(request: Request, session: SessionDep, state: StateDep) -> None:
    """`/metrics` counts every tenant's queue: admins only, or AMBER_METRICS_TOKEN.

    The metrics token opens this route and nothing else, so a Prometheus server
    can scrape with it without holding an admin's token.
    """
    token = archivebox_token(request)
    wanted = state.settings.metrics_token
    if wanted and token and hmac.compare_digest(token.encode(), wanted.encode()):
        return
    if not authenticate(session, token).is_admin:
        raise Forbidden("/metrics is for admins (or AMBER_METRICS_TOKEN)")


@router.get("/metrics", response_class=Response, dependencies=[Depends(metrics_reader)])
def metrics(session: SessionDep, state: StateDep) -> Response:
    """Queue depth, captures, durations, failures and browser restarts, fleet-wide."""
    queue = snaps.count_by_status(session)
    views = registry.list_workers(
        session, lost_after=registry.lost_after(state.settings.heartbeat_seconds)
    )
    return Response(metrics_text.render(queue, views), media_type=CONTENT_TYPE_LATEST)
