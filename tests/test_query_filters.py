"""Indexed substring filters answer exactly what a plain scan does (issue 15).

The trigram index (FTS5 on SQLite, pg_trgm on PostgreSQL) only proposes
candidates; these tests hold the answer to a Python scan of the same rows, on
random data, on both stores, through both ways a page is found (walking the list
order, or sorting the index's candidates).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawler import db, snapshot_query
from crawler import snapshots as snaps
from crawler.auth import Principal, ensure_user, principal_for_user
from crawler.errors import InvalidInput
from crawler.models import Snapshot
from crawler.snapshot_query import SnapshotFilters, query_page
from tests.services import PostgresServer

# Few letters in both cases, and LIKE's special characters: terms and texts collide often.
ALPHABET = "aAbBc%_\\ ."
URL_ALPHABET = "aAbBc_-."
_users = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('query') / 'query.sqlite3'}"
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        url = pg.create_database(f"query_{time.time_ns()}")
    db.upgrade(url)
    made = db.make_engine(url)
    yield made
    made.dispose()


def _store(engine: Engine, rows: list[tuple[str, str]]) -> Principal:
    """A fresh user (own workspace) holding `rows` of (url path, title)."""
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, f"q{next(_users)}"))
        snaps.add_urls(
            session,
            principal=principal,
            entries=[
                snaps.UrlEntry(url=f"https://h{n}.example.org/{path}", title=title)
                for n, (path, title) in enumerate(rows)
            ],
            index_only=True,
        )
    return principal


def _scan(session: Session, principal: Principal, keep: object) -> list[str]:
    """The reference: every row of the workspace in list order, tested in Python."""
    rows = session.exec(
        select(Snapshot).where(col(Snapshot.workspace_id).in_(principal.workspace_ids))
    ).all()
    ordered = sorted(sorted(rows, key=lambda s: s.id), key=lambda s: s.created_at, reverse=True)
    return [s.id for s in ordered if keep(s)]  # type: ignore[operator]


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(st.text(URL_ALPHABET, max_size=8), st.text(ALPHABET, max_size=14)),
        min_size=1,
        max_size=10,
    ),
    title=st.text(ALPHABET, min_size=1, max_size=4) | st.none(),
    url_part=st.text(URL_ALPHABET, min_size=1, max_size=4) | st.none(),
    rare_below=st.sampled_from([1, 3, 50_000]),
    sample=st.sampled_from([1, 2_000]),
    offset=st.integers(0, 3),
)
def test_indexed_contains_matches_a_plain_scan(
    engine: Engine,
    rows: list[tuple[str, str]],
    title: str | None,
    url_part: str | None,
    rare_below: int,
    sample: int,
    offset: int,
) -> None:
    # Given random rows in their own workspace
    principal = _store(engine, rows)
    filters = SnapshotFilters(title=title, url__icontains=url_part)
    saved = snapshot_query.RARE_BELOW, snapshot_query.SAMPLE
    snapshot_query.RARE_BELOW, snapshot_query.SAMPLE = rare_below, sample
    try:
        with Session(engine) as session:
            # When the title/url contains filters run (a small RARE_BELOW forces the list walk)
            page = query_page(session, principal, filters, limit=3, offset=offset)
            # Then they give exactly the scan's rows, in list order, and its count
            expected = _scan(
                session,
                principal,
                lambda s: (
                    (title is None or title.lower() in (s.title or "").lower())
                    and (url_part is None or url_part.lower() in s.url.lower())
                ),
            )
    finally:
        snapshot_query.RARE_BELOW, snapshot_query.SAMPLE = saved
    assert [s.id for s in page.rows] == expected[offset : offset + 3]
    if page.total.exact:
        assert page.total.value == len(expected)


def test_domain_filter_and_trigram_index_follow_edits(engine: Engine) -> None:
    # Given snapshots on two hosts, one with a port and one a subdomain
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, f"d{next(_users)}"))
        added = snaps.add_urls(
            session,
            principal=principal,
            entries=[
                snaps.UrlEntry(
                    url="https://News.Example.com/a", title="Alpha story", tags=("few",)
                ),
                snaps.UrlEntry(url="http://news.example.com:8080/b", title="Beta story"),
                snaps.UrlEntry(url="https://sub.news.example.com/c", title="Gamma story"),
                snaps.UrlEntry(url="https://other.example.net/news.example.com", title="Delta"),
            ],
            index_only=True,
        )
    ids = added.snapshot_ids
    with Session(engine) as session:
        # When listing by domain, only that exact host matches (any scheme or port)
        page = query_page(
            session, principal, SnapshotFilters(domain="NEWS.example.com"), limit=10, offset=0
        )
        assert sorted(s.id for s in page.rows) == sorted(ids[:2])
        # And a small tag is listed from its links (PostgreSQL starts from them)
        tagged = query_page(session, principal, SnapshotFilters(tag="few"), limit=10, offset=0)
        assert [s.id for s in tagged.rows] == [ids[0]] and tagged.total.value == 1
        with pytest.raises(InvalidInput):
            query_page(session, principal, SnapshotFilters(domain="a/b"), limit=10, offset=0)
        # And a retitled snapshot is found by its new title only (the triggers keep up)
        snapshot = session.get(Snapshot, ids[0])
        assert snapshot is not None
        snapshot.title = "Renamed headline"
        session.add(snapshot)
        session.commit()
        found = query_page(session, principal, SnapshotFilters(title="headline"), limit=5, offset=0)
        assert [s.id for s in found.rows] == [ids[0]]
        gone = query_page(session, principal, SnapshotFilters(title="alpha"), limit=5, offset=0)
        assert gone.rows == [] and gone.total.value == 0
        # And a deleted snapshot leaves the index
        session.execute(text("DELETE FROM snapshot WHERE id = :id"), {"id": ids[2]})
        session.commit()
        left = query_page(session, principal, SnapshotFilters(title="gamma"), limit=5, offset=0)
        assert left.rows == []


def test_migration_0008_downgrades_and_upgrades(engine: Engine) -> None:
    from alembic import command

    url = engine.url.render_as_string(hide_password=False)
    principal = _store(engine, [("keep", "Survivor of the migration")])
    # When the query branch is taken down
    command.downgrade(db.alembic_config(url), "query@0007")
    engine.dispose()
    found = inspect(engine)
    names = {i["name"] for i in found.get_indexes("snapshot")}
    assert "ix_snapshot_status_created_id" not in names
    assert "ix_snapshot_title_trgm" not in names
    assert "snapshot_trgm" not in found.get_table_names()
    # Then the filter still answers (exactly, by a scan) ...
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            page = query_page(session, principal, SnapshotFilters(title="vivor"), limit=5, offset=0)
            assert len(page.rows) == 1
    # ... and the upgrade rebuilds the index over the rows already there
    db.upgrade(url)
    engine.dispose()
    with Session(engine) as session:
        page = query_page(session, principal, SnapshotFilters(title="VIVOR OF"), limit=5, offset=0)
        assert [s.title for s in page.rows] == ["Survivor of the migration"]
        assert page.total.value == 1 and page.total.exact
