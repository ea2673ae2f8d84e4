"""WAL checkpoints of a bulk import, run beside it instead of inside its commits.

SQLite in WAL mode appends each commit to the write-ahead log; once the log holds
more than ``wal_autocheckpoint`` pages (1000 by default) the committing connection
copies it back into the database and syncs both files before its COMMIT returns.
A 10,000-row import batch writes more than that, so every batch's commit waited
on two fsyncs of ~20 MB: about 0.2 s of wall time per batch on this project's
test machine, with the CPU idle, while the storing thread is the import's
slowest stage.

Here the import's own connection stops checkpointing for the duration and a
second connection, in its own thread, runs a PASSIVE checkpoint after each
commit: it copies what is committed while the storing thread builds the next
batch. PASSIVE never blocks the writer or readers and never waits for them; a
checkpoint that could not finish is simply continued by the next one. The log
stays bounded (one checkpoint per batch), and the import ends with one more, so
what it wrote is back in the database file when it returns.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)
DEFAULT_AUTOCHECKPOINT = 1000  # SQLite's own default
_SUSPENDED = "amber_autocheckpoint_suspended"


def restore_on_checkin(dbapi_connection: Any, record: Any) -> None:
    """Pool ``checkin`` hook (crawler.db): a connection an import took checkpoints from
    gets them back before anyone else can check it out."""
    if record.info.pop(_SUSPENDED, False):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {DEFAULT_AUTOCHECKPOINT}")
        finally:
            cursor.close()


class BackgroundCheckpoints:
    """One import's checkpoints: `suspend` before a batch's commit, `after_commit` after it,
    `close` at the end."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._wanted = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="import-checkpoints", daemon=True)
        self._thread.start()

    @classmethod
    def for_bind(cls, bind: Engine | Connection) -> BackgroundCheckpoints | None:
        """One for a file-backed SQLite store (crawler.db puts those in WAL mode); None
        elsewhere (PostgreSQL, an in-memory store)."""
        engine = bind.engine
        database = engine.url.database or ""
        if engine.dialect.name != "sqlite" or database in ("", ":memory:"):
            return None
        return cls(engine)

    @staticmethod
    def suspend(connection: Connection) -> None:
        """No checkpoint in this connection's commits until it returns to the pool (the
        Session hands it back after each commit, and `restore_on_checkin` undoes this)."""
        connection.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
        connection.info[_SUSPENDED] = True

    def after_commit(self) -> None:
        self._wanted.set()

    def close(self) -> None:
        """Checkpoint once more and stop."""
        self._closing = True
        self._wanted.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            with self._engine.connect() as own:
                while True:
                    self._wanted.wait()
                    self._wanted.clear()
                    own.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()
                    if self._closing:
                        return
        except SQLAlchemyError as exc:  # a missed checkpoint loses nothing; the next does it
            log.warning("background WAL checkpoint failed: %s", exc)
