"""Re-archiving schedules at /api/v1/cli/schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from api.archive import usernames_for
from api.deps import ArchivePrincipalDep, KnownQueryOnly, SessionDep, StateDep
from api.errors import ARCHIVE
from crawler import crawls, schedules
from crawler.clock import iso
from crawler.models import Schedule

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])


def schedule_json(schedule: Schedule, usernames: dict[str, str]) -> dict[str, Any]:
    return {
        "id": schedule.id,
        "created_at": iso(schedule.created_at),
        "modified_at": iso(schedule.modified_at),
        "created_by_id": schedule.created_by_id,
        "created_by_username": usernames.get(schedule.created_by_id, ""),
        "label": schedule.label,
        "urls": schedule.urls.split(),
        "tag": schedule.tag,
        "depth": schedule.depth,
        "every": schedule.every_seconds,
        "next_run_at": iso(schedule.next_run_at),
        "last_run_at": iso(schedule.last_run_at),
        "runs": schedule.runs,
        "notify_url": schedule.notify_url,
        "notify_threshold": schedule.notify_threshold,
    }


class ScheduleCreate(BaseModel):
    urls: list[str] | str = Field(default_factory=list)
    tag: str = Field(default="", max_length=200)
    every: str | int = Field(description="'1d', '6h', '30m', 'day', or seconds (>= 60)")
    depth: int = Field(default=0, ge=0, le=crawls.MAX_DEPTH)
    label: str = Field(default="", max_length=500)
    next_run_at: datetime | None = Field(default=None, description="first run (default: +every)")
    notify_url: str | None = Field(
        default=None, max_length=2000, description="webhook POSTed when a re-capture changed"
    )
    notify_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=f"share of the text that must change (default {schedules.DEFAULT_THRESHOLD})",
    )

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str] | str) -> list[str]:
        items = value.split() if isinstance(value, str) else value
        return [u.strip() for u in items if u and u.strip()]


@router.post("/cli/schedule", status_code=201)
def create_schedule(
    body: ScheduleCreate, session: SessionDep, principal: ArchivePrincipalDep, state: StateDep
) -> dict[str, Any]:
    schedule = schedules.create_schedule(
        session,
        principal=principal,
        every=body.every,
        urls=body.urls,
        tag=body.tag,
        depth=body.depth,
        label=body.label,
        next_run_at=body.next_run_at,
        notify_url=body.notify_url,
        notify_threshold=body.notify_threshold,
        networks=state.settings.networks,
    )
    session.commit()
    return schedule_json(schedule, usernames_for(session, [schedule.created_by_id]))


@router.get("/cli/schedule", dependencies=[KnownQueryOnly])
def list_schedules(session: SessionDep, principal: ArchivePrincipalDep) -> dict[str, Any]:
    rows = schedules.list_schedules(session, principal)
    names = usernames_for(session, [s.created_by_id for s in rows])
    return {"count": len(rows), "items": [schedule_json(s, names) for s in rows]}


@router.get("/cli/schedule/{schedule_id}")
def get_schedule(
    schedule_id: str, session: SessionDep, principal: ArchivePrincipalDep
) -> dict[str, Any]:
    schedule = schedules.get_schedule(session, principal, schedule_id)
    return schedule_json(schedule, usernames_for(session, [schedule.created_by_id]))


@router.delete("/cli/schedule/{schedule_id}")
def delete_schedule(
    schedule_id: str, session: SessionDep, principal: ArchivePrincipalDep
) -> dict[str, Any]:
    schedule = schedules.get_schedule(session, principal, schedule_id)
    session.delete(schedule)
    session.commit()
    return {"success": True, "schedule_id": schedule_id}
