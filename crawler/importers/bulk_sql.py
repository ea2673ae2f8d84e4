"""The SQL of a bulk import: driver-level statements for snapshots, their tags and links.

SQLAlchemy's per-value bind processing would cost more than the inserts, so
statements are built once per writer in the dialect's paramstyle and each
column's bind processor is applied by hand (values are stored exactly as
ORM-written ones).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from crawler import search
from crawler import snapshots as snaps
from crawler.clock import utcnow
from crawler.importers.prepared import Prepared
from crawler.models import Snapshot, SnapshotStatus

LOOKUP_CHUNK = 500
# The snapshot columns that differ from row to row in a batch, in the order `insert` fills.
ROW_COLUMNS = ("id", "url", "normalized_url", "title", "timestamp", "bookmarked_at")

_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def uuid7_batch(count: int) -> Iterator[str]:
    """`crawler.clock.uuid7` values (same layout and 74 random bits) built as text from one
    urandom call per batch, in ascending order: rows then reach the primary-key and link
    indexes in key order, so SQLite appends to them instead of splitting pages all over."""
    ms = f"{(time.time_ns() // 1_000_000) & ((1 << 48) - 1):012x}"
    head = f"{ms[:8]}-{ms[8:]}-7"
    noise = os.urandom(10 * count).hex()
    chunks = (noise[20 * n : 20 * n + 20] for n in range(count))
    return iter(sorted(f"{head}{r[:3]}-{_VARIANT[r[3]]}{r[4:7]}-{r[7:19]}" for r in chunks))


def _sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text (its default storage format, the zone dropped, not
    converted), from C: its own processor cost ~2 µs per row, a tenth of a second per
    100,000 bookmarks on the import's busiest thread."""
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _row_template() -> dict[str, Any]:
    """Every snapshot column with its model default, so columns added later still get one."""
    sample = Snapshot(
        workspace_id="", created_by_id="", url="", normalized_url="", timestamp=""
    ).model_dump()
    return {c.name: sample.get(c.name) for c in Snapshot.__table__.columns}  # type: ignore[attr-defined]


class BulkSql:
    """One writer's statements against `session`'s connection, for one workspace and user."""

    def __init__(
        self,
        session: Session,
        *,
        workspace_id: str,
        user_id: str,
        crawl_id: str | None,
        depth: int,
    ) -> None:
        self.session = session
        self.workspace = workspace_id
        self.user_id = user_id
        self.crawl_id = crawl_id
        self.depth = depth
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
        self._bind_date: Callable[[datetime], Any] = (
            _sqlite_datetime
            if self._dialect == "sqlite"
            else self._processors.get("bookmarked_at") or (lambda value: value)
        )
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._mark = mark
        self._quote = dialect.identifier_preparer.quote
        self._snapshot_sql: dict[tuple[str, ...], str] = {}
        self._link_sql = f"INSERT INTO snapshottag (snapshot_id, tag_id) VALUES ({mark}, {mark})"
        conflict = "OR IGNORE " if self._dialect == "sqlite" else ""
        tail = "" if self._dialect == "sqlite" else " ON CONFLICT DO NOTHING"
        self._link_ignore_sql = (
            f"INSERT {conflict}INTO snapshottag (snapshot_id, tag_id) VALUES ({mark}, {mark}){tail}"
        )

    def _in_list(self, count: int) -> str:
        return ", ".join([self._mark] * count)

    def existing(self, keys: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """Normalised URL -> (newest snapshot id in this workspace, whether it ended failed).

        Filters the workspace in Python: given ``workspace_id = ? AND normalized_url IN
        (...)`` SQLite may walk the workspace index instead of probing the URL index.
        Plain driver SQL: building a 500-item IN through the ORM costs more than the probe.
        The status comes with the same probe: a failed one is retried, not a duplicate.
        """
        found: dict[str, tuple[str, str, bool]] = {}
        conn = self.session.connection()
        failed = SnapshotStatus.failed.value
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = list(keys[start : start + LOOKUP_CHUNK])
            rows = conn.exec_driver_sql(
                "SELECT normalized_url, id, workspace_id, created_at, status FROM snapshot "
                f"WHERE normalized_url IN ({self._in_list(len(chunk))})",
                tuple(chunk),
            )
            for key, snapshot_id, workspace_id, created_at, status in rows:
                stamp = str(created_at)
                if workspace_id == self.workspace and (key not in found or stamp > found[key][0]):
                    found[key] = (stamp, snapshot_id, status == failed)
        return {key: (snapshot_id, bad) for key, (_, snapshot_id, bad) in found.items()}

    def tag_ids(self, names: Iterable[str]) -> dict[str, str]:
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
        ids = uuid7_batch(len(missing))
        conn.exec_driver_sql(
            insert_sql,
            [(next(ids), self.workspace, self.user_id, now, now, n) for n in missing],
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

    def insert(
        self,
        new: list[tuple[str, Prepared, tuple[str, ...]]],
        tag_ids: dict[str, str],
        extra: list[tuple[str, str]],
        *,
        redeliver_after: float | None,
    ) -> None:
        """Insert `new` snapshots with their tag links, and `extra` links (ignoring repeats).

        Values that are the same for the whole batch are converted once into a tail
        shared by every row (the statement lists the per-row columns first). Without
        `redeliver_after` the rows are index-only (``retry_at`` NULL).
        """
        conn = self.session.connection()
        now = utcnow()
        retry_at = None if redeliver_after is None else now + timedelta(seconds=redeliver_after)
        fixed = {
            **self._template,
            "workspace_id": self.workspace,
            "created_by_id": self.user_id,
            "crawl_id": self.crawl_id,
            "created_at": now,
            "modified_at": now,
            "retry_at": retry_at,
            "status": SnapshotStatus.queued.value,
            "depth": self.depth,
        }
        # Columns NULL for the whole batch are left out: the table's default is NULL (no
        # server defaults), and sqlite3 adapts each None through two failed attribute
        # lookups (a 20,000-bookmark import's storing process: 11.1 -> 10.3 G instructions).
        shared = tuple(n for n in self._columns[len(ROW_COLUMNS) :] if fixed[n] is not None)
        tail = tuple(self._bind(name, fixed[name]) for name in shared)
        now_bound = self._bind("created_at", now)
        bind_date = self._bind_date
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
                conn.exec_driver_sql(self._insert_sql(shared), rows)
            if links:
                conn.exec_driver_sql(self._link_sql, links)
            index(index_rows)
        if extra:
            conn.exec_driver_sql(self._link_ignore_sql, extra)

    def _insert_sql(self, shared: tuple[str, ...]) -> str:
        """The snapshot INSERT for the per-row columns followed by `shared` ones."""
        sql = self._snapshot_sql.get(shared)
        if sql is None:
            columns = (*ROW_COLUMNS, *shared)
            names = ", ".join(self._quote(name) for name in columns)
            marks = ", ".join(self._mark for _ in columns)
            sql = self._snapshot_sql[shared] = f"INSERT INTO snapshot ({names}) VALUES ({marks})"
        return sql

    def _bind(self, name: str, value: Any) -> Any:
        processor = self._processors.get(name)
        return processor(value) if processor is not None and value is not None else value
