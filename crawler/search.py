"""Full-text search over snapshots: one interface, two engines.

What is searchable lives in ``snapshot_search`` (migration 0004): url, title
and tags are kept in step by triggers; the extracted text is written here by
`index_text` when a capture's ``text`` extractor succeeds. SQLite ranks with
FTS5's bm25, PostgreSQL with ``ts_rank`` over a GIN-indexed ``tsvector``.

Queries are plain words (all must match; the last, from three letters on, also
as a prefix) and
"quoted phrases"; punctuation inside a word ("example.com") makes it a phrase.
User input never reaches the engines' query syntax unescaped, so no query can
fail with a syntax error.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, String, and_, bindparam, func, literal, or_, union_all
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Subquery
from sqlmodel import Session, col, select

from crawler.models import Snapshot

MAX_TEXT_CHARS = 1_000_000
MAX_TERMS = 16
MIN_PREFIX = 3  # shorter prefixes match too much of the vocabulary to rank quickly
MARK_START, MARK_END = "\u27e6", "\u27e7"

_PHRASE_OR_WORD = re.compile(r'"([^"]*)"|(\S+)')
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_ID_LIKE = re.compile(r"^[0-9a-fA-F-]{4,64}$")
_TIMESTAMP_LIKE = re.compile(r"^\d{4,}(\.\d*)?$")


@dataclass(frozen=True, slots=True)
class Term:
    """A word or phrase: its tokens must appear in order; `prefix` lets the last one grow."""

    tokens: tuple[str, ...]
    prefix: bool = False


def parse_query(query: str) -> list[Term]:
    """Split user input into terms; tokens are letters and digits only."""
    terms: list[Term] = []
    for match in _PHRASE_OR_WORD.finditer(query or ""):
        quoted, word = match.group(1), match.group(2)
        tokens = tuple(t.lower() for t in _TOKEN.findall(quoted if quoted is not None else word))
        if tokens:
            terms.append(Term(tokens, prefix=False))
        if len(terms) >= MAX_TERMS:
            break
    if terms and not query.rstrip().endswith('"'):
        last = terms[-1]
        terms[-1] = Term(last.tokens, prefix=len(last.tokens[-1]) >= MIN_PREFIX)
    return terms


def fts5_query(terms: Sequence[Term]) -> str:
    """FTS5 MATCH text: every term a quoted phrase, ANDed; tokens are alphanumeric."""
    parts = []
    for term in terms:
        phrase = '"' + " ".join(term.tokens) + '"'
        parts.append(phrase + ("*" if term.prefix else ""))
    return " AND ".join(parts)


def ts_query(terms: Sequence[Term]) -> str:
    """to_tsquery text: tokens joined with <-> inside a phrase, & between terms."""
    parts = []
    for term in terms:
        tokens = list(term.tokens)
        if term.prefix:
            tokens[-1] += ":*"
        parts.append("(" + " <-> ".join(tokens) + ")")
    return " & ".join(parts)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def ref_hits(query: str) -> Any | None:
    """Snapshots whose id or timestamp starts with the query (ArchiveBox's search does this)."""
    needle = query.strip()
    conds = []
    if _ID_LIKE.match(needle):
        conds.append(
            and_(col(Snapshot.id) >= needle.lower(), col(Snapshot.id) < needle.lower() + "\uffff")
        )
    if _TIMESTAMP_LIKE.match(needle):
        conds.append(
            and_(col(Snapshot.timestamp) >= needle, col(Snapshot.timestamp) < needle + "~")
        )
    if not conds:
        return None
    return select(col(Snapshot.id).label("snapshot_id"), literal(-1e9, Float).label("score")).where(
        or_(*conds)
    )


# SQLite's score of a snapshot_fts match: bm25 with column weights url, title, tags, text.
SQLITE_SCORE = "bm25(snapshot_fts, 4.0, 10.0, 8.0, 1.0)"
# PostgreSQL's match and score over a search row ``ss``; a lower score ranks higher.
PG_MATCH = "ss.document @@ to_tsquery('english'::regconfig, :ts_query)"
PG_SCORE = "-ts_rank(ss.document, to_tsquery('english'::regconfig, :ts_query))"


def _text_hits(session: Session, terms: Sequence[Term]) -> Any:
    """(snapshot_id, score) for every full-text match; a lower score ranks higher."""
    if _dialect(session) == "sqlite":
        statement = sql_text(
            f"SELECT ss.snapshot_id AS snapshot_id, {SQLITE_SCORE} AS score "
            "FROM snapshot_fts JOIN snapshot_search ss ON ss.id = snapshot_fts.rowid "
            "WHERE snapshot_fts MATCH :fts_query"
        ).bindparams(bindparam("fts_query", fts5_query(terms)))
    else:
        statement = sql_text(
            f"SELECT ss.snapshot_id AS snapshot_id, {PG_SCORE} AS score "
            f"FROM snapshot_search ss WHERE {PG_MATCH}"
        ).bindparams(bindparam("ts_query", ts_query(terms)))
    found = statement.columns(snapshot_id=String, score=Float).subquery("text_hits")
    return select(found.c.snapshot_id, found.c.score)


def hits(session: Session, query: str) -> Subquery | None:
    """The ranked matches as a subquery ``(snapshot_id, score)``; None when nothing can match.

    Join it to ``snapshot`` and order by ``score`` (ascending) for relevance order.
    """
    parts = []
    terms = parse_query(query)
    if terms:
        parts.append(_text_hits(session, terms))
    refs = ref_hits(query)
    if refs is not None:
        parts.append(refs)
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0].subquery("search_hits")
    inner = union_all(*parts).subquery("search_parts")
    grouped = select(
        inner.c.snapshot_id.label("snapshot_id"), func.min(inner.c.score).label("score")
    ).group_by(inner.c.snapshot_id)
    return grouped.subquery("search_hits")


def search_condition(session: Session, query: str) -> Any:
    """A WHERE condition for "matches `query`" (unranked); false when nothing can match."""
    found = hits(session, query)
    if found is None:
        return literal(False)
    return col(Snapshot.id).in_(select(found.c.snapshot_id))


def snippets(session: Session, query: str, snapshot_ids: Sequence[str]) -> dict[str, str]:
    """A short excerpt per snapshot with matches between MARK_START and MARK_END."""
    terms = parse_query(query)
    ids = list(snapshot_ids)
    if not terms or not ids:
        return {}
    if _dialect(session) == "sqlite":
        return _sqlite_snippets(session, terms, ids)
    statement = sql_text(
        "SELECT ss.snapshot_id, ts_headline('english'::regconfig, "
        "ss.title || ' · ' || ss.url || ' · ' || ss.tags || ' · ' || left(ss.text, 100000), "
        "to_tsquery('english'::regconfig, :q), :options) "
        "FROM snapshot_search ss WHERE ss.snapshot_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    params = {
        "q": ts_query(terms),
        "options": f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=8, "
        "MaxFragments=1, FragmentDelimiter=…",
    }
    return _run_snippets(session, statement, params, ids)


# SQLite's snippet statements: the matches, and the page's search rowids.
_SQLITE_SNIPPET_MATCHES = (
    "SELECT ss.snapshot_id, snippet(snapshot_fts, -1, :start, :end, '…', 16) "
    "FROM snapshot_fts JOIN snapshot_search ss ON ss.id = snapshot_fts.rowid "
    "WHERE snapshot_fts MATCH :q "
)
_PAGE_ROWIDS = "(SELECT id FROM snapshot_search WHERE snapshot_id IN :ids)"
# The match limited to the page's range of rowids (FTS5 reads only that part of each
# word's list), and each match in it looked up in the page's rowids before anything is
# joined ("+ 0": not handed to FTS5, which would run the match once per rowid, merging
# a prefix's lists each time). A page of "news" (370,528 matches of 1M) took 123 ms of
# snippets when every match in range was joined first.
_SQLITE_PREFIX_SNIPPETS = sql_text(
    _SQLITE_SNIPPET_MATCHES + "AND snapshot_fts.rowid BETWEEN "
    "(SELECT min(id) FROM snapshot_search WHERE snapshot_id IN :ids) AND "
    "(SELECT max(id) FROM snapshot_search WHERE snapshot_id IN :ids) "
    f"AND snapshot_fts.rowid + 0 IN {_PAGE_ROWIDS}"
).bindparams(bindparam("ids", expanding=True))
# Whole words: the match run once per page row (FTS5 seeks each word's list to it), so
# a page spread over the whole table costs no more than one in a narrow range (a rare
# domain's page of "news": ~40 ms walking the range, ~1 ms seeking).
_SQLITE_WORD_SNIPPETS = sql_text(
    _SQLITE_SNIPPET_MATCHES + f"AND snapshot_fts.rowid IN {_PAGE_ROWIDS}"
).bindparams(bindparam("ids", expanding=True))


def _sqlite_snippets(session: Session, terms: Sequence[Term], ids: list[str]) -> dict[str, str]:
    """FTS5's snippets, whole words first: FTS5 merges every list of a prefix's words
    for each statement that matches it (~9 ms for "news*" at 1M, whatever the rowids
    asked for), while a whole word's list is sought to each page row. A row whose
    last word matched only as a prefix ("newsletter" for "news") gets its snippet from
    the prefix query; one that holds the word whole shows that word marked."""
    whole = [Term(term.tokens) for term in terms]
    out = _run_snippets(session, _SQLITE_WORD_SNIPPETS, {"q": fts5_query(whole)}, ids)
    rest = [i for i in ids if i not in out]
    if rest and any(term.prefix for term in terms):
        query = {"q": fts5_query(terms)}
        out |= _run_snippets(session, _SQLITE_PREFIX_SNIPPETS, query, rest)
    return out


def _run_snippets(
    session: Session, statement: Any, params: dict[str, Any], ids: list[str]
) -> dict[str, str]:
    """Run a snippet statement over `ids` (500 at a time): snapshot id -> snippet."""
    out: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            statement,
            {**params, "ids": ids[start : start + 500], "start": MARK_START, "end": MARK_END},
        )
        for snapshot_id, snippet in rows:
            out[snapshot_id] = " ".join((snippet or "").split())
    return out


def snippet_html(snippet: str) -> str:
    """A snippet as HTML: text escaped, matches in ``<mark>``."""
    escaped = html.escape(snippet, quote=False)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def index_text(session: Session, snapshot_id: str, text: str) -> None:
    """Make a capture's extracted text searchable, in the caller's transaction."""
    body = (text or "")[:MAX_TEXT_CHARS]
    result = session.execute(
        sql_text("UPDATE snapshot_search SET text = :text WHERE snapshot_id = :sid"),
        {"text": body, "sid": snapshot_id},
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return
    # No row yet (the trigger's was lost): made from the snapshot, with the tags, list order,
    # workspace, tag ids and status PostgreSQL's search rows carry (0004, 0019, 0022, 0025).
    if _dialect(session) == "postgresql":
        columns = "tags, text, created_at, workspace_id, tag_ids, status"
        values = "amber_snapshot_tags(id), :text, created_at, workspace_id, "
        values += "amber_snapshot_tag_ids(id), status"
    else:
        columns, values = "tags, text", "'', :text"
    session.execute(
        sql_text(
            f"INSERT INTO snapshot_search (snapshot_id, url, title, {columns}) "
            f"SELECT id, url, coalesce(title, ''), {values} FROM snapshot WHERE id = :sid"
        ),
        {"sid": snapshot_id, "text": body},
    )


def indexed_text(session: Session, snapshot_id: str) -> str | None:
    """What the index holds as text for a snapshot (None when it has no row)."""
    row = session.execute(
        sql_text("SELECT text FROM snapshot_search WHERE snapshot_id = :sid"),
        {"sid": snapshot_id},
    ).first()
    return None if row is None else str(row[0])


IndexRow = tuple[str, str, str, str]  # snapshot_id, url, title, tags
# SQLite trigram tables (0016; 0008's single table on a store not yet upgraded) and the
# snapshot_search columns each indexes.
TRIGRAM_TABLES = {
    "snapshot_trgm_url": "url",
    "snapshot_trgm_title": "title",
    "snapshot_trgm": "url, title",
}


@contextmanager
def bulk_indexing(connection: Connection) -> Iterator[Callable[[Sequence[IndexRow]], None]]:
    """For bulk writers: index a batch of new snapshots set-wise instead of row by row.

    On SQLite the per-row triggers cost more than the inserts they follow, even
    when they do nothing, so the search triggers are dropped for the duration
    of the block and recreated from their own stored SQL before it ends. SQLite
    DDL is transactional and has one writer: nobody sees the store without its
    triggers, and a rollback restores them with everything else. The yielded
    function indexes the batch with one statement per index. That includes the
    trigram tables (migrations 0008, 0016) when the store has them: an FTS5 insert from a
    per-row trigger costs about three times the same rows inserted by one
    ``INSERT … SELECT`` (measured: 18,000 against 60,000 rows per CPU-second).
    On PostgreSQL the INSERT triggers step aside while the transaction says
    ``amber.bulk_indexing`` (migration 0023; ``SET LOCAL``, so no other session is
    affected and a rollback ends it), and the function makes the batch's search
    rows with one statement, tags and tag ids included: the triggers wrote each
    row, then rewrote it for every tag link (20,000 one-tag bookmarks: 12.5 s).
    """
    if connection.dialect.name == "postgresql":
        yield from _postgres_bulk_indexing(connection)
        return
    if connection.dialect.name != "sqlite":
        yield lambda _rows: None
        return

    def index(rows: Sequence[IndexRow]) -> None:
        if not rows:
            return
        start = connection.exec_driver_sql(
            "SELECT coalesce(max(id), 0) FROM snapshot_search"
        ).scalar_one()
        connection.exec_driver_sql(
            "INSERT INTO snapshot_search (snapshot_id, url, title, tags) VALUES (?, ?, ?, ?)",
            list(rows),
        )
        connection.exec_driver_sql(
            "INSERT INTO snapshot_fts (rowid, url, title, tags, text) "
            "SELECT id, url, title, tags, text FROM snapshot_search WHERE id > ?",
            (start,),
        )
        for table, columns in trigram_tables:
            connection.exec_driver_sql(
                f"INSERT INTO {table} (rowid, {columns}) "
                f"SELECT id, {columns} FROM snapshot_search WHERE id > ?",
                (start,),
            )

    triggers = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
        "AND (name LIKE 'snapshot_search_%' OR name LIKE 'snapshot_trgm_%') "
        "AND tbl_name IN ('snapshot', 'snapshottag', 'snapshot_search')"
    ).all()
    trigram_tables = []
    if any(name.startswith("snapshot_trgm_") for name, _ in triggers):
        present = {
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'snapshot_trgm%'"
            )
        }
        trigram_tables = [(t, c) for t, c in TRIGRAM_TABLES.items() if t in present]
    for name, _ in triggers:
        connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
    yield index
    for _, sql in triggers:
        connection.exec_driver_sql(sql)


def _postgres_bulk_indexing(
    connection: Connection,
) -> Iterator[Callable[[Sequence[IndexRow]], None]]:
    """PostgreSQL's side of `bulk_indexing`: search rows made set-wise, as the triggers
    of migrations 0019, 0022 and 0025 would have made them."""

    def index(rows: Sequence[IndexRow]) -> None:
        if not rows:
            return
        connection.exec_driver_sql(
            "INSERT INTO snapshot_search "
            "(snapshot_id, url, title, tags, created_at, workspace_id, tag_ids, status) "
            "SELECT s.id, s.url, coalesce(s.title, ''), amber_snapshot_tags(s.id), "
            "s.created_at, s.workspace_id, amber_snapshot_tag_ids(s.id), s.status "
            "FROM snapshot s WHERE s.id = ANY(%s)",
            ([row[0] for row in rows],),
        )

    connection.exec_driver_sql("SELECT set_config('amber.bulk_indexing', 'on', true)")
    yield index
    connection.exec_driver_sql("SELECT set_config('amber.bulk_indexing', 'off', true)")
