"""WACZ and WARC import: one `succeeded` snapshot per archived page, fetched from nowhere.

The archive is checked and indexed before anything is stored, so a broken or
foreign file leaves the store as it was (InvalidInput). Then:

1. The WARCs (a WACZ's ``archive/*.warc[.gz]``, or the bare file) become one blob:
   gzip members concatenate, so ``.warc.gz`` files are copied as they are; plain
   or whole-file-gzip WARCs are recompressed record by record (as `warcio
   recompress` does) so every record can be read by its byte range.
2. Pages come from ``pages/pages.jsonl`` and ``pages/extraPages.jsonl``; without
   them, from the seeds the WARCs name in their ``warcinfo`` (``isPartOf`` or the
   ``json-metadata`` seed, as Amber's own WARCs do), else every HTML document
   answered with 200.
3. Each page is found in the index (the capture nearest its time, redirects
   followed) and gets a snapshot with that capture time and the results a
   capture would have written: ``warc``, ``title``, ``text`` (from the page list,
   or extracted from the archived HTML with trafilatura, as the text extractor
   does) made searchable in the same transaction, and ``dom`` (the archived HTML).

A page already in the workspace (same normalised URL, captured the same second)
is a duplicate unless `update` is set; duplicates still get the import's tags.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

import lxml.html
import trafilatura
from bs4 import UnicodeDammit
from lxml import etree
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.warcwriter import WARCWriter

from crawler import search
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.blobs import BlobRef, BlobStore
from crawler.clock import as_utc, utcnow
from crawler.db import session_scope
from crawler.errors import InvalidInput
from crawler.importers.base import ParseProblem
from crawler.importers.detect import detect_archive
from crawler.models import ArchiveResult, ResultStatus, Snapshot, SnapshotStatus, SnapshotTag
from crawler.urls import normalize_url, validate_url
from crawler.wacz.pages import Page, read_pages
from crawler.wacz.records import entry_time, nearest_capture
from crawler.warcindex import IndexEntry, WarcIndex, build_index, open_record

WARC_MEMBER = re.compile(r"^archive/[^/]+\.warc(\.gz)?$")
PAGE_LISTS = ("pages/pages.jsonl", "pages/extraPages.jsonl")
HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_HTML_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 5
BATCH = 100
LOOKUP_CHUNK = 500
MAX_PROBLEMS_KEPT = 1000
TRAFILATURA_VERSION = version("trafilatura")
# What a damaged WARC or zip raises from warcio, zipfile and zlib.
BROKEN = (ArchiveLoadFailed, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)

Progress = Callable[[int, int], None]
log = logging.getLogger(__name__)


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


@dataclass(slots=True)
class Extracted:
    title: str | None = None
    text: str | None = None
    text_from: str = ""
    html: str | None = None


# --- the archive's WARCs, as one blob ------------------------------------------------


def _recompress(source: IO[bytes], out: IO[bytes]) -> None:
    """Every record as its own gzip member (so each can be read by byte range)."""
    writer = WARCWriter(out, gzip=True)
    for record in ArchiveIterator(source, no_record_parse=False, arc2warc=True):
        writer.write_record(record)


def _is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


def _combine(inputs: Sequence[Callable[[], IO[bytes]]], out: Path, *, recompress: bool) -> None:
    with out.open("wb") as target:
        for opener in inputs:
            with opener() as source:
                head = source.read(2)
            with opener() as source:
                if _is_gzip(head) and not recompress:
                    shutil.copyfileobj(source, target, 1024 * 1024)
                else:
                    _recompress(source, target)


def _index_file(path: Path) -> WarcIndex:
    with path.open("rb") as stream:
        return build_index(stream)


def _build_blob(
    inputs: Sequence[Callable[[], IO[bytes]]], work: Path, name: str
) -> tuple[Path, WarcIndex]:
    """Concatenate the WARCs and index the result; recompress when a gzip is not per record."""
    combined = work / "combined.warc.gz"
    try:
        _combine(inputs, combined, recompress=False)
        try:
            index = _index_file(combined)
        except ArchiveLoadFailed as exc:
            if "non-chunked gzip" not in str(exc):
                raise
            _combine(inputs, combined, recompress=True)
            index = _index_file(combined)
    except BROKEN as exc:
        raise InvalidInput(f"{name} is not a readable WARC archive: {_first_line(exc)}") from exc
    if not any(index.responses()):
        raise InvalidInput(f"{name} holds no archived responses")
    return combined, index


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _leading_seeds(source: IO[bytes]) -> list[str]:
    """The seed URLs a WARC's leading warcinfo records name (Amber, Browsertrix, wget)."""
    seeds: list[str] = []
    for record in ArchiveIterator(source):
        if record.rec_type != "warcinfo":
            break
        fields: dict[str, str] = {}
        for line in record.content_stream().read(64 * 1024).decode("utf-8", "replace").splitlines():
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        try:
            meta = json.loads(fields.get("json-metadata") or "{}")
        except ValueError:
            meta = {}
        for seed in (meta.get("seed") if isinstance(meta, dict) else None, fields.get("ispartof")):
            if isinstance(seed, str) and seed.startswith(("http://", "https://")):
                seeds.append(seed)
                break
    return seeds


# --- reading the file ----------------------------------------------------------------


@dataclass(slots=True)
class Opened:
    """An archive ready to import: its WARCs as one file, indexed, and its pages."""

    warc: Path
    index: WarcIndex
    pages: list[Page]
    listed: bool  # pages came from a page list (not guessed from the WARCs)
    problems: list[ParseProblem]


def _member_opener(archive: zipfile.ZipFile, name: str) -> Callable[[], IO[bytes]]:
    return lambda: archive.open(name)


def _check_hashes(archive: zipfile.ZipFile, members: list[str], name: str) -> None:
    """The WARCs' sha256 against datapackage.json, when it lists them (a damaged download)."""
    if "datapackage.json" not in archive.namelist():
        return
    try:
        package = json.loads(archive.read("datapackage.json"))
        resources = {
            r["path"]: r.get("hash", "") for r in package.get("resources", []) if "path" in r
        }
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidInput(f"{name}: datapackage.json is not valid JSON") from exc
    for member in members:
        expected = str(resources.get(member, ""))
        if not expected.startswith("sha256:"):
            continue
        with archive.open(member) as source:
            digest = _sha256_of(source)
        if digest != expected.removeprefix("sha256:"):
            raise InvalidInput(f"{name}: {member} does not match its hash in datapackage.json")


def _sha256_of(source: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := source.read(1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def _open_wacz(path: Path, work: Path) -> Opened:
    name = path.name
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"{name} is not a valid WACZ (a damaged zip): {exc}") from exc
    with archive:
        members = sorted(n for n in archive.namelist() if WARC_MEMBER.match(n))
        if not members:
            raise InvalidInput(f"{name} is not a WACZ: it holds no archive/*.warc.gz")
        try:
            _check_hashes(archive, members, name)
            openers = [_member_opener(archive, m) for m in members]
            warc, index = _build_blob(openers, work, name)
            problems: list[ParseProblem] = []
            pages: list[Page] = []
            for listing in PAGE_LISTS:
                if listing not in archive.namelist():
                    continue
                with archive.open(listing) as lines:
                    for item in read_pages(lines, unit=listing):
                        if isinstance(item, ParseProblem):
                            problems.append(item)
                        else:
                            pages.append(item)
            listed = bool(pages)
            if not listed:
                seeds = []
                for opener in openers:
                    with opener() as source:
                        seeds += _leading_seeds(source)
                pages = _guess_pages(index, seeds)
        except BROKEN as exc:
            raise InvalidInput(f"{name} is not a valid WACZ: {_first_line(exc)}") from exc
    return Opened(warc, index, pages, listed, problems)


def _open_warc(path: Path, work: Path) -> Opened:
    def opener() -> IO[bytes]:
        return path.open("rb")

    warc, index = _build_blob([opener], work, path.name)
    try:
        with path.open("rb") as source:
            seeds = _leading_seeds(source)
    except BROKEN:
        seeds = []
    return Opened(warc, index, _guess_pages(index, seeds), False, [])


def _guess_pages(index: WarcIndex, seeds: list[str]) -> list[Page]:
    """Without a page list: the seeds, else every HTML document answered with 200."""
    if seeds:
        return [Page(url=seed) for seed in dict.fromkeys(seeds)]
    pages: dict[tuple[str, str], Page] = {}
    for entry in index.responses():
        mime = entry.mime.split(";")[0].strip().lower()
        if entry.record_type == "response" and entry.status == 200 and mime in HTML_TYPES:
            pages.setdefault(
                (entry.urlkey, entry.timestamp), Page(url=entry.url, ts=entry_time(entry))
            )
    return list(pages.values())


def open_archive(path: Path, work: Path) -> tuple[str, Opened]:
    """Check, combine and index an archive file; raises InvalidInput on anything else."""
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    with path.open("rb") as handle:
        kind = detect_archive(handle.read(4096))
    if kind == "wacz":
        return kind, _open_wacz(path, work)
    if kind == "warc":
        return kind, _open_warc(path, work)
    raise InvalidInput(f"{path.name} is neither a WACZ nor a WARC file")


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


def _charset(content_type: str) -> str | None:
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    return match.group(1) if match else None


def _archived_html(blobs: BlobStore, sha256: str, index: WarcIndex, found: Located) -> str | None:
    """The page's HTML as archived (redirects recorded in the WARC followed), decoded."""
    entry: IndexEntry | None = found.entry
    for _hop in range(MAX_REDIRECTS + 1):
        if entry is None or entry.record_type != "response":
            return None
        with open_record(blobs, sha256, entry) as record:
            headers = record.http_headers
            if entry.is_redirect:
                location = headers.get_header("Location") if headers else None
                if not location:
                    return None
                entry = nearest_capture(index, urljoin(entry.url, location), found.moment)
                continue
            mime = entry.mime.split(";")[0].strip().lower()
            if entry.status != 200 or mime not in HTML_TYPES or headers is None:
                return None
            encoding = (headers.get_header("Content-Encoding") or "identity").lower()
            if encoding not in ("identity", *BufferedReader.get_supported_decompressors()):
                return None  # warcio would hand back the still-encoded bytes
            data = record.content_stream().read(MAX_HTML_BYTES + 1)
            if len(data) > MAX_HTML_BYTES:
                return None
            charset = _charset(headers.get_header("Content-Type") or "")
            dammit = UnicodeDammit(data, [charset] if charset else [], is_html=True)
            return dammit.unicode_markup
    return None


def _html_title(html: str) -> str | None:
    try:
        parser = lxml.html.HTMLParser(encoding="utf-8")
        doc = lxml.html.document_fromstring(html.encode("utf-8"), parser=parser)
    except (ValueError, etree.ParserError):
        return None
    title = " ".join((doc.findtext(".//title") or "").split())
    return title[:1000] or None


def _html_text(html: str, url: str) -> str | None:
    text = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=True, favor_recall=True
    )
    if not text:
        text = trafilatura.html2txt(html)
    return (text or "").strip() or None


def _extract(blobs: BlobStore, sha256: str, index: WarcIndex, found: Located) -> Extracted:
    page = found.page
    out = Extracted(title=page.title, text=page.text, text_from="pages.jsonl" if page.text else "")
    try:
        out.html = _archived_html(blobs, sha256, index, found)
    except Exception:  # noqa: BLE001
        # Whatever a damaged record or a decoder raises (warcio's Brotli hook raises
        # AttributeError with Google's `brotli`): the page keeps its WARC, title and
        # listed text; only the DOM and extracted text are left out.
        log.warning("could not read the archived HTML of %s", page.url, exc_info=True)
        out.html = None
    if out.html is not None:
        out.title = out.title or _html_title(out.html)
        if not out.text:
            out.text = _html_text(out.html, page.url)
            out.text_from = f"trafilatura {TRAFILATURA_VERSION}"
    return out


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
        kind, opened = open_archive(path, Path(tmp))
        summary = ArchiveImport(kind=kind, pages=len(opened.pages))
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
        target = _Target(principal, workspace_id, warc, path.name, kind)
        done = 0
        taken: set[str] = set()
        for batch in _batches(fresh, BATCH):
            extracted = [_extract(blobs, warc.sha256, opened.index, f) for f in batch]
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
