"""WACZ and WARC import: one `succeeded` snapshot per archived page, fetched from nowhere.

`reader.open_archive` checks and indexes the file before anything is stored, so
a broken or foreign file leaves the store as it was (InvalidInput). Each page is
then found in the index (the capture nearest its time) and gets a snapshot with
that capture time and the results a capture would have written: ``warc`` (the
archive's WARCs, one blob shared by its pages), ``title``, ``text`` (from the page
list, or extracted from the archived HTML; made searchable in the same
transaction, as a capture does) and ``dom`` (the archived HTML; see `content`).

A page already in the workspace (same normalised URL, captured the same second)
is a duplicate unless `update` is set; duplicates still get the import's tags.
Pages are stored in batches, each committed on its own, like a bookmarks import.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawler import search
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.blobs import BlobRef, BlobStore
from crawler.clock import as_utc, utcnow
from crawler.db import session_scope
from crawler.errors import InvalidInput
from crawler.importers.base import ParseProblem
from crawler.models import ArchiveResult, ResultStatus, Snapshot, SnapshotStatus, SnapshotTag
from crawler.urls import normalize_url, validate_url
from crawler.wacz.content import Extracted, extract
from crawler.wacz.pages import Page
from crawler.wacz.reader import Opened, open_archive
from crawler.wacz.records import entry_time, nearest_capture
from crawler.warcindex import IndexEntry

BATCH = 100
LOOKUP_CHUNK = 500
MAX_PROBLEMS_KEPT = 1000

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class ArchiveImport:
    """What an archive import did; `problems` are pages that could not become snapshots."""

    kind: str
    pages: int = 0
    imported: int = 0
    duplicates: int = 0
    snapshot_ids: list[str] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)

    def problem(self, number: int, message: str, unit: str = "page") -> None:
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(ParseProblem(number, message, unit))


@dataclass(frozen=True, slots=True)
class Located:
    """A listed page and the record of its URL in the archive."""

    number: int
    page: Page
    key: str  # normalised URL
    entry: IndexEntry
    moment: datetime  # the capture time the snapshot gets


# --- pages -> snapshots --------------------------------------------------------------


def _locate(opened: Opened, summary: ArchiveImport) -> list[Located]:
    found: list[Located] = []
    seen: set[tuple[str, str]] = set()
    for number, page in enumerate(opened.pages, start=1):
        try:
            key = normalize_url(validate_url(page.url))
        except InvalidInput as exc:
            summary.problem(number, exc.message)
            continue
        entry = nearest_capture(opened.index, page.url, page.ts)
        if entry is None:
            summary.problem(number, f"{page.url} is not in the archive's WARCs")
            continue
        moment = page.ts or entry_time(entry)
        mark = (key, _second(moment))
        if mark in seen:
            summary.duplicates += 1
            continue
        seen.add(mark)
        found.append(Located(number, page, key, entry, moment))
    return found


def _second(moment: datetime) -> str:
    return (as_utc(moment) or moment).astimezone(UTC).strftime("%Y%m%d%H%M%S")


def _existing(
    session: Session, workspace_id: str, keys: Sequence[str]
) -> dict[tuple[str, str], str]:
    """(normalised URL, capture second) -> snapshot id, for the workspace's snapshots."""
    found: dict[tuple[str, str], str] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), LOOKUP_CHUNK):
        rows = session.exec(
            select(Snapshot.normalized_url, Snapshot.downloaded_at, Snapshot.id).where(
                Snapshot.workspace_id == workspace_id,
                col(Snapshot.normalized_url).in_(unique[start : start + LOOKUP_CHUNK]),
            )
        )
        for key, downloaded_at, snapshot_id in rows:
            if downloaded_at is not None:
                found[(key, _second(downloaded_at))] = snapshot_id
    return found


def _result(
    snapshot: Snapshot,
    plugin: str,
    *,
    files: dict[str, dict[str, Any]] | None = None,
    output_str: str = "",
    cmd_version: str,
) -> ArchiveResult:
    files = files or {}
    now = utcnow()
    return ArchiveResult(
        snapshot_id=snapshot.id,
        created_by_id=snapshot.created_by_id,
        created_at=now,
        modified_at=now,
        status=ResultStatus.succeeded if files or output_str else ResultStatus.skipped,
        plugin=plugin,
        cmd_version=cmd_version,
        output_str=output_str,
        output_files=files,
        output_size=sum(int(f["size"]) for f in files.values()),
        output_mimetypes=",".join(sorted({str(f["mimetype"]) for f in files.values()})),
        sha256=next(iter(files.values()))["sha256"] if files else None,
        start_ts=now,
        end_ts=now,
    )


def _file(ref: BlobRef, mimetype: str) -> dict[str, Any]:
    return {"sha256": ref.sha256, "size": ref.size, "mimetype": mimetype}


def _free_timestamp(session: Session, moment: datetime, taken: set[str]) -> str:
    """An ArchiveBox-style timestamp at the capture time, nudged by microseconds if taken."""
    value = int(moment.timestamp() * 1_000_000)
    while True:
        stamp = f"{value // 1_000_000}.{value % 1_000_000:06d}"
        if (
            stamp not in taken
            and session.exec(select(Snapshot.id).where(Snapshot.timestamp == stamp)).first() is None
        ):
            taken.add(stamp)
            return stamp
        value += 1


@dataclass(frozen=True, slots=True)
class _Target:
    principal: Principal
    workspace_id: str
    warc: BlobRef
    source: str
    kind: str


def _store_page(
    session: Session,
    target: _Target,
    found: Located,
    extracted: Extracted,
    blobs: BlobStore,
    *,
    taken: set[str],
    tag_ids: list[str],
) -> str:
    moment = as_utc(found.moment) or found.moment
    title = (extracted.title or "").strip()[:1000] or None
    snapshot = Snapshot(
        workspace_id=target.workspace_id,
        created_by_id=target.principal.user_id,
        created_at=moment,
        modified_at=utcnow(),
        bookmarked_at=moment,
        downloaded_at=moment,
        status=SnapshotStatus.succeeded,
        url=found.page.url,
        normalized_url=found.key,
        title=title,
        timestamp=_free_timestamp(session, moment, taken),
    )
    session.add(snapshot)
    session.flush()
    for tag_id in tag_ids:
        session.add(SnapshotTag(snapshot_id=snapshot.id, tag_id=tag_id))
    made_by = f"amber import ({target.kind})"
    results = [
        _result(
            snapshot,
            "warc",
            files={"warc/capture.warc.gz": _file(target.warc, "application/warc")},
            output_str=f"imported from {target.source}",
            cmd_version=made_by,
        ),
        _result(snapshot, "title", output_str=title or "", cmd_version=made_by),
    ]
    text_files: dict[str, dict[str, Any]] = {}
    if extracted.text:
        ref = blobs.put_bytes(extracted.text.encode("utf-8"))
        text_files["text.txt"] = _file(ref, "text/plain; charset=utf-8")
    results.append(
        _result(
            snapshot,
            "text",
            files=text_files,
            output_str=(extracted.text or "")[:200],
            cmd_version=extracted.text_from or made_by,
        )
    )
    dom_files: dict[str, dict[str, Any]] = {}
    if extracted.html is not None:
        ref = blobs.put_bytes(extracted.html.encode("utf-8"))
        dom_files["dom.html"] = _file(ref, "text/html; charset=utf-8")
    results.append(
        _result(
            snapshot,
            "dom",
            files=dom_files,
            output_str="dom.html" if dom_files else "",
            cmd_version=made_by,
        )
    )
    session.add_all(results)
    session.flush()
    if extracted.text:
        search.index_text(session, snapshot.id, extracted.text)
    return snapshot.id


def _tag_duplicates(session: Session, snapshot_ids: Iterable[str], tag_ids: list[str]) -> None:
    for snapshot_id in snapshot_ids:
        for tag_id in tag_ids:
            if session.get(SnapshotTag, (snapshot_id, tag_id)) is None:
                session.add(SnapshotTag(snapshot_id=snapshot_id, tag_id=tag_id))


def _batches(items: Sequence[Located], size: int) -> Iterator[Sequence[Located]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_archive(
    path: Path,
    *,
    engine: Engine,
    blobs: BlobStore,
    principal: Principal,
    scratch: Path,
    tags: Sequence[str] = (),
    update: bool = False,
    on_progress: Progress | None = None,
) -> ArchiveImport:
    """Import a WACZ or WARC file; each batch of pages is committed as it is stored."""
    scratch.mkdir(parents=True, exist_ok=True)
    workspace_id = principal.default_workspace_id
    with tempfile.TemporaryDirectory(prefix="import-", dir=scratch) as tmp:
        opened = open_archive(path, Path(tmp))
        summary = ArchiveImport(kind=opened.kind, pages=len(opened.pages))
        for problem in opened.problems:
            summary.problem(problem.line, problem.message, problem.unit)
        located = _locate(opened, summary)
        with Session(engine) as session:
            existing = {} if update else _existing(session, workspace_id, [f.key for f in located])
        fresh = [f for f in located if (f.key, _second(f.moment)) not in existing]
        repeated = [
            existing[(f.key, _second(f.moment))]
            for f in located
            if (f.key, _second(f.moment)) in existing
        ]
        summary.duplicates += len(repeated)
        if repeated and tags:
            with session_scope(engine) as session:
                tag_rows = snaps.get_or_create_tags(
                    session, workspace_id=workspace_id, user_id=principal.user_id, names=tags
                )
                _tag_duplicates(session, repeated, [t.id for t in tag_rows])
        if not fresh:
            return summary
        warc = blobs.put_file(opened.warc)
        target = _Target(principal, workspace_id, warc, path.name, opened.kind)
        done = 0
        taken: set[str] = set()
        for batch in _batches(fresh, BATCH):
            extracted = [
                extract(blobs, warc.sha256, opened.index, f.page, f.entry, f.moment) for f in batch
            ]
            with session_scope(engine) as session:
                tag_rows = snaps.get_or_create_tags(
                    session, workspace_id=workspace_id, user_id=principal.user_id, names=tags
                )
                tag_ids = [t.id for t in tag_rows]
                ids = [
                    _store_page(session, target, f, e, blobs, taken=taken, tag_ids=tag_ids)
                    for f, e in zip(batch, extracted, strict=True)
                ]
            summary.snapshot_ids += ids
            summary.imported += len(ids)
            done += len(batch)
            if on_progress is not None:
                on_progress(done, len(fresh))
    return summary
