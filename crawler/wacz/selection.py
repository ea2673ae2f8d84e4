"""What a WACZ export holds: a selection of snapshots, decided and checked up front.

`plan_export` turns ids, or the snapshot list's filters, into an `ExportPlan`,
scoped to the caller's workspaces (admins see all) and checked against the blob
store. It raises before a byte of the file is written, so the API can still
answer 404 or 422; the plan holds plain values, so writing needs no session.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime

from sqlmodel import Session

from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import as_utc, utcnow
from crawler.errors import InvalidInput, NotFound
from crawler.models import ArchiveResult, ResultStatus, Snapshot
from crawler.snapshot_query import SnapshotFilters, query_snapshots

WARC_FILE = "warc/capture.warc.gz"
TEXT_FILE = "text.txt"
SCAN_PAGE = 500


@dataclass(frozen=True, slots=True)
class ExportPage:
    """One snapshot as the package needs it; plain values, so no session is needed later."""

    snapshot_id: str
    url: str
    title: str
    captured_at: datetime
    warc_sha256: str
    warc_size: int
    text_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ExportPlan:
    pages: tuple[ExportPage, ...]
    title: str
    filename: str
    single: bool  # one snapshot: the package names it as the main page
    skipped: int = 0  # selected snapshots without a WARC (never captured, or failed)

    def warc_names(self) -> dict[str, str]:
        """Each distinct WARC blob once, named after the first snapshot that holds it.

        Snapshots imported from one WACZ share its WARC; it goes in once.
        """
        names: dict[str, str] = {}
        for page in self.pages:
            names.setdefault(page.warc_sha256, f"{page.snapshot_id}.warc.gz")
        return names


def _has_filters(filters: SnapshotFilters) -> bool:
    return any(getattr(filters, f.name) not in (None, "") for f in fields(filters))


def _matching(
    session: Session, principal: Principal, filters: SnapshotFilters
) -> Iterator[list[Snapshot]]:
    """The snapshot list's answer for `filters`, every page of it."""
    offset = 0
    while True:
        rows, _total = query_snapshots(session, principal, filters, limit=SCAN_PAGE, offset=offset)
        if rows:
            yield rows
        if len(rows) < SCAN_PAGE:
            return
        offset += SCAN_PAGE


def _by_ids(session: Session, principal: Principal, ids: Sequence[str]) -> Iterator[list[Snapshot]]:
    """Snapshots by id, id prefix or timestamp; an unknown or foreign one is a 404."""
    refs = list(dict.fromkeys(ids))
    for start in range(0, len(refs), SCAN_PAGE):
        yield [
            snaps.get_snapshot(session, principal, ref) for ref in refs[start : start + SCAN_PAGE]
        ]


def _export_page(snapshot: Snapshot, results: Iterable[ArchiveResult]) -> ExportPage | None:
    done = {r.plugin: r for r in results if r.status == ResultStatus.succeeded}
    warc = done.get("warc")
    meta = warc.output_files.get(WARC_FILE) if warc else None
    if not meta:
        return None
    text = done.get("text")
    text_meta = text.output_files.get(TEXT_FILE) if text else None
    return ExportPage(
        snapshot_id=snapshot.id,
        url=snapshot.url,
        title=snapshot.title or "",
        captured_at=as_utc(snapshot.downloaded_at or snapshot.created_at) or utcnow(),
        warc_sha256=str(meta["sha256"]),
        warc_size=int(meta.get("size") or 0),
        text_sha256=str(text_meta["sha256"]) if text_meta else None,
    )


def _describe(ids: Sequence[str], filters: SnapshotFilters) -> str:
    if ids:
        return f"{len(set(ids))} chosen snapshots"
    chosen = [
        f"{f.name}={getattr(filters, f.name)}"
        for f in fields(filters)
        if getattr(filters, f.name) not in (None, "")
    ]
    return ", ".join(chosen) or "every snapshot"


def plan_export(
    session: Session,
    principal: Principal,
    *,
    blobs: BlobStore,
    ids: Sequence[str] = (),
    filters: SnapshotFilters | None = None,
    title: str | None = None,
) -> ExportPlan:
    """What to export, decided and checked up front (tenant-scoped: admins see all).

    Raises NotFound for an unknown or another tenant's id and for a WARC missing
    from the blob store, InvalidInput when nothing selected has a WARC.
    """
    filters = filters or SnapshotFilters()
    if ids and _has_filters(filters):
        raise InvalidInput("choose snapshots either by id or by filters, not both")
    batches = _by_ids(session, principal, ids) if ids else _matching(session, principal, filters)
    pages: list[ExportPage] = []
    count = 0
    first: Snapshot | None = None
    for rows in batches:
        results = snaps.results_for(session, [r.id for r in rows])
        for row in rows:
            count += 1
            first = first or row
            page = _export_page(row, results[row.id])
            if page is not None:
                pages.append(page)
    if first is None:
        raise InvalidInput("nothing to export: no snapshot matches the selection")
    if not pages:
        if count == 1:
            raise InvalidInput(
                f"snapshot {first.id} has no WARC to export (its status is {first.status})"
            )
        raise InvalidInput(f"nothing to export: none of the {count} selected snapshots has a WARC")
    for sha256 in {p.warc_sha256 for p in pages}:
        if not blobs.exists(sha256):
            raise NotFound(f"WARC {sha256} is missing from the blob store")
    pages = [
        p if p.text_sha256 is None or blobs.exists(p.text_sha256) else replace(p, text_sha256=None)
        for p in pages
    ]
    single = count == 1
    if single:
        name = f"amber-{first.timestamp}.wacz"
        label = title or pages[0].title or pages[0].url
    else:
        name = f"amber-export-{utcnow():%Y%m%d%H%M%S}.wacz"
        label = title or f"Amber export: {_describe(ids, filters)}"
    return ExportPlan(
        pages=tuple(pages),
        title=label,
        filename=name,
        single=single,
        skipped=count - len(pages),
    )
