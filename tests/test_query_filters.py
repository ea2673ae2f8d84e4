"""Indexed substring filters answer exactly what a plain scan does (issue 15).

The trigram index (FTS5 on SQLite, pg_trgm on PostgreSQL) only proposes
candidates; these tests hold the answer to a Python scan of the same rows, on
random data, on both stores, through both ways a page is found (walking the list
order, or sorting the index's candidates).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawler import db, snapshot_query
from crawler import snapshots as snaps
from crawler.auth import Principal, ensure_user, principal_for_user
from crawler.errors import InvalidInput
from crawler.models import Snapshot, SnapshotTag, Tag
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
    entries = [
        snaps.UrlEntry(url=f"https://h{n}.example.org/{path}", title=title)
        for n, (path, title) in enumerate(rows)
    ]
    return _store_entries(engine, entries)


def _store_entries(engine: Engine, entries: list[snaps.UrlEntry]) -> Principal:
    """A fresh user (own workspace) holding `entries`, added one by one (the triggers)."""
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, f"q{next(_users)}"))
        snaps.add_urls(session, principal=principal, entries=entries, index_only=True)
    return principal


@contextmanager
def _own_statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL this thread sends through `engine` inside the block: an earlier test's
    background recount (crawler.counts) may run on the same engine meanwhile."""
    statements: list[str] = []
    asking = threading.get_ident()

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.get_ident() == asking:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


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
    wide_from=st.sampled_from([1, 8_000]),
    offset=st.integers(0, 3),
)
def test_indexed_contains_matches_a_plain_scan(
    engine: Engine,
    rows: list[tuple[str, str]],
    title: str | None,
    url_part: str | None,
    rare_below: int,
    sample: int,
    wide_from: int,
    offset: int,
) -> None:
    # Given random rows in their own workspace
    principal = _store(engine, rows)
    filters = SnapshotFilters(title=title, url__icontains=url_part)
    saved = snapshot_query.RARE_BELOW, snapshot_query.SAMPLE, snapshot_query.WIDE_FROM
    snapshot_query.RARE_BELOW, snapshot_query.SAMPLE = rare_below, sample
    snapshot_query.WIDE_FROM = wide_from  # 1: the wider window of PostgreSQL decides too
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
        snapshot_query.RARE_BELOW, snapshot_query.SAMPLE, snapshot_query.WIDE_FROM = saved
    assert [s.id for s in page.rows] == expected[offset : offset + 3]
    if page.total.exact:
        assert page.total.value == len(expected)
    else:  # an estimate never says fewer than the pages found so far
        assert page.total.value >= offset + len(page.rows)


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


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(
            st.text(ALPHABET, max_size=10),
            st.sets(st.sampled_from(["t1", "t2"])),
            st.sampled_from(["queued", "failed"]),
        ),
        min_size=1,
        max_size=10,
    ),
    title=st.text(ALPHABET, min_size=1, max_size=3) | st.none(),
    tag=st.sampled_from(["t1", "t2", None]),
    status=st.sampled_from(["queued", "failed", None]),
    scan_from=st.sampled_from([0, 2000]),
    probes=st.sampled_from([0, 8, 10**6]),
    rare_below=st.sampled_from([1, 50_000]),
    sample=st.sampled_from([1, 2, 2000]),
    offset=st.integers(0, 2),
)
def test_combined_filters_match_a_plain_scan(
    engine: Engine,
    rows: list[tuple[str, set[str], str]],
    title: str | None,
    tag: str | None,
    status: str | None,
    scan_from: int,
    probes: int,
    rare_below: int,
    sample: int,
    offset: int,
) -> None:
    # Given random rows with tags and statuses in their own workspace
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, f"c{next(_users)}"))
        added = snaps.add_urls(
            session,
            principal=principal,
            entries=[
                snaps.UrlEntry(url=f"https://c{n}.example.org/", title=text, tags=tuple(tags))
                for n, (text, tags, _) in enumerate(rows)
            ],
            index_only=True,
        )
        for snapshot_id, (_, _, state) in zip(added.snapshot_ids, rows, strict=True):
            session.execute(
                text("UPDATE snapshot SET status = :s WHERE id = :id"),
                {"s": state, "id": snapshot_id},
            )
    tags_of = dict(zip(added.snapshot_ids, [t for _, t, _ in rows], strict=True))
    filters = SnapshotFilters(title=title, tag=tag, status=status)
    saved = (
        snapshot_query.TAG_SCAN_FROM,
        snapshot_query.WALK_PROBES_PER_LOOKUP,
        snapshot_query.RARE_BELOW,
        snapshot_query.SAMPLE,
    )
    # When the filters combine, through each plan (drive from the tag or walk past it;
    # the newest rows' window, sorting the trigram candidates or walking the list)
    snapshot_query.TAG_SCAN_FROM = scan_from
    snapshot_query.WALK_PROBES_PER_LOOKUP = probes
    snapshot_query.RARE_BELOW = rare_below
    snapshot_query.SAMPLE = sample
    try:
        with Session(engine) as session:
            page = query_page(session, principal, filters, limit=3, offset=offset)
            expected = _scan(
                session,
                principal,
                lambda s: (
                    (title is None or title.lower() in (s.title or "").lower())
                    and (tag is None or tag in tags_of[s.id])
                    and (status is None or s.status == status)
                ),
            )
    finally:
        (
            snapshot_query.TAG_SCAN_FROM,
            snapshot_query.WALK_PROBES_PER_LOOKUP,
            snapshot_query.RARE_BELOW,
            snapshot_query.SAMPLE,
        ) = saved
    # Then the page and the count are the scan's
    assert [s.id for s in page.rows] == expected[offset : offset + 3]
    if page.total.exact:
        assert page.total.value == len(expected)
    else:  # an estimate never says fewer than the pages found so far
        assert page.total.value >= offset + len(page.rows)


def test_domain_filter_keeps_exact_hosts_both_ways(engine: Engine) -> None:
    # Given hosts that share a prefix, one with a port, one with user info, one a subdomain
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, f"h{next(_users)}"))
        added = snaps.add_urls(
            session,
            principal=principal,
            entries=[
                snaps.UrlEntry(url="https://site17.example.com/a"),
                snaps.UrlEntry(url="https://site170.example.com/b"),
                snaps.UrlEntry(url="http://SITE17.example.com:8080/c"),
                snaps.UrlEntry(url="https://a.site17.example.com/d"),
                snaps.UrlEntry(url="https://other.example.com/site17.example.com/e"),
            ],
            index_only=True,
        )
    ids = added.snapshot_ids
    saved = snapshot_query.RARE_BELOW
    try:
        for rare_below in (1, 50_000):  # walk the list, or sort the candidates
            snapshot_query.RARE_BELOW = rare_below
            with Session(engine) as session:
                # When filtering by the host
                page = query_page(
                    session,
                    principal,
                    SnapshotFilters(domain="site17.example.com"),
                    limit=10,
                    offset=0,
                )
                # Then exactly that host's snapshots answer, any port, in list order
                wanted = _scan(session, principal, lambda s: s.id in (ids[0], ids[2]))
                assert [s.id for s in page.rows] == wanted
                assert page.total.value == 2
    finally:
        snapshot_query.RARE_BELOW = saved


def _plan(engine: Engine, query: Any) -> str:
    """The store's plan for `query`, as one line (PostgreSQL told to avoid the sequential
    scan a tiny table invites)."""
    compiled = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            return " ".join(r[0] for r in conn.execute(text("EXPLAIN " + compiled)))
        rows = conn.execute(text("EXPLAIN QUERY PLAN " + compiled))
        return " ".join(str(r[-1]) for r in rows)


def test_domain_filter_reads_the_host_index(engine: Engine) -> None:
    # Given the domain filter's candidate condition, compiled as the list query sends it
    from crawler.snapshot_filters import domain

    hosted = domain("site17.example.com", engine.dialect.name).candidate
    assert hosted is not None
    query = (
        select(col(Snapshot.id))
        .where(hosted)
        .order_by(col(Snapshot.created_at).desc(), col(Snapshot.id))
        .limit(50)
    )
    # When the store plans it (PostgreSQL told to avoid the scan a tiny table invites)
    plan = _plan(engine, query)
    # Then it reads the host index: the filter spells the expression the migration indexed
    assert "ix_snapshot_host_created_id" in plan, plan


def test_bulk_import_indexes_trigrams_and_keeps_the_triggers(engine: Engine) -> None:
    from crawler.importers.base import ImportEntry
    from crawler.importers.writer import import_entries

    # Given a bulk import (the writer takes the per-row index triggers out while it works)
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, f"b{next(_users)}"))
        summary = import_entries(
            session,
            [
                ImportEntry(url=f"https://bulk{n}.example.net/x", title=f"Bulky Wombat {n}")
                for n in range(30)
            ],
            principal=principal,
            index_only=True,
        )
    assert summary.imported == 30
    with Session(engine) as session:
        # When filtering by a substring of the imported titles and urls
        found = query_page(
            session, principal, SnapshotFilters(title="WOMBAT 2"), limit=50, offset=0
        )
        by_url = query_page(
            session, principal, SnapshotFilters(url__icontains="bulk7."), limit=50, offset=0
        )
        # Then the trigram index has every imported row
        assert sorted(s.title or "" for s in found.rows) == sorted(
            [f"Bulky Wombat {n}" for n in (2, *range(20, 30))]
        )
        assert [s.url for s in by_url.rows] == ["https://bulk7.example.net/x"]
        # And the triggers are back: a snapshot added one by one is found too
        snaps.add_urls(
            session,
            principal=principal,
            entries=[snaps.UrlEntry(url="https://late.example.net/", title="Late wombat")],
            index_only=True,
        )
        session.commit()
        late = query_page(session, principal, SnapshotFilters(title="late womb"), limit=5, offset=0)
        assert [s.title for s in late.rows] == ["Late wombat"]
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            names = {
                r[0]
                for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'")
            }
        assert {"snapshot_trgm_ai", "snapshot_trgm_ad", "snapshot_trgm_au"} <= names


def _index_names(engine: Engine) -> set[str]:
    """Index names on snapshot and snapshottag, the expression indexes included (the
    SQLite inspector skips those)."""
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'index' "
        "AND tbl_name IN ('snapshot', 'snapshottag')"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename IN ('snapshot', 'snapshottag')"
    )
    with engine.connect() as conn:
        return {str(name) for name in conn.execute(text(sql)).scalars()}


def test_migration_0016_downgrades_and_upgrades(engine: Engine) -> None:
    from alembic import command

    url = engine.url.render_as_string(hide_password=False)
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, f"m{next(_users)}"))
        snaps.add_urls(
            session,
            principal=principal,
            entries=[snaps.UrlEntry(url="https://mig.example.org/", tags=("kept",))],
            index_only=True,
        )
    indexes = {"ix_snapshot_crawl_created_id", "ix_snapshottag_tag_snapshot"}
    host = {"ix_snapshot_host_created_id"}  # 0016 on PostgreSQL, 0018 (after 0016) on SQLite
    split = {"snapshot_trgm_url", "snapshot_trgm_title"}
    sqlite = engine.dialect.name == "sqlite"
    # When 0016 is taken down
    command.downgrade(db.alembic_config(url), "0008")
    engine.dispose()
    found = inspect(engine)
    names = _index_names(engine)
    assert not (indexes | host) & names
    if sqlite:  # 0008's single trigram table is back, with the rows already there
        tables = set(found.get_table_names())
        assert "snapshot_trgm" in tables and not split & tables
        with engine.connect() as conn:
            hits = conn.exec_driver_sql(
                "SELECT count(*) FROM snapshot_trgm WHERE snapshot_trgm MATCH 'url : \"mig\"'"
            ).scalar_one()
        assert hits >= 1
    # Then the filters it serves still answer (by the plans before it) ...
    with Session(engine) as session:
        page = query_page(session, principal, SnapshotFilters(tag="kept"), limit=5, offset=0)
        assert len(page.rows) == 1
        domain = SnapshotFilters(domain="mig.example.org")
        assert len(query_page(session, principal, domain, limit=5, offset=0).rows) == 1
    # ... and the upgrade builds its indexes over the rows already there
    db.upgrade(url)
    engine.dispose()
    found = inspect(engine)
    names = _index_names(engine)
    assert (indexes | host) <= names
    if sqlite:
        assert split <= set(found.get_table_names())
    with Session(engine) as session:
        page = query_page(
            session, principal, SnapshotFilters(domain="MIG.example.org"), limit=5, offset=0
        )
        assert [s.url for s in page.rows] == ["https://mig.example.org/"]


def test_planner_estimate_follows_the_table_on_postgresql(engine: Engine) -> None:
    # Given some snapshots and fresh statistics
    from crawler.counts import planner_estimate

    principal = _store(engine, [(str(n), "") for n in range(40)])
    with engine.connect() as conn:
        conn.execute(text("ANALYZE snapshot" if engine.dialect.name == "postgresql" else "ANALYZE"))
        conn.commit()
    # When estimating a query with an IN list (rendered as plain parameters)
    query = select(col(Snapshot.id)).where(
        col(Snapshot.workspace_id).in_([principal.default_workspace_id, "none"])
    )
    with Session(engine) as session:
        estimate = planner_estimate(session, query)
        actual = len(session.exec(query).all())
    # Then PostgreSQL's planner answers near the real count; SQLite has no such estimate
    if engine.dialect.name == "sqlite":
        assert estimate is None
    else:
        assert estimate is not None and actual / 2 - 5 <= estimate <= actual * 2 + 5


def test_an_estimated_total_is_counted_only_when_asked_again(engine: Engine) -> None:
    # Given 30 snapshots and a list whose caller can only estimate its total
    from crawler import counts

    principal = _store(engine, [(str(n), "") for n in range(30)])
    query = select(col(Snapshot.id)).where(col(Snapshot.workspace_id).in_(principal.workspace_ids))
    with Session(engine) as session:
        # When it is asked for once
        first = counts.count_total(session, query, estimate=7)
        time.sleep(0.3)
        # Then the answer is the estimate, marked, and no count ran behind it
        assert first == counts.Total(7, exact=False)
        assert counts.remembered(session, query) is None
        # When the same list is asked for again
        second = counts.count_total(session, query, estimate=7)
        assert second == counts.Total(7, exact=False)
        # Then it is counted in the background, and the next answer is the count
        deadline = time.monotonic() + 10
        while counts.remembered(session, query) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counts.remembered(session, query) == counts.Total(30)
        assert counts.count_total(session, query, estimate=7) == counts.Total(30)


def test_a_term_with_punctuation_is_found_by_its_runs_and_tested_whole(engine: Engine) -> None:
    # Given URLs that share the term's letter-and-digit runs but not the term itself
    principal = _store(
        engine,
        [("p/1234", "A/B 100%"), ("q/1234", "a b 100"), ("p/0123", "A/b 100% off"), ("P/12x", "")],
    )
    with Session(engine) as session:
        # When filtering by terms whose runs are looser than the whole term
        by_url = query_page(
            session, principal, SnapshotFilters(url__icontains="/p/123"), limit=10, offset=0
        )
        by_title = query_page(
            session, principal, SnapshotFilters(title="a/b 100%"), limit=10, offset=0
        )
    # Then only rows containing the whole term (any case) are listed
    assert [s.url.split("/", 3)[3] for s in by_url.rows] == ["p/1234"]
    assert sorted(s.title or "" for s in by_title.rows) == ["A/B 100%", "A/b 100% off"]
    assert by_url.total.value == 1 and by_title.total.value == 2


def test_a_snapshot_url_term_common_among_the_newest_is_not_counted(engine: Engine) -> None:
    # Given 200 older snapshots, then 30 on one host, and a window of the newest 20
    from crawler.result_query import url_is_rare

    principal = _store(engine, [(f"p{n}", "") for n in range(200)])
    with db.session_scope(engine) as session:
        snaps.add_urls(
            session,
            principal=principal,
            entries=[snaps.UrlEntry(url=f"https://common.example.net/{n}") for n in range(30)],
            index_only=True,
        )
    saved = snapshot_query.SAMPLE
    snapshot_query.SAMPLE = 20
    try:
        with Session(engine) as session:
            total = len(session.exec(select(col(Snapshot.id))).all())
            # When asking whether terms are held by fewer than 31 urls
            common = url_is_rare(session, "common.example", upto=31)
            absent = url_is_rare(session, "nowhere.example", upto=31)
            few = url_is_rare(session, "h123.example.org/p123", upto=31)
    finally:
        snapshot_query.SAMPLE = saved
    # Then the term filling the newest rows is taken as common from them (its 30 urls
    # were not counted: all of the window's share of `total` rows), the others are rare
    assert total >= 230
    assert (common, absent, few) == (False, True, True)


def test_postgresql_sessions_run_without_jit_or_parallel_workers(engine: Engine) -> None:
    # Given a session from Amber's engine
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL settings")
    with Session(engine) as session:
        # When asking the server for its settings
        jit = session.execute(text("SHOW jit")).scalar_one()
        workers = session.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one()
    # Then both are off for Amber's short queries
    assert (jit, workers) == ("off", "0")


def test_a_tags_link_total_comes_from_statistics_then_the_count(engine: Engine) -> None:
    # Given 60 snapshots, 40 of them under two tags whose names share "zebra", and stats
    from crawler import counts, result_query
    from crawler.result_query import tagged_total

    principal = _store(engine, [(f"z{n}", "") for n in range(60)])
    with db.session_scope(engine) as session:
        rows = session.exec(
            select(Snapshot).where(col(Snapshot.workspace_id) == principal.default_workspace_id)
        ).all()
        for n, row in enumerate(rows[:40]):
            tag = "zebra-a" if n % 2 else "zebra-b"
            snaps.set_snapshot_tags(session, row, [tag], user_id=principal.user_id)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    with Session(engine) as session:
        # When the total is asked for the first time
        first = tagged_total(session, "ZEBRA")
        if engine.dialect.name == "postgresql":
            # Then PostgreSQL answers from its statistics, near the truth, counting nothing
            assert 20 <= first <= 80
            assert counts.remembered(session, result_query._tagged("zebra")) is None
            # And asked again, the count runs behind it and is answered from then on
            tagged_total(session, "zebra")
            deadline = time.monotonic() + 10
            while tagged_total(session, "zebra") != 40 and time.monotonic() < deadline:
                time.sleep(0.05)
        else:
            assert first == 40  # SQLite counts (remembered when large)
        assert tagged_total(session, "zebra") == 40
        assert tagged_total(session, "no-such-tag") == 0


def test_an_unclear_share_is_read_from_a_wider_window_not_the_trigram_index(
    engine: Engine,
) -> None:
    # Given 400 snapshots, a tenth titled "zeta", none of them among the first or last 5
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite counts trigram candidates from its index alone")
    rows = [(f"w{n}", "zeta one" if n % 10 == 5 and 10 <= n < 390 else "other") for n in range(400)]
    principal = _store(engine, rows)
    with db.session_scope(engine) as session:  # in list order as added: one batch shares a
        # created_at, and ids made within one millisecond sort at random (this failed once)
        session.execute(
            text(
                "UPDATE snapshot SET created_at = timestamp '2025-01-01' + "
                "substring(url from 'h([0-9]+)[.]')::int * interval '1 second' "
                "WHERE workspace_id IN :workspaces"
            ).bindparams(bindparam("workspaces", expanding=True)),
            {"workspaces": list(principal.workspace_ids)},
        )
    saved = snapshot_query.SAMPLE, snapshot_query.RARE_MIN, snapshot_query.WIDE_FROM
    snapshot_query.SAMPLE, snapshot_query.RARE_MIN, snapshot_query.WIDE_FROM = 5, 20, 20
    try:
        with _own_statements(engine) as statements, Session(engine) as session:
            # When the newest 5 rows (no match) cannot tell how common the term is
            page = query_page(session, principal, SnapshotFilters(title="ZETA"), limit=3, offset=0)
            expected = _scan(session, principal, lambda s: "zeta" in (s.title or ""))
    finally:
        snapshot_query.SAMPLE, snapshot_query.RARE_MIN, snapshot_query.WIDE_FROM = saved
    # Then a wider window of the newest rows decided, and gave the page: no statement
    # asked the trigram index for the term's candidates (a recheck of each on its page)
    assert [s.id for s in page.rows] == expected[:3]
    assert sum('"window"' in st for st in statements) == 3  # its share, the wider's, the page
    assert not [st for st in statements if "snapshot.title ILIKE" in st]
    # And the total is the wider window's share of the 400 rows, marked as an estimate
    assert not page.total.exact and 30 <= page.total.value <= 50


def _index_sql(engine: Engine, name: str) -> str:
    sql = (
        "SELECT sql FROM sqlite_master WHERE name = :name"
        if engine.dialect.name == "sqlite"
        else "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    )
    with engine.connect() as conn:
        return str(conn.execute(text(sql), {"name": name}).scalar_one())


def test_migration_0020_makes_crawl_and_schedule_indexes_partial(engine: Engine) -> None:
    from alembic import command

    url = engine.url.render_as_string(hide_password=False)
    names = ("ix_snapshot_crawl_created_id", "ix_snapshot_schedule_id")
    # Given the newest schema: both indexes skip the rows without a crawl or a schedule
    assert all("IS NOT NULL" in _index_sql(engine, name) for name in names)
    # When the crawl filter is planned (PostgreSQL told to avoid the scan a tiny table invites)
    query = (
        select(col(Snapshot.id))
        .where(col(Snapshot.crawl_id) == "crawl-1")
        .order_by(col(Snapshot.created_at).desc(), col(Snapshot.id))
        .limit(50)
    )
    plan = _plan(engine, query)
    # Then the equality still reads the partial index (it implies IS NOT NULL)
    assert "ix_snapshot_crawl_created_id" in plan, plan
    # And 0020 goes down to the full indexes and back up
    command.downgrade(db.alembic_config(url), "0019")
    engine.dispose()
    assert not any("IS NOT NULL" in _index_sql(engine, name) for name in names)
    db.upgrade(url)
    engine.dispose()
    assert all("IS NOT NULL" in _index_sql(engine, name) for name in names)


def _triggers(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        return {name: sql for name, sql in rows}


def test_migration_0021_stores_tag_links_without_rowid_and_keeps_them(engine: Engine) -> None:
    from alembic import command

    from crawler import tags as tag_ops

    if engine.dialect.name != "sqlite":
        pytest.skip("a rowid is SQLite's; the migration leaves PostgreSQL as it is")
    url = engine.url.render_as_string(hide_password=False)
    # Given snapshots with tags on the newest schema
    principal = _store_entries(
        engine,
        [
            snaps.UrlEntry(url=f"https://rowless{n}.example.org/", tags=("numbat", f"n{n % 3}"))
            for n in range(9)
        ],
    )
    triggers = _triggers(engine)
    assert "WITHOUT ROWID" in _index_sql(engine, "snapshottag")

    def links() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT snapshot_id, tag_id FROM snapshottag").all()
            return sorted((a, b) for a, b in rows)

    before = links()
    assert len(before) >= 18
    # When 0021 goes down and up again
    command.downgrade(db.alembic_config(url), "0020")
    engine.dispose()
    assert "WITHOUT ROWID" not in _index_sql(engine, "snapshottag")
    assert links() == before and _triggers(engine) == triggers
    db.upgrade(url)
    engine.dispose()
    # Then every link, the tag index and every search trigger are there as before
    assert "WITHOUT ROWID" in _index_sql(engine, "snapshottag")
    assert links() == before and _triggers(engine) == triggers
    assert "ix_snapshottag_tag_snapshot" in _index_names(engine)
    with Session(engine) as session:
        page = query_page(session, principal, SnapshotFilters(tag="n1"), limit=50, offset=0)
        assert sorted(s.url for s in page.rows) == [
            f"https://rowless{n}.example.org/" for n in (1, 4, 7)
        ]
        # And the triggers still work: a new link and a renamed tag reach the search index
        first = session.exec(select(Snapshot).where(col(Snapshot.url).like("%rowless0.%"))).one()
        tag_ops.add_to_snapshot(session, first, ["quenda"], user_id=principal.user_id)
        numbat = tag_ops.get_tag(session, principal, "numbat")
        tag_ops.rename_tag(session, numbat, "bilby")
        session.commit()
        quenda = query_page(session, principal, SnapshotFilters(search="quenda"), limit=5, offset=0)
        bilby = query_page(session, principal, SnapshotFilters(search="bilby"), limit=50, offset=0)
        assert [s.url for s in quenda.rows] == ["https://rowless0.example.org/"]
        assert len(bilby.rows) == 9


def test_a_title_under_a_big_tag_is_found_from_one_index_and_follows_tag_edits(
    engine: Engine,
) -> None:
    from alembic import command

    from crawler import tags as tag_ops

    if engine.dialect.name != "postgresql":
        pytest.skip("the search rows' title+tag index is PostgreSQL's (migration 0022)")
    url = engine.url.render_as_string(hide_password=False)
    # Given 60 snapshots: every third tagged "kiwi", every fifth titled "takahe"
    principal = _store_entries(
        engine,
        [
            snaps.UrlEntry(
                url=f"https://kiwi{n}.example.org/",
                title="Takahe seen" if n % 5 == 0 else "nothing",
                tags=("kiwi",) if n % 3 == 0 else ("weka",),
            )
            for n in range(60)
        ],
    )

    def page_and_scan(tag: str) -> tuple[list[str], int, bool, list[str]]:
        saved = snapshot_query.TAG_SCAN_FROM
        snapshot_query.TAG_SCAN_FROM = 5  # "kiwi" (20 snapshots) counts as a big tag
        try:
            with Session(engine) as session:
                page = query_page(
                    session, principal, SnapshotFilters(title="TAKAHE", tag=tag), limit=50, offset=0
                )
                tagged = set(
                    session.exec(
                        select(SnapshotTag.snapshot_id)
                        .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
                        .where(col(Tag.name) == tag)
                    ).all()
                )
                expected = _scan(
                    session,
                    principal,
                    lambda s: "takahe" in (s.title or "").lower() and s.id in tagged,
                )
        finally:
            snapshot_query.TAG_SCAN_FROM = saved
        return [s.id for s in page.rows], page.total.value, page.total.exact, expected

    with _own_statements(engine) as statements:
        # When a title term is asked under the big tag
        found, total, exact, expected = page_and_scan("kiwi")
    # Then the page and its exact total are the scan's (n = 0, 15, 30, 45)
    assert found == expected and len(expected) == 4 and (total, exact) == (4, True)
    # And the candidates came from the search rows' title+tag index, not snapshot's trigrams
    assert [st for st in statements if "snapshot_search.tag_ids &&" in st]
    assert not [st for st in statements if "snapshot.title ILIKE" in st]
    # And tag edits reach it: a new link, a removed one, a merge and a rename
    with db.session_scope(engine) as session:
        by_url = {
            s.url: s
            for s in session.exec(
                select(Snapshot).where(col(Snapshot.workspace_id) == principal.default_workspace_id)
            )
        }
        tag_ops.add_to_snapshot(
            session, by_url["https://kiwi5.example.org/"], ["kiwi"], user_id=principal.user_id
        )
        tag_ops.remove_from_snapshot(session, by_url["https://kiwi0.example.org/"], "kiwi")
    found, total, _, expected = page_and_scan("kiwi")
    assert found == expected and total == 4 and len(expected) == 4
    with db.session_scope(engine) as session:
        weka = tag_ops.get_tag(session, principal, "weka")
        kiwi = tag_ops.get_tag(session, principal, "kiwi")
        tag_ops.merge_tags(session, weka, kiwi)  # every takahe but kiwi0 (untagged) is a kiwi
    found, total, _, expected = page_and_scan("kiwi")
    assert found == expected and total == 11 and len(expected) == 11
    with db.session_scope(engine) as session:
        tag_ops.rename_tag(session, tag_ops.get_tag(session, principal, "kiwi"), "rowi")
    found, total, _, expected = page_and_scan("rowi")
    assert found == expected and total == 11
    # And 0022 goes down (no tag ids) and up again (filled from the links)
    command.downgrade(db.alembic_config(url), "0021")
    engine.dispose()
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("snapshot_search")}
    assert "tag_ids" not in columns
    db.upgrade(url)
    engine.dispose()
    found, total, _, expected = page_and_scan("rowi")
    assert found == expected and total == 11


def test_bulk_search_rows_are_the_ones_the_triggers_make(engine: Engine) -> None:
    from crawler.importers.base import ImportEntry
    from crawler.importers.writer import import_entries

    entries = [
        (f"https://rows{n}.example.net/a?b={n}", f"Row {n} of Kakapo", ("bird", f"t{n % 4}"))
        for n in range(12)
    ]
    # Given the same entries stored by the bulk writer in one workspace and one by one
    # (through the triggers) in another
    with db.session_scope(engine) as session:
        bulk = principal_for_user(session, ensure_user(session, f"bk{next(_users)}"))
        single = principal_for_user(session, ensure_user(session, f"sg{next(_users)}"))
        summary = import_entries(
            session,
            [ImportEntry(url=u, title=t, tags=tags) for u, t, tags in entries],
            principal=bulk,
            index_only=True,
        )
        snaps.add_urls(
            session,
            principal=single,
            entries=[snaps.UrlEntry(url=u, title=t, tags=tags) for u, t, tags in entries],
            index_only=True,
        )
        # And the session's triggers work again after the bulk batch
        setting = (
            session.execute(text("SELECT current_setting('amber.bulk_indexing', true)")).scalar()
            if engine.dialect.name == "postgresql"
            else None
        )
    assert summary.imported == 12 and setting in (None, "", "off")
    postgres = engine.dialect.name == "postgresql"
    # The document's words with their weights (the tags' positions follow the order the
    # links are read in, which neither side fixes)
    extra = ", (SELECT array_agg(lexeme || ':' || array_to_string(weights, '') ORDER BY lexeme)"
    extra += " FROM unnest(ss.document)), ss.created_at = s.created_at"
    extra += ", ss.workspace_id = s.workspace_id"
    extra += ", (SELECT array_agg(t.name ORDER BY t.name) FROM tag t WHERE t.id = ANY(ss.tag_ids))"
    extra += ", ss.status"
    with engine.connect() as conn:

        def rows(principal: Principal) -> list[tuple[Any, ...]]:
            found = conn.execute(
                text(
                    f"SELECT ss.url, ss.title, ss.tags{extra if postgres else ''} "
                    "FROM snapshot_search ss JOIN snapshot s ON s.id = ss.snapshot_id "
                    "WHERE s.workspace_id = :ws ORDER BY ss.url"
                ),
                {"ws": principal.default_workspace_id},
            ).all()
            # (tag names in any order: SQLite's triggers list them by tag id)
            return [(r[0], r[1], sorted(r[2].split()), *r[3:]) for r in found]

        made_in_bulk, made_by_triggers = rows(bulk), rows(single)
    # Then every search row holds the same text, tags, order, workspace, tag ids, status
    # and document as the triggers' row
    assert len(made_in_bulk) == 12
    assert made_in_bulk[0][2] == ["bird", "t0"]
    assert made_in_bulk == made_by_triggers
    if postgres:
        assert all(r[4] is True and r[5] is True for r in made_in_bulk)
        assert made_in_bulk[0][6] == ["bird", "t0"] and made_in_bulk[0][7] == "queued"


def test_migration_0023_lets_only_a_bulk_insert_pass_the_triggers(engine: Engine) -> None:
    from alembic import command

    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's bulk writer drops its triggers instead (crawler.search)")
    url = engine.url.render_as_string(hide_password=False)

    def bodies() -> list[str]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT prosrc FROM pg_proc WHERE proname IN "
                        "('amber_search_snapshot', 'amber_search_snapshottag') ORDER BY proname"
                    )
                ).scalars()
            )

    # Given the newest schema: both INSERT triggers step aside for a bulk transaction only
    assert all("amber.bulk_indexing" in body and "TG_OP = 'INSERT'" in body for body in bodies())
    # When 0023 goes down and up again
    command.downgrade(db.alembic_config(url), "0022")
    engine.dispose()
    down = bodies()
    db.upgrade(url)
    engine.dispose()
    # Then 0022's triggers come back without it, and 0023's with it
    assert len(down) == 2 and not any("amber.bulk_indexing" in body for body in down)
    assert all("amber.bulk_indexing" in body for body in bodies())
    # And a snapshot added one by one still gets its search row from the trigger
    principal = _store(engine, [("late", "Trigger made")])
    with Session(engine) as session:
        page = query_page(session, principal, SnapshotFilters(search="trigger"), limit=5, offset=0)
    assert [s.title for s in page.rows] == ["Trigger made"]
