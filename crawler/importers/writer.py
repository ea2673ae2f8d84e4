"""Store parsed entries in batches: dedup, insert with executemany, commit, then enqueue.

`snapshots.add_urls` builds ORM objects one by one, which is right for a few
URLs and too slow for a 100,000-line export. This writer keeps add_urls'
rules (normalised-URL dedup within the file and against the workspace, unique
timestamps, index-only rows queued with ``retry_at`` NULL, nothing sent before
commit) but inserts each batch with core ``executemany``. Memory stays bounded:
only a 16-byte digest and a snapshot id are kept per distinct URL seen.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from crawler import search
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.clock import utcnow
from crawler.importers.base import Parsed, ParseProblem
from crawler.importers.prepared import Prepared, prepare
from crawler.models import Snapshot, SnapshotStatus

BATCH_SIZE = 10_000
EARLY_BATCH = 1000  # the least an idle storing thread is handed (see `add_prepared_many`)
LOOKUP_CHUNK = 500
MAX_PROBLEMS_KEPT = 1000
# The snapshot columns that differ from row to row in a batch, in the order `_insert` fills.
ROW_COLUMNS = ("id", "url", "normalized_url", "title", "timestamp", "bookmarked_at")

OnCommit = Callable[[list[str]], None]


@dataclass
class ImportSummary:
    """What an import did; `problems` keeps the first MAX_PROBLEMS_KEPT, `invalid` counts all."""

    imported: int = 0
    queued: int = 0
    duplicates: int = 0
    invalid: int = 0
    problems: list[ParseProblem] = field(default_factory=list)
    snapshot_ids: list[str] = field(default_factory=list)
    queued_ids: list[str] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return self.imported + self.duplicates + self.invalid


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _uuid7_batch(count: int) -> Iterator[str]:
    """`crawler.clock.uuid7` values (same layout and 74 random bits) built as text from one
    urandom call per batch, in ascending order: rows then reach the primary-key and link
    indexes in key order, so SQLite appends to them instead of splitting pages all over."""
    ms = f"{(time.time_ns() // 1_000_000) & ((1 << 48) - 1):012x}"
    head = f"{ms[:8]}-{ms[8:]}-7"
    noise = os.urandom(10 * count).hex()
    chunks = (noise[20 * n : 20 * n + 20] for n in range(count))
    return iter(sorted(f"{head}{r[:3]}-{_VARIANT[r[3]]}{r[4:7]}-{r[7:19]}" for r in chunks))


def _row_template() -> dict[str, Any]:
    """Every snapshot column with its model default, so columns added later still get one."""
    sample = Snapshot(
        workspace_id="", created_by_id="", url="", normalized_url="", timestamp=""
    ).model_dump()
    return {c.name: sample.get(c.name) for c in Snapshot.__table__.columns}  # type: ignore[attr-defined]


class BulkWriter:
    """Feed it parsed items with `add`; call `finish` once for the summary."""

    def __init__(
        self,
        session: Session,
        *,
        principal: Principal,
        tags: Sequence[str] = (),
        index_only: bool = False,
        update: bool = False,
        depth: int = 0,
        crawl_id: str | None = None,
        redeliver_after: float = 300.0,
        workspace_id: str | None = None,
        batch_size: int = BATCH_SIZE,
        commit: bool = True,
        on_commit: OnCommit | None = None,
        keep_ids: bool = False,
    ) -> None:
        self.session = session
        self.principal = principal
        self.workspace = workspace_id or principal.default_workspace_id
        self.tags = tuple(tags)
        self.index_only = index_only
        self.update = update
        self.depth = depth
        self.crawl_id = crawl_id
        self.redeliver_after = redeliver_after
        self.batch_size = max(1, batch_size)
        self.commit = commit
        self.on_commit = on_commit
        self.keep_ids = keep_ids
        self.summary = ImportSummary()
        self._batch: list[Prepared] = []
        self._queue: queue.Queue[list[Prepared] | None] = queue.Queue(maxsize=2)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._idle = threading.Event()  # set while the storing thread has nothing to do
        self._idle.set()
        self._seen: dict[bytes, str] = {}
        self._tag_ids: dict[str, str] = {}
        self._template = _row_template()
        dialect = session.get_bind().dialect
        self._dialect = dialect.name
        table = Snapshot.__table__  # type: ignore[attr-defined]
        self._columns = [
            *ROW_COLUMNS,
            *(c.name for c in table.columns if c.name not in ROW_COLUMNS),
        ]
        # The dialect's own conversions (e.g. SQLite's DATETIME text format), so bulk rows
        # are stored exactly as ORM-written ones.
        processors = {
            c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns
        }
        self._processors = {name: proc for name, proc in processors.items() if proc is not None}
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._mark = mark
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in self._columns)
        marks = ", ".join(mark for _ in self._columns)
        self._snapshot_sql = f"INSERT INTO snapshot ({names}) VALUES ({marks})"
        self._link_sql = f"INSERT INTO snapshottag (snapshot_id, tag_id) VALUES ({mark}, {mark})"
        conflict = "OR IGNORE " if self._dialect == "sqlite" else ""
        tail = "" if self._dialect == "sqlite" else " ON CONFLICT DO NOTHING"
        self._link_ignore_sql = (
            f"INSERT {conflict}INTO snapshottag (snapshot_id, tag_id) VALUES ({mark}, {mark}){tail}"
        )

    def problem(self, problem: ParseProblem) -> None:
        self.summary.invalid += 1
        if len(self.summary.problems) < MAX_PROBLEMS_KEPT:
            self.summary.problems.append(problem)

    def add(self, item: Parsed) -> None:
        prepared = prepare(item)
        if isinstance(prepared, ParseProblem):
            self.problem(prepared)
        else:
            self.add_prepared(prepared)

    def add_prepared(self, item: Prepared) -> None:
        """An entry already validated and keyed (see `prepare`), e.g. by a parsing process."""
        self._batch.append(item)
        if len(self._batch) >= self.batch_size:
            self._hand_off()

    def add_prepared_many(self, items: Sequence[Prepared]) -> None:
        """`add_prepared` for each of `items`; also hands an idle storing thread a batch
        short of `batch_size`. At the start storing need not wait for a full batch while
        the parsing process warms up; once storing is the slower side, batches fill up."""
        start = 0
        while start < len(items):
            room = self.batch_size - len(self._batch)
            self._batch.extend(items[start : start + room])
            start += room
            if len(self._batch) >= self.batch_size:
                self._hand_off()
        if self.commit and self._idle.is_set() and len(self._batch) >= EARLY_BATCH:
            self._hand_off()

    def add_all(
        self, items: Iterable[Parsed], *, progress: Callable[[], None] | None = None
    ) -> None:
        try:
            for count, item in enumerate(items, start=1):
                self.add(item)
                if progress is not None and count % 1000 == 0:
                    progress()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop the storing thread after the batch it is on (committed batches stay)."""
        self._stop_thread()

    def finish(self) -> ImportSummary:
        self._hand_off()
        self._stop_thread()
        if self._error is not None:
            raise self._error
        return self.summary

    def flush(self) -> None:
        """Write what is buffered now, in this thread."""
        batch, self._batch = self._batch, []
        self._write(batch)

    def _hand_off(self) -> None:
        """Committing writers store batches in a second thread while this one parses:
        sqlite3 and psycopg release the GIL while the database works, so parsing the
        next batch overlaps writing this one. The queue holds two batches at most."""
        batch, self._batch = self._batch, []
        if not batch:
            return
        if not self.commit:
            self._write(batch)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="import-writer", daemon=True)
            self._thread.start()
        self._idle.clear()
        while True:
            if self._error is not None:
                raise self._error
            try:
                self._queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def _drain(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                self._write(batch)
            except BaseException as exc:  # handed to the parsing thread, which re-raises it
                self._error = exc
                self.session.rollback()
            if self._queue.empty():
                self._idle.set()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _in_list(self, count: int) -> str:
        return ", ".join([self._mark] * count)

    def _existing(self, keys: Sequence[str]) -> dict[str, str]:
        """Normalised URL -> newest snapshot id in this workspace.

        Filters the workspace in Python: given ``workspace_id = ? AND normalized_url IN
        (...)`` SQLite may walk the workspace index instead of probing the URL index.
        Plain driver SQL: building a 500-item IN through the ORM costs more than the probe.
        """
        found: dict[str, tuple[str, str]] = {}
        conn = self.session.connection()
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = list(keys[start : start + LOOKUP_CHUNK])
            rows = conn.exec_driver_sql(
                "SELECT normalized_url, id, workspace_id, created_at FROM snapshot "
                f"WHERE normalized_url IN ({self._in_list(len(chunk))})",
                tuple(chunk),
            )
            for key, snapshot_id, workspace_id, created_at in rows:
                stamp = str(created_at)
                if workspace_id == self.workspace and (key not in found or stamp > found[key][0]):
                    found[key] = (stamp, snapshot_id)
        return {key: snapshot_id for key, (_, snapshot_id) in found.items()}

    def _tag_id_map(self, names: Iterable[str]) -> dict[str, str]:
        """Tag name -> id in this workspace, creating the missing ones (a race loses nothing:
        a name someone else just created is ignored on insert and read back)."""
        missing = [n for n in dict.fromkeys(names) if n not in self._tag_ids]
        if not missing:
            return self._tag_ids
        conn = self.session.connection()
        mark = self._mark
        now = self._bind("created_at", utcnow())
        if self._dialect == "sqlite":
            insert_sql = (
                "INSERT OR IGNORE INTO tag (id, workspace_id, created_by_id, created_at, "
                f"modified_at, name) VALUES ({', '.join([mark] * 6)})"
            )
        else:
            insert_sql = (
                "INSERT INTO tag (id, workspace_id, created_by_id, created_at, modified_at, "
                f"name) VALUES ({', '.join([mark] * 6)}) ON CONFLICT DO NOTHING"
            )
        ids = _uuid7_batch(len(missing))
        conn.exec_driver_sql(
            insert_sql,
            [(next(ids), self.workspace, self.principal.user_id, now, now, n) for n in missing],
        )
        for start in range(0, len(missing), LOOKUP_CHUNK):
            chunk = missing[start : start + LOOKUP_CHUNK]
            rows = conn.exec_driver_sql(
                f"SELECT name, id FROM tag WHERE workspace_id = {mark} "
                f"AND name IN ({self._in_list(len(chunk))})",
                (self.workspace, *chunk),
            )
            self._tag_ids.update(dict(rows.all()))
        return self._tag_ids

    def _write(self, batch: list[Prepared]) -> None:
        """Write one batch, commit (unless told not to), then enqueue what it queued."""
        if not batch:
            return
        seen = self._seen
        fresh: dict[bytes, Prepared] = {}
        merged: dict[bytes, tuple[str, ...]] = {}  # a repeat's tags go to the first occurrence
        later_tags: list[tuple[str, tuple[str, ...]]] = []
        for item in batch:
            digest = item.digest
            if digest in seen:
                later_tags.append((seen[digest], item.tags))
            elif digest in fresh:
                tags = merged.get(digest, fresh[digest].tags)
                merged[digest] = tuple(dict.fromkeys(tags + item.tags))
            else:
                fresh[digest] = item
        self.summary.duplicates += len(batch) - len(fresh)
        for digest, tags in merged.items():
            fresh[digest] = fresh[digest]._replace(tags=tags)
        existing = {} if self.update else self._existing([p.key for p in fresh.values()])
        names = [*self.tags, *(t for p in fresh.values() for t in p.tags)]
        names += [t for _, tags in later_tags for t in tags]
        tag_ids = self._tag_id_map(names)
        new: list[tuple[str, Prepared, tuple[str, ...]]] = []
        ids = _uuid7_batch(len(fresh))
        for digest, item in fresh.items():
            if item.key in existing:
                snapshot_id = existing[item.key]
                self.summary.duplicates += 1
                later_tags.append((snapshot_id, item.tags))
            else:
                snapshot_id = next(ids)
                new.append((snapshot_id, item, tuple(dict.fromkeys((*self.tags, *item.tags)))))
            seen[digest] = snapshot_id
            if self.keep_ids:
                self.summary.snapshot_ids.append(snapshot_id)
        extra = sorted({(sid, tag_ids[n]) for sid, tags in later_tags for n in (*self.tags, *tags)})
        self._insert(new, tag_ids, extra)
        queued = [] if self.index_only else [sid for sid, _, _ in new]
        self.summary.imported += len(new)
        self.summary.queued += len(queued)
        if self.commit:
            self.session.commit()
            if queued and self.on_commit is not None:
                self.on_commit(queued)
        else:
            self.session.flush()
            self.summary.queued_ids.extend(queued)

    def _insert(
        self,
        new: list[tuple[str, Prepared, tuple[str, ...]]],
        tag_ids: dict[str, str],
        extra: list[tuple[str, str]],
    ) -> None:
        """Driver-level executemany: SQLAlchemy's per-value bind processing would cost more
        than the inserts. Values that are the same for the whole batch are converted once
        into a tail shared by every row (the statement lists the per-row columns first)."""
        conn = self.session.connection()
        now = utcnow()
        retry_at = None if self.index_only else now + timedelta(seconds=self.redeliver_after)
        fixed = {
            **self._template,
            "workspace_id": self.workspace,
            "created_by_id": self.principal.user_id,
            "crawl_id": self.crawl_id,
            "created_at": now,
            "modified_at": now,
            "retry_at": retry_at,
            "status": SnapshotStatus.queued.value,
            "depth": self.depth,
        }
        tail = tuple(self._bind(name, fixed[name]) for name in self._columns[len(ROW_COLUMNS) :])
        now_bound = self._bind("created_at", now)
        bind_date = self._processors.get("bookmarked_at") or (lambda value: value)
        stamps = snaps.timestamps.take(len(new))
        rows = [
            (
                snapshot_id,
                item.url,
                item.key,
                item.title,
                stamp,
                bind_date(item.bookmarked_at) if item.bookmarked_at else now_bound,
            )
            + tail
            for (snapshot_id, item, _), stamp in zip(new, stamps, strict=True)
        ]
        links = sorted((sid, tag_ids[name]) for sid, _, names in new for name in names)
        index_rows = [
            (sid, item.url, item.title or "", " ".join(names)) for sid, item, names in new
        ]
        with search.bulk_indexing(conn) as index:
            if self._dialect == "sqlite":
                # FK checks wait for commit, so links may precede their snapshots.
                conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            if rows:
                conn.exec_driver_sql(self._snapshot_sql, rows)
            if links:
                conn.exec_driver_sql(self._link_sql, links)
            index(index_rows)
        if extra:
            conn.exec_driver_sql(self._link_ignore_sql, extra)

    def _bind(self, name: str, value: Any) -> Any:
        processor = self._processors.get(name)
        return processor(value) if processor is not None and value is not None else value


def import_entries(session: Session, items: Iterable[Parsed], **options: Any) -> ImportSummary:
    """Store everything `items` yields; see `BulkWriter` for the options."""
    writer = BulkWriter(session, **options)
    writer.add_all(items)
    return writer.finish()
