"""A few search rows tested for a query by indexing them alone (crawler.search_probe):
the same answer as the store's own FTS5 index gives, on random text and queries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crawler import db
from crawler.search import fts5_query, parse_query
from crawler.search_probe import FTS_COLUMNS, FTS_TOKENIZE, probe_rowids, text_size

# Words that stem alike and apart, share prefixes, carry diacritics and case.
WORDS = [
    "news",
    "newspaper",
    "newer",
    "new",
    "running",
    "runs",
    "run",
    "Café",
    "cafe",
    "naïve",
    "NAIVE",
    "résumé",
    "archive",
    "archiving",
    "archived",
    "x86",
    "über",
    "straße",
]
ROWS = 60


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An embedded store at the newest schema (its snapshot_fts as migrations made it)."""
    path: Path = tmp_path_factory.mktemp("probe") / "probe.sqlite3"
    url = f"sqlite:///{path}"
    db.upgrade(url)
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


def test_the_probe_indexes_as_the_stores_fts5_table_was_made(store: Engine) -> None:
    # Given the store's full-text table, as the migrations left it
    with store.connect() as conn:
        made = conn.execute(
            sql_text("SELECT sql FROM sqlite_master WHERE name = 'snapshot_fts'")
        ).scalar_one()
    # Then the probe's columns and tokenizer are its own
    columns = re.search(r"fts5\(\s*([^)]*?),\s*content=", made, re.S)
    assert columns is not None
    assert tuple(c.strip() for c in columns.group(1).split(",")) == FTS_COLUMNS
    assert f"tokenize='{FTS_TOKENIZE}'" in made


texts = st.lists(st.sampled_from(WORDS), min_size=0, max_size=6).map(" ".join)
rows = st.lists(st.tuples(texts, texts, texts, texts), min_size=ROWS, max_size=ROWS)
queries = st.lists(st.sampled_from([*WORDS, "ne", "arch", "caf", '"run']), min_size=1, max_size=3)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(contents=rows, words=queries, asked=st.sets(st.integers(0, ROWS - 1), max_size=ROWS))
def test_a_probe_answers_as_fts5_does(
    store: Engine, contents: list[tuple[str, str, str, str]], words: list[str], asked: set[int]
) -> None:
    # Given search rows of random words (indexed by the store's triggers)
    with db.session_scope(store) as session:
        session.execute(sql_text("DELETE FROM snapshot_search"))
        for n, (url, title, tags, body) in enumerate(contents, start=1):
            session.execute(
                sql_text(
                    "INSERT INTO snapshot_search (id, snapshot_id, url, title, tags, text) "
                    "VALUES (:id, :sid, :url, :title, :tags, :text)"
                ),
                {"id": n, "sid": f"s{n}", "url": url, "title": title, "tags": tags, "text": body},
            )
    terms = parse_query(" ".join(words))
    if not terms:
        return
    fts = fts5_query(terms)
    rowids = sorted(n + 1 for n in asked)
    with Session(store) as session:
        # When some of them are tested for the query by the probe
        probed = probe_rowids(session, fts, rowids)
        # Then the same ones match as the store's index says
        indexed = session.execute(
            sql_text(
                "SELECT rowid FROM snapshot_fts WHERE snapshot_fts MATCH :q "
                "AND rowid IN (SELECT value FROM json_each(:ids))"
            ),
            {"q": fts, "ids": str(rowids)},
        ).scalars()
        assert sorted(probed) == sorted(indexed), (fts, rowids)
        # And the size read is every character of those rows
        expected = sum(len("".join(contents[r - 1])) for r in rowids)
        assert text_size(session, rowids) == expected
