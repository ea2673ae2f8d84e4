"""Where a CMA call lands: spaces (the caller's workspaces), environments, and paging."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from crawler.auth import Principal
from crawler.bounds import MAX_OFFSET as MAX_SKIP
from crawler.domains.content.validate import (
    RESOURCE_ID,
)
from crawler.errors import Conflict, InvalidInput, NotFound
from crawler.models import Workspace

MASTER = "master"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Environment:
    """A resolved (space, environment) pair the caller may use."""

    workspace_id: str
    environment_id: str

    @property
    def makes_snapshots(self) -> bool:
        return self.environment_id == MASTER


def not_found(kind: str, resource_id: str) -> NotFound:
    return NotFound("The resource could not be found.", details={"type": kind, "id": resource_id})


def version_mismatch() -> Conflict:
    return Conflict(
        "The version you sent does not match the current version of the resource.",
        code="VersionMismatch",
        details={},
    )


def spaces_of(session: Session, principal: Principal) -> list[Workspace]:
    ids = list(principal.workspace_ids)
    if not ids:
        return []
    rows = session.exec(select(Workspace).where(col(Workspace.id).in_(ids))).all()
    return sorted(rows, key=lambda w: ids.index(w.id))


def open_space(session: Session, principal: Principal, space_id: str) -> Workspace:
    workspace = session.get(Workspace, space_id) if RESOURCE_ID.match(space_id) else None
    if workspace is None or not principal.can_read(workspace.id):
        raise not_found("Space", space_id)
    return workspace


def open_environment(
    session: Session, principal: Principal, space_id: str, environment_id: str
) -> Environment:
    workspace = open_space(session, principal, space_id)
    if not RESOURCE_ID.match(environment_id):
        raise not_found("Environment", environment_id)
    return Environment(workspace.id, environment_id)


def parse_page(skip: str | None, limit: str | None) -> tuple[int, int]:
    """CMA paging: skip >= 0, 1 <= limit <= 1000 (default 100); anything else is InvalidQuery."""

    def number(name: str, raw: str | None, default: int, low: int, high: int | None) -> int:
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise InvalidInput(
                f"The query you sent was invalid: {name} must be an integer {bound}",
                code="InvalidQuery",
                details={"errors": [{"name": name, "value": raw}]},
            )
        return value

    return number("skip", skip, 0, 0, MAX_SKIP), number("limit", limit, DEFAULT_LIMIT, 1, MAX_LIMIT)
