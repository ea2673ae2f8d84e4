"""The fleet page: workers, queue depth, failures by reason and capture rate, for people.

It shows exactly what `/metrics` exports: the same rows are read with the same
queries (`snapshots.count_by_status`, `fleet.list_workers`) and turned into the
same Prometheus families (`api.metrics.fleet_metrics`), which this page then
sums across workers instead of printing them as text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import SessionDep, StateDep
from api.errors import WEB
from api.metrics import fleet_metrics
from api.templating import render
from api.ui_access import WebPrincipal, to_login
from crawler import fleet as registry
from crawler import snapshots as snaps
from crawler.clock import as_utc, utcnow

router = APIRouter(tags=[WEB], include_in_schema=False)
QUEUE_STATES = ("queued", "started", "succeeded", "failed", "sealed")
# The samples this page sums over workers, and the label it keeps of each.
SUMMED = {
    "amber_queue_depth": "status",
    "amber_workers": "state",
    "amber_captures_total": "outcome",
    "amber_capture_failures_total": "reason",
}


@dataclass(slots=True)
class WorkerLine:
    """One worker as the page lists it."""

    info: dict[str, Any]
    per_minute: float


@dataclass(slots=True)
class FleetView:
    queue: dict[str, int] = field(default_factory=dict)
    workers_by_state: dict[str, int] = field(default_factory=dict)
    captures: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, int]] = field(default_factory=list)
    per_minute: float = 0.0
    workers: list[WorkerLine] = field(default_factory=list)


def _per_minute(done: int, started_at: datetime | None, now: datetime) -> float:
    """Captures per minute since the worker started (its counters restart with it)."""
    start = as_utc(started_at)
    minutes = (now - start).total_seconds() / 60 if start else 0.0
    return round(done / minutes, 2) if minutes > 0 else 0.0


def fleet_view(
    queue: Mapping[str, int], views: Iterable[registry.WorkerView], *, now: datetime
) -> FleetView:
    """Sum `/metrics`' families over workers: what a person wants at a glance."""
    views = list(views)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for family in fleet_metrics(queue, views):
        for sample in family.samples:
            key = SUMMED.get(sample.name)
            if key:
                totals[sample.name][sample.labels[key]] += sample.value
    view = FleetView(
        queue={k: int(v) for k, v in totals["amber_queue_depth"].items()},
        workers_by_state={k: int(v) for k, v in totals["amber_workers"].items()},
        captures={k: int(v) for k, v in totals["amber_captures_total"].items()},
        failures=sorted(
            ((k, int(v)) for k, v in totals["amber_capture_failures_total"].items()),
            key=lambda item: (-item[1], item[0]),
        ),
    )
    for worker in views:
        done = worker.row.done + worker.row.failed
        rate = _per_minute(done, worker.row.started_at, now) if worker.state == "alive" else 0.0
        view.workers.append(WorkerLine(registry.describe(worker), rate))
    view.per_minute = round(sum(line.per_minute for line in view.workers), 2)
    return view


@router.get("/fleet", response_model=None)
def fleet_page(
    request: Request, session: SessionDep, principal: WebPrincipal, state: StateDep
) -> Response:
    """Everyone signed in sees the fleet, as with `/metrics`; current snapshots stay hidden
    from other tenants (only counts are shown)."""
    if principal is None:
        return to_login(request)
    queue = snaps.count_by_status(session)
    views = registry.list_workers(
        session, lost_after=registry.lost_after(state.settings.heartbeat_seconds)
    )
    view = fleet_view(queue, views, now=utcnow())
    return render(
        request,
        "fleet.html",
        {"fleet": view, "user": principal.username, "statuses": QUEUE_STATES},
    )
