"""Reading a WACZ or WARC file for import: its WARCs as one indexed file, and its pages.

Nothing is stored here; everything a broken or foreign file can raise becomes
InvalidInput, so the importer fails before it writes a row or a blob.

The WARCs (a WACZ's ``archive/*.warc[.gz]``, or the bare file) become one file:
gzip members concatenate, so ``.warc.gz`` files are copied as they are; plain or
whole-file-gzip WARCs are recompressed record by record (as `warcio recompress`
does) so that every record can be read by its byte range. Pages come from
``pages/pages.jsonl`` and ``pages/extraPages.jsonl``; without them, from the seeds
the WARCs name in their ``warcinfo`` (``isPartOf`` or the ``json-metadata`` seed,
as Amber's own WARCs do), else every HTML document answered with 200.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.warcwriter import WARCWriter

from crawler.errors import InvalidInput
from crawler.importers.base import ParseProblem
from crawler.importers.detect import detect_archive
from crawler.wacz.pages import Page, read_pages
from crawler.wacz.records import entry_time
from crawler.warcindex import WarcIndex, build_index

WARC_MEMBER = re.compile(r"^archive/[^/]+\.warc(\.gz)?$")
PAGE_LISTS = ("pages/pages.jsonl", "pages/extraPages.jsonl")
HTML_TYPES = ("text/html", "application/xhtml+xml")
# What a damaged WARC or zip raises from warcio, zipfile and zlib.
BROKEN = (ArchiveLoadFailed, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


@dataclass(slots=True)
class Opened:
    """An archive ready to import: its WARCs as one file, indexed, and its pages."""

    kind: str  # "wacz" or "warc"
    warc: Path
    index: WarcIndex
    pages: list[Page]
    problems: list[ParseProblem]


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
            if not pages:
                seeds = []
                for opener in openers:
                    with opener() as source:
                        seeds += _leading_seeds(source)
                pages = _guess_pages(index, seeds)
        except BROKEN as exc:
            raise InvalidInput(f"{name} is not a valid WACZ: {_first_line(exc)}") from exc
    return Opened("wacz", warc, index, pages, problems)


def _open_warc(path: Path, work: Path) -> Opened:
    def opener() -> IO[bytes]:
        return path.open("rb")

    warc, index = _build_blob([opener], work, path.name)
    try:
        with path.open("rb") as source:
            seeds = _leading_seeds(source)
    except BROKEN:
        seeds = []
    return Opened("warc", warc, index, _guess_pages(index, seeds), [])


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


def open_archive(path: Path, work: Path) -> Opened:
    """Check, combine (into `work`) and index an archive file; InvalidInput if it is none."""
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    with path.open("rb") as handle:
        kind = detect_archive(handle.read(4096))
    if kind == "wacz":
        return _open_wacz(path, work)
    if kind == "warc":
        return _open_warc(path, work)
    raise InvalidInput(f"{path.name} is neither a WACZ nor a WARC file")
