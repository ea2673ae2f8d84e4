"""The blob store checked against the database (`amber fsck`), and unused blobs freed (`amber gc`).

A blob is referenced when its hash appears in the database: in any column whose
name holds "sha" (archive results, dashboard, note, entry bodies...) or anywhere
inside a JSON column (archive results' `output_files`, sheet snapshots'
`chunks`). Reading the schema rather than listing tables keeps a new domain
covered without touching this module; a 64-hex string that only looks like a
hash merely keeps a blob alive.

`gc` frees blobs nothing references (those of deleted snapshots), but only
ones older than a grace period: a capture stores its blobs before it commits
the rows naming them, and re-storing an existing blob refreshes its time.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, MetaData, String, Text, select
from sqlalchemy.engine import Engine

from crawler.blobs import CHUNK, BlobStore, LocalBlobStore
from crawler.errors import NotFound

HASH = re.compile(r"[0-9a-f]{64}")
Progress = Callable[[int], None]  # called with how many blobs were just handled


def _hashes_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if len(value) == 64 and HASH.fullmatch(value):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _hashes_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _hashes_in(item)


def referenced_hashes(engine: Engine) -> set[str]:
    """Every blob hash the database names, in any table."""
    meta = MetaData()
    meta.reflect(engine)
    found: set[str] = set()
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            columns = [
                c
                for c in table.columns
                if isinstance(c.type, JSON)
                or ("sha" in c.name.lower() and isinstance(c.type, String | Text))
            ]
            if not columns:
                continue
            for row in conn.execution_options(stream_results=True).execute(select(*columns)):
                for value in row:
                    if isinstance(value, str) and not HASH.fullmatch(value):
                        value = _maybe_json(value)
                    found.update(_hashes_in(value))
    return found


def _maybe_json(text: str) -> Any:
    """SQLite may hand a JSON column back as text when reflected without its type."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def rehash(blobs: BlobStore, sha256: str) -> bool:
    """Whether the stored bytes still hash to their name."""
    digest = hashlib.sha256()
    try:
        with blobs.open(sha256) as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except NotFound:
        return False
    return digest.hexdigest() == sha256


@dataclass
class FsckReport:
    checked: int = 0
    corrupt: list[str] = field(default_factory=list)  # bytes no longer match the name
    missing: list[str] = field(default_factory=list)  # named in the database, not stored
    orphaned: list[str] = field(default_factory=list)  # stored, named nowhere

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing)


def stored_hashes(blobs: BlobStore) -> list[str]:
    return sorted(set(blobs.iter_hashes()))


def fsck(
    engine: Engine, blobs: BlobStore, *, stored: Iterable[str], progress: Progress | None = None
) -> FsckReport:
    """Re-hash every stored blob; list corrupt, missing and orphaned ones."""
    wanted = referenced_hashes(engine)
    report = FsckReport()
    on_disk: set[str] = set()
    for sha256 in stored:
        on_disk.add(sha256)
        report.checked += 1
        if not rehash(blobs, sha256):
            report.corrupt.append(sha256)
        if sha256 not in wanted:
            report.orphaned.append(sha256)
        if progress is not None:
            progress(1)
    report.missing = sorted(wanted - on_disk)
    return report


@dataclass
class GcReport:
    freed: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    spared_recent: int = 0  # unreferenced, but younger than the grace period
    temporaries: int = 0  # leftovers of interrupted writes, removed


def gc(
    engine: Engine,
    blobs: BlobStore,
    *,
    stored: Iterable[str],
    grace_seconds: float = 3600.0,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> GcReport:
    """Delete stored blobs that nothing references and that are older than the grace period."""
    wanted = referenced_hashes(engine)
    report = GcReport()
    now = time.time()
    for sha256 in stored:
        if progress is not None:
            progress(1)
        if sha256 in wanted:
            continue
        modified = blobs.modified(sha256)
        if modified is None:
            continue
        if now - modified < grace_seconds:
            report.spared_recent += 1
            continue
        path = blobs.local_path(sha256)
        size = path.stat().st_size if path is not None else 0
        if not dry_run:
            blobs.delete(sha256)
        report.freed.append(sha256)
        report.freed_bytes += size
    if isinstance(blobs, LocalBlobStore):
        for leftover in blobs.stale_temporaries(older_than=grace_seconds):
            report.temporaries += 1
            if not dry_run:
                leftover.unlink(missing_ok=True)
    return report
