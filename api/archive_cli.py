"""ArchiveBox 0.9's CLI sub-commands over REST: ``/api/v1/cli/{search,list,update,remove}``.

``cli/add`` lives in `api.archive`, ``cli/schedule`` in `api.schedules`. Each answer
is ArchiveBox's ``CLICommandResponseSchema``: ``{success, errors, result,
result_format, stdout, stderr}``. Snapshots are selected by `crawler.snapshot_patterns`
(``filter_type`` exact, substring, regex, domain, tag or timestamp). The request
defaults are ArchiveBox 0.9's, ``filter_patterns: ["https://example.com"]`` included.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, col, select

from api.archive import render_snapshots
from api.deps import ArchivePrincipalDep, SessionDep, StateDep
from api.errors import ARCHIVE
from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.errors import InvalidInput
from crawler.models import Snapshot
from crawler.snapshot_patterns import Matches, PatternQuery, find_snapshots

router = APIRouter(prefix="/api/v1", tags=[ARCHIVE])

MAX_ROWS = 10_000  # snapshots one call lists, re-queues or removes
EXAMPLE_PATTERNS = ["https://example.com"]
FOREVER = 999999999999999  # ArchiveBox's default `before`: no upper bound


class FilterCommand(BaseModel):
    """The selection every command shares."""

    filter_patterns: list[str] | None = Field(default=EXAMPLE_PATTERNS)
    filter_type: str = "substring"
    after: float | None = 0
    before: float | None = FOREVER

    def selection(self, *, status: str | None = None, sort: str | None = None) -> PatternQuery:
        return PatternQuery(
            patterns=tuple(p for p in self.filter_patterns or () if p),
            filter_type=self.filter_type,
            after=self.after,
            before=self.before,
            status=status or "indexed",
            sort=sort,
        )


class ListCommand(FilterCommand):
    status: str = "indexed"
    sort: str = "bookmarked_at"
    as_json: bool = True
    as_html: bool = False
    as_csv: str | bool | None = "timestamp,url"
    with_headers: bool = False
    limit: int | None = Field(default=None, ge=1, le=MAX_ROWS)


class UpdateCommand(FilterCommand):
    # 0.8 clients send a number for `resume`; Amber re-queues in one pass, so both are moot.
    resume: str | float | None = None
    batch_size: int = Field(default=100, ge=1, le=100_000)
    continuous: bool = False
    status: str | None = None


class RemoveCommand(FilterCommand):
    filter_type: str = "exact"
    delete: bool = True


def command_answer(result: Any, *, result_format: str, stdout: str = "", stderr: str = "") -> Any:
    return {
        "success": True,
        "errors": [],
        "result": result,
        "result_format": result_format,
        "stdout": stdout,
        "stderr": stderr,
    }


def _bulk(session: Session, principal: Principal, selection: PatternQuery, verb: str) -> Matches:
    """Every match, or a refusal when there are more than one call may change."""
    matches = find_snapshots(session, principal, selection, limit=MAX_ROWS)
    if matches.total > MAX_ROWS:
        raise InvalidInput(
            f"{matches.total} snapshots match; one call may {verb} at most {MAX_ROWS}. "
            "Narrow filter_patterns or after/before."
        )
    return matches


def _load(session: Session, ids: list[str]) -> list[Snapshot]:
    rows: dict[str, Snapshot] = {}
    for start in range(0, len(ids), snaps.LOOKUP_CHUNK):
        chunk = ids[start : start + snaps.LOOKUP_CHUNK]
        rows.update(
            (s.id, s) for s in session.exec(select(Snapshot).where(col(Snapshot.id).in_(chunk)))
        )
    return [rows[i] for i in ids if i in rows]


def _csv(items: list[dict[str, Any]], columns: str, *, with_headers: bool) -> str:
    names = [name.strip() for name in columns.split(",") if name.strip()]
    unknown = [name for name in names if items and name not in items[0]]
    if unknown:
        raise InvalidInput(f"as_csv names unknown snapshot fields: {', '.join(unknown)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if with_headers:
        writer.writerow(names)
    for item in items:
        writer.writerow(
            ",".join(v) if isinstance(v := item.get(name), list) else ("" if v is None else v)
            for name in names
        )
    return out.getvalue().rstrip("\n")


def _html(items: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr><td>{html.escape(i["timestamp"])}</td><td><a href="{html.escape(i["url"])}">'
        f"{html.escape(i['title'] or i['url'])}</a></td></tr>"
        for i in items
    )
    return f"<table><tr><th>timestamp</th><th>url</th></tr>{rows}</table>"


def _render(items: list[dict[str, Any]], body: ListCommand) -> tuple[Any, str]:
    """The output formats of `archivebox search`: json, then html, csv, plain URLs."""
    if body.as_json:
        if body.with_headers:
            return {
                "schema": "archivebox.index.json",
                "num_links": len(items),
                "links": items,
            }, "json"
        return items, "json"
    if body.as_html:
        return _html(items), "html"
    if body.as_csv:
        columns = body.as_csv if isinstance(body.as_csv, str) else "timestamp,url"
        return _csv(items, columns, with_headers=body.with_headers), "csv"
    return "\n".join(item["url"] for item in items), "txt"


@router.post("/cli/search", summary="archivebox search [args] [filter_patterns]")
def cli_search(body: ListCommand, session: SessionDep, principal: ArchivePrincipalDep) -> Any:
    """The selected snapshots, oldest bookmark first by default (``sort``)."""
    limit = body.limit or MAX_ROWS
    matches = find_snapshots(
        session, principal, body.selection(status=body.status, sort=body.sort), limit=limit
    )
    items = render_snapshots(session, _load(session, matches.ids), with_results=False)
    result, result_format = _render(items, body)
    stderr = ""
    if matches.total > len(matches.ids):
        stderr = f"[!] {matches.total} snapshots matched; showing the first {len(matches.ids)}"
    return command_answer(result, result_format=result_format, stderr=stderr)


@router.post("/cli/list", summary="archivebox list [args] [filter_patterns] (0.8's name)")
def cli_list(body: ListCommand, session: SessionDep, principal: ArchivePrincipalDep) -> Any:
    """ArchiveBox 0.8 called ``search`` ``list``; its clients still do."""
    return cli_search(body, session, principal)


@router.post("/cli/update", summary="archivebox update [args] [filter_patterns]")
def cli_update(
    body: UpdateCommand, session: SessionDep, principal: ArchivePrincipalDep, state: StateDep
) -> Any:
    """Queue the selected snapshots for a fresh capture (those being captured are left be)."""
    if body.continuous:
        raise InvalidInput("continuous updates are schedules here: POST /api/v1/cli/schedule")
    matches = _bulk(session, principal, body.selection(status=body.status), "update")
    queued = states.requeue(session, matches.ids, redeliver_after=state.settings.redeliver_seconds)
    session.commit()
    state.dispatch(matches.ids)
    result = {"matched_count": matches.total, "snapshot_ids": matches.ids, "queued_count": queued}
    stdout = f"{matches.total} snapshots matched, {queued} queued for capture"
    return command_answer(result, result_format="json", stdout=stdout)


@router.post("/cli/remove", summary="archivebox remove [args] [filter_patterns]")
def cli_remove(body: RemoveCommand, session: SessionDep, principal: ArchivePrincipalDep) -> Any:
    """Delete the selected snapshots with their results and tags.

    ``delete`` is accepted either way: captured files are stored once by content
    and shared, so removing a snapshot never touches another's files.
    """
    matches = _bulk(session, principal, body.selection(), "remove")
    for snapshot in _load(session, matches.ids):
        snaps.delete_snapshot(session, snapshot)
    session.commit()
    remaining = select(func.count()).select_from(Snapshot)
    if not principal.is_admin:
        remaining = remaining.where(col(Snapshot.workspace_id).in_(principal.workspace_ids))
    result = {
        "removed_count": len(matches.ids),
        "removed_snapshot_ids": matches.ids,
        "remaining_snapshots": int(session.exec(remaining).one()),
    }
    return command_answer(result, result_format="json", stdout=f"{len(matches.ids)} removed")
