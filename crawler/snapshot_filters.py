"""Substring filters on snapshot url/title that use an index built for them.

ArchiveBox's ``title``/``url`` contains filters (``icontains``) match in any
case anywhere in the text. A plain ``LIKE '%term%'`` reads every row, so each
term here becomes two conditions:

* a *candidate* test answered by a trigram index (migrations 0008, 0016): the
  FTS5 ``snapshot_trgm_url`` / ``snapshot_trgm_title`` tables on SQLite,
  ``pg_trgm`` GIN indexes on PostgreSQL.
  It may let through rows that do not match (trigrams in another order), never
  the reverse;
* the *exact* test, the same case-insensitive contains as before, applied to
  the candidates only.

A term shorter than three characters has no trigram, so it gets the exact test
alone; `crawler.snapshot_query` then walks the list order with a LIMIT, which is
quick because short terms match often.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy import column as column_
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlmodel import col

from crawler.errors import InvalidInput
from crawler.models import Snapshot
from crawler.urls import host_key

# A normalized url's host without its port, exactly as migration 0016 indexes it on
# PostgreSQL (constants, not bound values: the planner matches the expression as written).
PG_HOST = "split_part(split_part(snapshot.normalized_url, '/', 3), ':', 1)"
# The same host on SQLite (no split_part), exactly as migration 0018 indexes it.
_REST = "substr(snapshot.normalized_url, instr(snapshot.normalized_url, '://') + 3)"
_HOST_PORT = f"substr({_REST}, 1, instr({_REST} || '/', '/') - 1)"
SQLITE_HOST = f"substr({_HOST_PORT}, 1, instr({_HOST_PORT} || ':', ':') - 1)"
MIN_TRIGRAM = 3
MAX_TRIGRAMS = 16  # more only narrows candidates the exact test removes anyway
SUBSTRING_COLUMNS = ("url", "title")
_RUN = re.compile(r"[^\W_]+")  # letters and digits: what pg_trgm takes as a word


def trigrams(term: str) -> list[str]:
    """Distinct 3-character slices of the lowered term, spread over its length."""
    lowered = term.lower()
    grams = list(dict.fromkeys(lowered[i : i + 3] for i in range(len(lowered) - 2)))
    if len(grams) > MAX_TRIGRAMS:
        step = len(grams) / MAX_TRIGRAMS
        grams = [grams[int(i * step)] for i in range(MAX_TRIGRAMS - 1)] + [grams[-1]]
    return grams


def fts5_trigram_query(term: str) -> str:
    """``("abc" AND "bcd" …)`` with quotes doubled, for a snapshot_trgm_<column> MATCH."""
    quoted = " AND ".join('"' + gram.replace('"', '""') + '"' for gram in trigrams(term))
    return f"({quoted})"


def trigram_table(column: str) -> str:
    """The SQLite trigram table of one snapshot column (migration 0016)."""
    assert column in SUBSTRING_COLUMNS
    return f"snapshot_trgm_{column}"


@dataclass(frozen=True, slots=True)
class Narrowing:
    """One substring-like filter: the test that decides, and an indexed superset of it.

    `exact` takes the snapshot entity (``Snapshot`` or an alias of a subquery of it);
    `candidate` is None when no index can help (a term shorter than a trigram).
    """

    exact: Callable[[Any], Any]
    candidate: Any | None
    probe: Callable[[int], Any] | None = None  # SELECT of up to n candidate keys, for sizing
    # The candidate test when an index serves it in list order and it decides alone (the
    # host of an http(s) url, which is every stored url): a page then reads that index.
    walk: Any | None = None
    # `exact` as written beside `candidate` (see confirm_contains); None: `exact` itself.
    beside_candidate: Callable[[Any], Any] | None = None
    # Given tag ids: the candidate test on the search rows (SEARCH_ROWS) for the rows that
    # carry one of them, from one index that holds both (PostgreSQL's title, migration
    # 0022); None where there is none.
    tagged: Callable[[Sequence[str]], Any] | None = None
    # SQLite: the candidates as a SELECT of their search rows' ids (the trigram tables'
    # rowids), for a statement that joins the search rows anyway: it then reads each
    # candidate's search row by rowid, not its snapshot id first (2,000 candidates of a
    # title word at 1M listed in 15.6 ms instead of 23.3).
    search_rowids: Any | None = None

    def confirm(self, entity: Any) -> Any:
        """The deciding test for rows that passed `candidate`."""
        return (self.beside_candidate or self.exact)(entity)


def _like_pattern(term: str) -> str:
    """``%term%`` with LIKE's special characters taken literally (escape character ``/``)."""
    escaped = term.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


def exact_contains(column: Any, term: str, dialect: str) -> Any:
    """The reference semantics: case-insensitive contains, with % and _ taken literally."""
    if dialect == "postgresql":
        # ILIKE folds case as lower() does; the planner has the column's statistics for it.
        return column.icontains(term, autoescape=True)
    return func.lower(column).contains(term.lower(), autoescape=True)


def confirm_contains(column: Any, term: str, dialect: str) -> Any:
    """`exact_contains` for rows the candidate test found, in a form no index serves.

    On PostgreSQL both sides are lowered by the server (as its ILIKE does): given the
    whole term's ILIKE beside the candidates', the planner put both into one GIN scan,
    which then read the whole term's common trigrams after all. Only beside candidates:
    the planner has no statistics for this form (it took a 10% term for 0.01%).
    """
    if dialect == "postgresql":
        return func.lower(column).like(func.lower(_like_pattern(term)), escape="/")
    return exact_contains(column, term, dialect)


def pg_candidates(column: Any, term: str) -> Any:
    """The pg_trgm GIN test for `term`: ILIKE on each of its runs of three or more letters
    and digits, or on the whole term when it has none.

    pg_trgm splits a pattern into words at punctuation and pads short whole words:
    ``/p/123`` asks for ``"  p"``, a trigram of nearly every URL, whose posting list the
    index then reads in full (~200 ms at 10M snapshots). Each run is a substring of the
    term, so its candidates still hold every match.
    """
    runs = [run for run in _RUN.findall(term) if len(run) >= MIN_TRIGRAM]
    if not runs or (len(runs) == 1 and runs[0] == term):
        return column.icontains(term, autoescape=True)
    return and_(*(column.icontains(run, autoescape=True) for run in runs))


def _sqlite_candidates(column: str, term: str, name: str) -> Any:
    found = (
        sql_text(
            "SELECT ss.snapshot_id FROM snapshot_search ss WHERE ss.id IN "
            f"({_sqlite_rowid_sql(column, name)})"
        )
        .bindparams(bindparam(name, fts5_trigram_query(term)))
        .columns(column_("snapshot_id", String))
    )
    return col(Snapshot.id).in_(found)


def _sqlite_rowid_sql(column: str, name: str) -> str:
    table = trigram_table(column)
    return f"SELECT rowid FROM {table} WHERE {table} MATCH :{name}"


def _search_rowids(column: str, term: str, dialect: str, name: str) -> Any | None:
    """SQLite's candidates as search rowids (Narrowing.search_rowids)."""
    if dialect != "sqlite" or len(term) < MIN_TRIGRAM:
        return None
    return (
        sql_text(_sqlite_rowid_sql(column, f"{name}_rowids"))
        .bindparams(bindparam(f"{name}_rowids", fts5_trigram_query(term)))
        .columns(column_("rowid", Integer))
    )


def _candidates(column: str, term: str, dialect: str, name: str) -> Any | None:
    if len(term) < MIN_TRIGRAM:
        return None
    if dialect == "sqlite":
        return _sqlite_candidates(column, term, name)
    return pg_candidates(getattr(Snapshot, column), term)


def _probe(column: str, term: str, dialect: str, name: str) -> Callable[[int], Any] | None:
    if len(term) < MIN_TRIGRAM:
        return None

    def upto(n: int) -> Any:
        if dialect == "sqlite":
            table = trigram_table(column)
            return (
                sql_text(
                    f"SELECT rowid FROM {table} WHERE {table} MATCH :{name}_probe LIMIT {int(n)}"
                )
                .bindparams(bindparam(f"{name}_probe", fts5_trigram_query(term)))
                .columns(column_("rowid", String))
            )
        return (
            select(col(Snapshot.id)).where(pg_candidates(getattr(Snapshot, column), term)).limit(n)
        )

    return upto


# PostgreSQL's search rows (migrations 0004, 0019, 0022): one per snapshot, with its
# title, list order, workspace and tag ids, kept in step by triggers.
SEARCH_ROWS = table(
    "snapshot_search",
    column_("snapshot_id", String),
    column_("title", String),
    column_("created_at", DateTime(timezone=True)),
    column_("workspace_id", String),
    column_("tag_ids", ARRAY(String(64))),
)


def _tagged_title(term: str) -> Callable[[Sequence[str]], Any]:
    """Candidates for a title `term` that carry one of some tag ids: the search rows'
    GIN index holds each title's trigrams beside its tag ids (0022), so one index scan
    intersects both and only rows holding the word and the tag are read."""

    def test(tag_ids: Sequence[str]) -> Any:
        wanted = cast(array(list(tag_ids)), ARRAY(String(64)))
        rows = SEARCH_ROWS.c
        return and_(pg_candidates(rows.title, term), rows.tag_ids.overlap(wanted))

    return test


def contains(column: str, term: str, dialect: str, *, name: str = "trgm") -> Narrowing:
    """Snapshot `column` (url or title) contains `term`, case-insensitively."""
    assert column in SUBSTRING_COLUMNS
    indexed = dialect == "postgresql" and column == "title" and len(term) >= MIN_TRIGRAM
    return Narrowing(
        exact=lambda entity: exact_contains(getattr(entity, column), term, dialect),
        candidate=_candidates(column, term, dialect, name),
        probe=_probe(column, term, dialect, name),
        beside_candidate=lambda entity: confirm_contains(getattr(entity, column), term, dialect),
        tagged=_tagged_title(term) if indexed else None,
        search_rowids=_search_rowids(column, term, dialect, name),
    )


def domain(host: str, dialect: str) -> Narrowing:
    """The snapshot's host is exactly `host` (any scheme, any port; not its subdomains).

    Decided on ``normalized_url`` (host lower-cased, IDNA). Candidates: the snapshots
    whose normalized host (port cut off) is `host`, from the index of migration 0016
    (PostgreSQL) or 0018 (SQLite), in list order. A key with a port in it falls back to
    the url trigram index.
    """
    key = host_key(host.strip().lower())
    if not key or any(c in key for c in "/?#@ "):
        raise InvalidInput(f"{host!r} is not a host name")
    prefixes = [f"{scheme}://{key}{end}" for scheme in ("http", "https") for end in ("/", ":")]

    def exact(entity: Any) -> Any:
        column = entity.normalized_url
        return or_(*(column.startswith(prefix, autoescape=True) for prefix in prefixes))

    if ":" not in key:
        # Migrations 0016 (PostgreSQL) and 0018 (SQLite) index this expression with the
        # list order: candidates in order.
        hosted = literal_column(PG_HOST if dialect == "postgresql" else SQLITE_HOST) == key
        return Narrowing(
            exact,
            hosted,
            lambda n: select(col(Snapshot.id)).where(hosted).limit(n),
            walk=hosted,
        )
    plain = key.isascii() and "xn--" not in key  # a raw url may spell an IDN host in Unicode
    if not plain:
        return Narrowing(exact, None)
    return Narrowing(
        exact,
        _candidates("url", key, dialect, "trgm_domain"),
        _probe("url", key, dialect, "trgm_domain"),
        search_rowids=_search_rowids("url", key, dialect, "trgm_domain"),
    )
