"""WACZ export: snapshots' WARCs, a CDXJ index and their pages in one zip (WACZ 1.1.1).

`plan_export` turns a selection (ids, or the snapshot list's filters) into an
`ExportPlan`, checking tenancy and that every WARC is there; it raises before a
single byte is written, so the API can still answer 404 or 422. `build_wacz`
then writes the zip into any writable file, seekable or not, and yields progress
as it goes; `wacz_chunks` turns that into a byte stream for an HTTP response.

Layout (https://specs.webrecorder.net/wacz/1.1.1/):

    archive/<snapshot id>.warc.gz   each distinct WARC blob once, stored (not deflated)
    indexes/index.cdx               CDXJ of every response in those WARCs, sorted
    pages/pages.jsonl               one page per snapshot: id, url, ts, title, text
    datapackage.json                every file above with its sha256 and size
    datapackage-digest.json         the sha256 of datapackage.json

Each WARC is read twice, once to index it and once to copy it, so that nothing
but one chunk is ever held in memory and the zip can stream; index lines that
do not fit in memory are sorted on disk (`sorting.LineSorter`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from sqlmodel import Session

from crawler import __version__
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.blobs import BlobStore
from crawler.clock import as_utc, utcnow
from crawler.errors import InvalidInput, NotFound
from crawler.models import ArchiveResult, ResultStatus, Snapshot
from crawler.snapshot_query import SnapshotFilters, query_snapshots
from crawler.wacz.pages import Page, header_line, iso_ts, page_line
from crawler.wacz.records import entry_time, nearest_capture
from crawler.wacz.sorting import LineSorter
from crawler.warcindex import build_index

WACZ_VERSION = "1.1.1"
MEDIA_TYPE = "application/wacz"
WARC_FILE = "warc/capture.warc.gz"
TEXT_FILE = "text.txt"
PAGES_PATH = "pages/pages.jsonl"
CHUNK = 1024 * 1024
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


@dataclass(frozen=True, slots=True)
class Step:
    """Progress: `done` of `total` WARCs indexed, then written."""

    stage: Literal["index", "write"]
    done: int
    total: int


# --- choosing what goes in ---------------------------------------------------------


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


# --- writing the zip ---------------------------------------------------------------


class _Pipe:
    """A write-only, unseekable file: zipfile writes into it, `take` hands the bytes on."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _zip_info(name: str, created: datetime, compression: int, size: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=created.timetuple()[:6])
    info.compress_type = compression
    info.file_size = size  # tells zipfile up front whether the entry needs ZIP64
    return info


def _store(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: BinaryIO, step: Step
) -> Generator[Step, None, dict[str, Any]]:
    """Copy `source` into the zip chunk by chunk, hashing it; the datapackage resource."""
    digest = hashlib.sha256()
    size = 0
    with archive.open(info, "w") as entry:
        while chunk := source.read(CHUNK):
            entry.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            yield step
    return {
        "name": info.filename.rsplit("/", 1)[-1].lower(),
        "path": info.filename,
        "hash": f"sha256:{digest.hexdigest()}",
        "bytes": size,
    }


def _write_pages(
    path: Path, plan: ExportPlan, stamps: dict[str, datetime], blobs: BlobStore
) -> None:
    has_text = any(p.text_sha256 for p in plan.pages)
    with path.open("w", encoding="utf-8") as out:
        out.write(header_line(has_text=has_text) + "\n")
        for page in plan.pages:
            text = None
            if page.text_sha256:
                text = blobs.read(page.text_sha256).decode("utf-8", errors="replace")
            line = page_line(
                Page(
                    id=page.snapshot_id,
                    url=page.url,
                    ts=stamps.get(page.snapshot_id, page.captured_at),
                    title=page.title or None,
                    text=text,
                )
            )
            out.write(line + "\n")


def _datapackage(
    plan: ExportPlan,
    resources: list[dict[str, Any]],
    stamps: dict[str, datetime],
    created: datetime,
) -> bytes:
    package: dict[str, Any] = {
        "profile": "data-package",
        "resources": resources,
        "wacz_version": WACZ_VERSION,
        "title": plan.title,
        "created": iso_ts(created),
        "software": f"Amber {__version__}",
    }
    if plan.single:
        page = plan.pages[0]
        package["mainPageURL"] = page.url
        package["mainPageDate"] = iso_ts(stamps.get(page.snapshot_id, page.captured_at))
    else:
        package["description"] = f"{len(plan.pages)} snapshots exported from Amber"
    return json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")


def build_wacz(
    plan: ExportPlan,
    blobs: BlobStore,
    target: BinaryIO,
    *,
    scratch: Path,
    created: datetime | None = None,
) -> Iterator[Step]:
    """Write the WACZ into `target`; a generator: iterate it to the end to build the file.

    `scratch` holds the sorted index and the page list while the zip is written.
    """
    created = created or utcnow()
    names = plan.warc_names()
    sizes = {p.warc_sha256: p.warc_size for p in plan.pages}
    held: dict[str, list[ExportPage]] = {}
    for page in plan.pages:
        held.setdefault(page.warc_sha256, []).append(page)
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wacz-", dir=scratch) as tmp:
        work = Path(tmp)
        sorter = LineSorter(work)
        stamps: dict[str, datetime] = {}
        for done, (sha256, name) in enumerate(names.items(), start=1):
            with blobs.open(sha256) as stream:
                index = build_index(stream)
            for entry in index.responses():
                sorter.add(entry.cdxj_line(name))
            for page in held[sha256]:
                found = nearest_capture(index, page.url, page.captured_at)
                if found is not None:
                    stamps[page.snapshot_id] = entry_time(found)
            yield Step("index", done, len(names))
        index_path = work / "index.cdx"
        with index_path.open("w", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in sorter.sorted())
        pages_path = work / "pages.jsonl"
        _write_pages(pages_path, plan, stamps, blobs)

        total = len(names)
        resources: list[dict[str, Any]] = []
        with zipfile.ZipFile(target, "w", allowZip64=True) as archive:
            # WARCs are stored as they are: replay tools read records by byte range.
            for done, (sha256, name) in enumerate(names.items(), start=1):
                info = _zip_info(f"archive/{name}", created, zipfile.ZIP_STORED, sizes[sha256])
                with blobs.open(sha256) as source:
                    step = Step("write", done - 1, total)
                    resources.append((yield from _store(archive, info, source, step)))
                yield Step("write", done, total)
            for path, arcname in ((index_path, "indexes/index.cdx"), (pages_path, PAGES_PATH)):
                info = _zip_info(arcname, created, zipfile.ZIP_DEFLATED, path.stat().st_size)
                with path.open("rb") as source:
                    resources.append(
                        (yield from _store(archive, info, source, Step("write", total, total)))
                    )
            package = _datapackage(plan, resources, stamps, created)
            digest = {"path": "datapackage.json", "hash": f"sha256:{_sha256(package)}"}
            archive.writestr(_zip_info("datapackage.json", created, zipfile.ZIP_DEFLATED), package)
            archive.writestr(
                _zip_info("datapackage-digest.json", created, zipfile.ZIP_DEFLATED),
                json.dumps(digest, indent=2).encode("utf-8"),
            )
        yield Step("write", total, total)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wacz_chunks(
    plan: ExportPlan, blobs: BlobStore, *, scratch: Path, created: datetime | None = None
) -> Iterator[bytes]:
    """The WACZ as a byte stream (for an HTTP response), at most about one chunk at a time."""
    pipe = _Pipe()
    for _step in build_wacz(plan, blobs, pipe, scratch=scratch, created=created):  # type: ignore[arg-type]
        data = pipe.take()
        if data:
            yield data
    data = pipe.take()
    if data:
        yield data
