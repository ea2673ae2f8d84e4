"""Two snapshots side by side: find each one's text, screenshot and WARC, and diff them.

Each part is computed on its own. A part that cannot be (a snapshot not captured
yet, a failed capture, a page without readable text or screenshot, a blob gone
missing, an unreadable image) becomes `Unavailable(reason)`, and the other parts
still come out. Blobs are immutable, so finished image comparisons and rendered
visual diffs are kept in small in-memory caches keyed by the blob hashes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlmodel import Session

from crawler import snapshots as snaps
from crawler.blobs import BlobStore
from crawler.diffs.resources import ResourceDiff, diff_resources
from crawler.diffs.screenshot import ImageDiff, diff_images, open_image, render_diff
from crawler.diffs.text import DEFAULT_TIMEOUT, TextDiff, diff_text
from crawler.errors import AmberError, NotFound
from crawler.models import ArchiveResult, ResultStatus, Snapshot, SnapshotStatus
from crawler.warcindex import index_cache


@dataclass(frozen=True, slots=True)
class Output:
    """One output file a diff part reads: which extractor wrote it, where, and what to call it."""

    part: str
    plugin: str
    path: str
    label: str


TEXT = Output("text", "text", "text.txt", "readable text")
SCREENSHOT = Output("screenshot", "screenshot", "screenshot.png", "screenshot")
WARC = Output("resources", "warc", "warc/capture.warc.gz", "WARC")
MAX_TEXT_BYTES = 5 * 1024 * 1024

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why one part of a diff could not be computed (said in the answer, never a 500)."""

    reason: str


class Missing(NotFound):
    """An output a diff needs is not there; the message says why, for `Unavailable`."""


@dataclass(slots=True)
class SnapshotDiff:
    a: Snapshot
    b: Snapshot
    text: TextDiff | Unavailable
    screenshot: ImageDiff | Unavailable
    resources: ResourceDiff | Unavailable
    elapsed_ms: dict[str, float] = field(default_factory=dict)


class _Lru(Generic[K, V]):
    """A tiny thread-safe LRU map for results derived from immutable blobs."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


_image_diffs: _Lru[tuple[str, str], ImageDiff] = _Lru(256)
_rendered: _Lru[tuple[str, str], bytes] = _Lru(8)


def _not_captured(snapshot: Snapshot) -> str | None:
    if snapshot.status in (SnapshotStatus.queued, SnapshotStatus.started):
        return f"snapshot {snapshot.id} has not been captured yet ({snapshot.status})"
    return None


def output_blob(snapshot: Snapshot, results: list[ArchiveResult], kind: Output) -> str:
    """The sha256 of one output file of a snapshot, or Missing saying why there is none."""
    plugin, path, label = kind.plugin, kind.path, kind.label
    who = f"snapshot {snapshot.id}"
    result = next((r for r in results if r.plugin == plugin), None)
    if result is not None and result.status == ResultStatus.succeeded:
        entry = result.output_files.get(path)
        if entry and entry.get("sha256"):
            return str(entry["sha256"])
        raise Missing(f"{who} has no {label} ({path} is not among its outputs)")
    if result is None or result.status != ResultStatus.skipped:
        pending = _not_captured(snapshot)
        if pending:
            raise Missing(pending)
    if snapshot.status == SnapshotStatus.failed and (result is None or result.error):
        raise Missing(f"{who} failed: {snapshot.last_error or 'no reason recorded'}")
    if result is None:
        raise Missing(f"{who} has no {label}")
    if result.status == ResultStatus.skipped:
        raise Missing(f"{who} has no {label}: {result.output_str or 'skipped'}")
    if result.status == ResultStatus.failed:
        raise Missing(f"{who}: the {plugin} extractor failed: {result.error or 'unknown error'}")
    raise Missing(f"{who} has no {label} yet ({plugin} is {result.status})")


def _read_text(blobs: BlobStore, sha256: str) -> str:
    with blobs.open(sha256) as stream:
        data = stream.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise Missing(f"the text is larger than {MAX_TEXT_BYTES // (1024 * 1024)} MB")
    return data.decode("utf-8", errors="replace")


def compare_text(blobs: BlobStore, sha_a: str, sha_b: str, *, timeout: float) -> TextDiff:
    return diff_text(_read_text(blobs, sha_a), _read_text(blobs, sha_b), timeout=timeout)


def compare_screenshots(blobs: BlobStore, sha_a: str, sha_b: str) -> ImageDiff:
    found = _image_diffs.get((sha_a, sha_b))
    if found is None:
        with blobs.open(sha_a) as first, blobs.open(sha_b) as second:
            found = diff_images(open_image(first), open_image(second))
        _image_diffs.put((sha_a, sha_b), found)
    return found


def visual_diff_png(blobs: BlobStore, sha_a: str, sha_b: str) -> bytes:
    """The newer screenshot with the changed regions boxed (rendered once per pair).

    The newer screenshot is decoded once, for both the comparison (when it is not
    cached yet) and the drawing.
    """
    key = (sha_a, sha_b)
    png = _rendered.get(key)
    if png is None:
        with blobs.open(sha_b) as stream:
            newer = open_image(stream)
        diff = _image_diffs.get(key)
        if diff is None:
            with blobs.open(sha_a) as stream:
                diff = diff_images(open_image(stream), newer)
            _image_diffs.put(key, diff)
        png = render_diff(newer, diff)
        _rendered.put(key, png)
    return png


def compare_resources(blobs: BlobStore, sha_a: str, sha_b: str) -> ResourceDiff:
    cache = index_cache(blobs)
    return diff_resources(cache.get(sha_a), cache.get(sha_b))


def _part(
    kind: Output,
    pair: tuple[tuple[Snapshot, list[ArchiveResult]], tuple[Snapshot, list[ArchiveResult]]],
    run: Callable[[str, str], V],
    elapsed: dict[str, float],
) -> V | Unavailable:
    started = time.perf_counter()
    try:
        return run(output_blob(*pair[0], kind), output_blob(*pair[1], kind))
    except AmberError as exc:  # missing output or blob, an unreadable image
        return Unavailable(exc.message)
    except Exception:  # noqa: BLE001  (a corrupt WARC, say: this part only, never a 500)
        log.exception(
            "could not compare the %s of %s and %s", kind.part, pair[0][0].id, pair[1][0].id
        )
        return Unavailable(f"the {kind.label} could not be compared (see the server log)")
    finally:
        elapsed[kind.part] = round((time.perf_counter() - started) * 1000, 1)


def compare_snapshots(
    session: Session,
    blobs: BlobStore,
    a: Snapshot,
    b: Snapshot,
    *,
    text_timeout: float = DEFAULT_TIMEOUT,
) -> SnapshotDiff:
    results = snaps.results_for(session, [a.id, b.id])
    pair = ((a, results[a.id]), (b, results[b.id]))
    elapsed: dict[str, float] = {}
    return SnapshotDiff(
        a=a,
        b=b,
        text=_part(
            TEXT, pair, lambda x, y: compare_text(blobs, x, y, timeout=text_timeout), elapsed
        ),
        screenshot=_part(SCREENSHOT, pair, lambda x, y: compare_screenshots(blobs, x, y), elapsed),
        resources=_part(WARC, pair, lambda x, y: compare_resources(blobs, x, y), elapsed),
        elapsed_ms=elapsed,
    )


def screenshot_pair(session: Session, a: Snapshot, b: Snapshot) -> tuple[str, str]:
    """The two screenshots' blob hashes; NotFound (with the reason) when either is missing."""
    results = snaps.results_for(session, [a.id, b.id])
    try:
        return output_blob(a, results[a.id], SCREENSHOT), output_blob(b, results[b.id], SCREENSHOT)
    except Missing as exc:
        raise NotFound(exc.message) from exc
