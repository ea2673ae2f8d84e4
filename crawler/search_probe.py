"""Which of a few search rows match a query, without asking the store's FTS5 index.

FTS5 answers a prefix term ("news*") by first merging the lists of every word with
that prefix, whatever rowids the statement asks for: ~16-28 ms for "news*" at 1M
snapshots, for 45 rows of a rare domain as for all 370,528 matches. Indexing just
the rows asked about in an in-memory FTS5 table of the same columns and tokenizer
answers the same query for them in ~0.5 ms (50 rows) to ~16 ms (2,000), so it is
used when the rows are few next to the word's matches (crawler.search_sqlite).
The answer is FTS5's own, from the same tokenizer: not an imitation of it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence

from sqlalchemy import text as sql_text
from sqlmodel import Session

# As snapshot_fts was made (migration 0004; tests check the store still says so).
FTS_COLUMNS = ("url", "title", "tags", "text")
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"

_local = threading.local()


def _probe_table() -> sqlite3.Connection:
    """This thread's in-memory database with an empty contentless FTS5 table ``probe``
    (a thread's own: a request's rows never meet another's)."""
    connection: sqlite3.Connection | None = getattr(_local, "connection", None)
    if connection is None:
        connection = sqlite3.connect(":memory:", isolation_level=None)
        columns = ", ".join(FTS_COLUMNS)
        connection.execute(
            f"CREATE VIRTUAL TABLE probe USING fts5({columns}, content='', "
            f"tokenize='{FTS_TOKENIZE}')"
        )
        _local.connection = connection
    return connection


# The characters a search row holds: what indexing it reads.
_CHARACTERS = " + ".join(f"length({column})" for column in FTS_COLUMNS)


def text_size(session: Session, rowids: Sequence[int]) -> int:
    """The characters the search rows with these rowids hold."""
    sized = session.execute(
        sql_text(
            f"SELECT total({_CHARACTERS}) "
            "FROM snapshot_search WHERE id IN (SELECT value FROM json_each(:rowids))"
        ),
        {"rowids": json.dumps(list(rowids))},
    ).scalar_one()
    return int(sized or 0)


def newest_row_size(session: Session) -> float:
    """The characters in each of the newest search rows, on average (of up to 100)."""
    size = session.execute(
        sql_text(
            f"SELECT avg({_CHARACTERS}) FROM (SELECT {', '.join(FTS_COLUMNS)} "
            "FROM snapshot_search ORDER BY id DESC LIMIT 100)"
        )
    ).scalar()
    return float(size or 0)


def probe_rowids(session: Session, fts_query: str, rowids: Sequence[int]) -> list[int]:
    """Which of these search rowids match `fts_query` (FTS5 MATCH text), from their rows
    indexed alone."""
    rows = session.execute(
        sql_text(
            f"SELECT id, {', '.join(FTS_COLUMNS)} FROM snapshot_search "
            "WHERE id IN (SELECT value FROM json_each(:rowids))"
        ),
        {"rowids": json.dumps(list(rowids))},
    ).all()
    if not rows:
        return []
    connection = _probe_table()
    marks = ", ".join("?" for _ in range(len(FTS_COLUMNS) + 1))
    connection.execute("BEGIN")
    try:
        connection.execute("INSERT INTO probe(probe) VALUES ('delete-all')")
        connection.executemany(
            f"INSERT INTO probe(rowid, {', '.join(FTS_COLUMNS)}) VALUES ({marks})",
            [tuple(row) for row in rows],
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    found = connection.execute("SELECT rowid FROM probe WHERE probe MATCH ?", (fts_query,))
    return [int(rowid) for (rowid,) in found]
