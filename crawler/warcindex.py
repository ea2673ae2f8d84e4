"""A CDXJ index of one WARC, and reading single records back through it.

Replay, diffs and WACZ export all need to find "the response for URL U" in a
snapshot's WARC without reading the whole file. The index is built with
Webrecorder's `cdxj-indexer` (the indexer pywb and py-wacz use), so URL keys
(SURT), POST canonicalisation (`__wb_method=post&…` appended to the key) and
payload digests match what other replay tools compute. Indexes are cached in
memory per WARC blob: blobs are immutable, so an index never goes stale.
"""

from __future__ import annotations

import io
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import parse_qsl, urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord
from warcio.timeutils import timestamp_to_datetime

from crawler.blobs import BlobStore
from crawler.errors import NotFound

CACHE_ENTRIES = 256


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One indexed record: where it is and what it says about itself."""

    urlkey: str
    timestamp: str  # 14 digits, the record's WARC-Date
    url: str
    mime: str
    status: int
    digest: str
    offset: int
    length: int
    method: str = "GET"
    record_type: str = "response"

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400

    def cdxj_line(self, filename: str) -> str:
        """The entry as a CDXJ line naming `filename` (for WACZ and pywb collections)."""
        data: dict[str, str] = {
            "url": self.url,
            "mime": self.mime,
            "status": str(self.status),
            "digest": self.digest,
            "length": str(self.length),
            "offset": str(self.offset),
            "filename": filename,
        }
        if self.method != "GET":
            data["method"] = self.method
        return f"{self.urlkey} {self.timestamp} {json.dumps(data)}"


def url_key(url: str) -> str:
    """The SURT key a URL is indexed under (host reversed, scheme dropped, query sorted).

    `surt` is imported here, not at the top: it pulls in tldextract and requests,
    a second of start-up that most `amber` commands never need.
    """
    import surt

    try:
        return str(surt.surt(url))
    except Exception:  # surt rejects some malformed URLs; they can only match verbatim
        return url


class WarcIndex:
    """Every response/resource/revisit record of one WARC, by URL key."""

    def __init__(self, entries: list[IndexEntry]) -> None:
        self.entries = entries
        self._by_key: dict[str, list[IndexEntry]] = {}
        for entry in entries:
            self._by_key.setdefault(entry.urlkey, []).append(entry)

    def __len__(self) -> int:
        return len(self.entries)

    def responses(self) -> Iterator[IndexEntry]:
        """Entries that carry an HTTP response (not metadata records)."""
        return (e for e in self.entries if e.record_type in ("response", "revisit", "resource"))

    def captures(self, url: str) -> list[IndexEntry]:
        """Every GET answer recorded for exactly `url` (a WARC may hold several), in file order."""
        return [
            e
            for e in self._by_key.get(url_key(url), [])
            if e.method == "GET" and e.record_type != "metadata"
        ]

    def lookup(
        self, url: str, *, method: str = "GET", near: datetime | None = None
    ) -> IndexEntry | None:
        """The record for `url`: exact key first, then the same path with the nearest query.

        When the WARC holds the URL several times (a crawl, an imported archive),
        `near` picks the capture closest to that moment. The nearest query covers
        cache-busting parameters (`?_=1712345`) that a page adds differently on every
        load, as pywb's fuzzy matching does.
        """
        key = url_key(url)
        if method.upper() != "GET":
            hits = [e for e in self._by_key.get(key, []) if e.method == method.upper()]
            hits += [
                e
                for k, v in self._by_key.items()
                if k.startswith((key + "&__wb_method=", key + "?__wb_method="))
                for e in v
            ]
            if hits:
                return hits[0]
        exact = self.captures(url)
        if exact:
            return _nearest(exact, near) if near is not None else _best(exact)
        return self._fuzzy(key)

    def _fuzzy(self, key: str) -> IndexEntry | None:
        base, _, query = key.partition("?")
        wanted = set(parse_qsl(query, keep_blank_values=True))
        best: tuple[int, IndexEntry] | None = None
        for candidate_key, entries in self._by_key.items():
            candidate_base, _, candidate_query = candidate_key.partition("?")
            if candidate_base != base or "__wb_method=" in candidate_query:
                continue
            shared = len(wanted & set(parse_qsl(candidate_query, keep_blank_values=True)))
            if best is None or shared > best[0]:
                best = (shared, _best(entries))
        return best[1] if best else None


def entry_time(entry: IndexEntry) -> datetime:
    """When the record was written (its WARC-Date, to the second)."""
    return timestamp_to_datetime(entry.timestamp).replace(tzinfo=UTC)


def _nearest(entries: list[IndexEntry], moment: datetime) -> IndexEntry:
    """The capture closest in time; at equal distance a real answer beats a redirect."""
    return min(
        entries,
        key=lambda e: (abs((entry_time(e) - moment).total_seconds()), e.is_redirect),
    )


def _best(entries: list[IndexEntry]) -> IndexEntry:
    """Prefer a real answer over a redirect to the same URL, then the first recorded."""
    for entry in entries:
        if entry.record_type != "metadata" and not entry.is_redirect:
            return entry
    return entries[0]


def build_index(stream: BinaryIO) -> WarcIndex:
    """Index a WARC stream (gzip members or plain), in one pass."""
    from cdxj_indexer.main import CDXJIndexer  # with surt: imported when first needed

    out = io.StringIO()
    indexer = CDXJIndexer(
        output=out,
        inputs=[stream],
        post_append=True,
        fields="req.http:method",
        filename="capture.warc.gz",
        records="response,revisit,resource,metadata",
    )
    indexer.process_one(stream, out, "capture.warc.gz")
    entries = [_parse_line(line) for line in out.getvalue().splitlines() if line.strip()]
    return WarcIndex([e for e in entries if e is not None])


def _parse_line(line: str) -> IndexEntry | None:
    try:
        urlkey, timestamp, raw = line.split(" ", 2)
        data = json.loads(raw)
    except ValueError:
        return None
    mime = str(data.get("mime") or "")
    record_type = "response"
    if mime == "warc/revisit":
        record_type = "revisit"
    elif "status" not in data:
        record_type = "metadata" if mime in ("application/json", "") else "resource"
    try:
        status = int(data.get("status") or 200)
    except ValueError:
        status = 200
    return IndexEntry(
        urlkey=urlkey,
        timestamp=timestamp,
        url=str(data.get("url", "")),
        mime=mime,
        status=status,
        digest=str(data.get("digest", "")),
        offset=int(data.get("offset", 0)),
        length=int(data.get("length", 0)),
        method=str(data.get("method") or "GET").upper(),
        record_type=record_type,
    )


class IndexCache:
    """Indexes by WARC blob hash, least recently used dropped first (thread-safe)."""

    def __init__(self, blobs: BlobStore, *, entries: int = CACHE_ENTRIES) -> None:
        self.blobs = blobs
        self.capacity = entries
        self._items: OrderedDict[str, WarcIndex] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sha256: str) -> WarcIndex:
        with self._lock:
            found = self._items.get(sha256)
            if found is not None:
                self._items.move_to_end(sha256)
                return found
        with self.blobs.open(sha256) as stream:
            index = build_index(stream)
        with self._lock:
            self._items[sha256] = index
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return index


_caches: weakref.WeakKeyDictionary[BlobStore, IndexCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def index_cache(blobs: BlobStore) -> IndexCache:
    """The process's one index cache for this blob store (replay, diffs and exports share it)."""
    with _caches_lock:
        cache = _caches.get(blobs)
        if cache is None:
            cache = _caches[blobs] = IndexCache(blobs)
        return cache


@contextmanager
def open_record(blobs: BlobStore, sha256: str, entry: IndexEntry) -> Iterator[ArcWarcRecord]:
    """The record at `entry`, read from the blob by its byte range only.

    Read `record.content_stream()` inside the block: the range stays open until it ends.
    """
    with blobs.open_range(sha256, entry.offset, entry.length) as stream:
        try:
            record = next(iter(ArchiveIterator(stream)))
        except StopIteration as exc:
            raise NotFound(f"no WARC record at offset {entry.offset}") from exc
        yield record


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()
