"""Store parsed entries in batches: dedup, insert with executemany, commit, then enqueue.

`snapshots.add_urls` builds ORM objects one by one, which is right for a few
URLs and too slow for a 100,000-line export. This writer keeps add_urls'
rules (normalised-URL dedup within the file and against the workspace, a URL
whose snapshot failed queued again rather than counted as a duplicate, unique
timestamps, index-only rows queued with ``retry_at`` NULL, nothing sent before
commit) but inserts each batch with driver-level ``executemany`` (`bulk_sql`).
Memory stays bounded: only a 16-byte digest and a snapshot id are kept per
distinct URL seen.
"""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from crawler import snapshot_states as states
from crawler.auth import Principal
from crawler.importers.base import Parsed, ParseProblem
from crawler.importers.bulk_sql import BulkSql, uuid7_batch
from crawler.importers.prepared import Prepared, prepare

BATCH_SIZE = 10_000
EARLY_BATCH = 1000  # the least an idle storing thread is handed (see `add_prepared_many`)
MAX_PROBLEMS_KEPT = 1000

OnCommit = Callable[[list[str]], None]


@dataclass
class ImportSummary:
    """What an import did; `problems` keeps the first MAX_PROBLEMS_KEPT, `invalid` counts all."""

    imported: int = 0
    queued: int = 0
    duplicates: int = 0
    retried: int = 0  # already archived but failed: queued again (like `add_urls`), not dups
    invalid: int = 0
    problems: list[ParseProblem] = field(default_factory=list)
    snapshot_ids: list[str] = field(default_factory=list)
    queued_ids: list[str] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return self.imported + self.duplicates + self.retried + self.invalid


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
        self._sql = BulkSql(
            session,
            workspace_id=self.workspace,
            user_id=principal.user_id,
            crawl_id=crawl_id,
            depth=depth,
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
        existing = {} if self.update else self._sql.existing([p.key for p in fresh.values()])
        names = [*self.tags, *(t for p in fresh.values() for t in p.tags)]
        names += [t for _, tags in later_tags for t in tags]
        tag_ids = self._sql.tag_ids(names)
        new: list[tuple[str, Prepared, tuple[str, ...]]] = []
        retry: list[str] = []
        ids = uuid7_batch(len(fresh))
        for digest, item in fresh.items():
            if item.key in existing:
                snapshot_id, failed = existing[item.key]
                # Re-importing a URL whose capture failed retries it, as re-adding one does.
                if failed and not self.index_only:
                    retry.append(snapshot_id)
                else:
                    self.summary.duplicates += 1
                later_tags.append((snapshot_id, item.tags))
            else:
                snapshot_id = next(ids)
                new.append((snapshot_id, item, tuple(dict.fromkeys((*self.tags, *item.tags)))))
            seen[digest] = snapshot_id
            if self.keep_ids:
                self.summary.snapshot_ids.append(snapshot_id)
        extra = sorted({(sid, tag_ids[n]) for sid, tags in later_tags for n in (*self.tags, *tags)})
        redeliver_after = None if self.index_only else self.redeliver_after
        self._sql.insert(new, tag_ids, extra, redeliver_after=redeliver_after)
        if retry:
            states.requeue(self.session, retry, redeliver_after=self.redeliver_after)
        queued = [] if self.index_only else [sid for sid, _, _ in new] + retry
        self.summary.imported += len(new)
        self.summary.retried += len(retry)
        self.summary.queued += len(queued)
        if self.commit:
            self.session.commit()
            if queued and self.on_commit is not None:
                self.on_commit(queued)
        else:
            self.session.flush()
            self.summary.queued_ids.extend(queued)


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """Keep the cyclic garbage collector off the objects that existed before the import.

    A batch's entries outlive two collections while they wait in the queue, so full
    collections come often during an import, and each one walked every module, class and
    ORM object of the process as well: 2.5% of a 20,000-bookmark import's storing
    instructions (callgrind), as much as turning the collector off. Collection still runs
    for everything made during the import; the objects are handed back afterwards.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def import_entries(session: Session, items: Iterable[Parsed], **options: Any) -> ImportSummary:
    """Store everything `items` yields; see `BulkWriter` for the options."""
    writer = BulkWriter(session, **options)
    writer.add_all(items)
    return writer.finish()
