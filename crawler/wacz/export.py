"""WACZ export: the snapshots of an `ExportPlan` written as one zip (WACZ 1.1.1).

`build_wacz` writes the zip into any writable file, seekable or not, and yields
progress as it goes; `wacz_chunks` turns that into a byte stream for an HTTP
response. Layout (https://specs.webrecorder.net/wacz/1.1.1/):

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
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from crawler import __version__
from crawler.blobs import BlobStore
from crawler.clock import utcnow
from crawler.wacz.pages import Page, header_line, iso_ts, page_line
from crawler.wacz.records import entry_time, nearest_capture
from crawler.wacz.selection import ExportPage, ExportPlan
from crawler.wacz.sorting import LineSorter
from crawler.warcindex import build_index

WACZ_VERSION = "1.1.1"
MEDIA_TYPE = "application/wacz"
PAGES_PATH = "pages/pages.jsonl"
CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Step:
    """Progress: `done` of `total` WARCs indexed, then written."""

    stage: Literal["index", "write"]
    done: int
    total: int


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
