"""A plain search's page on real SQLite and PostgreSQL: ranked when its visible matches
are few, newest first when many (found in windows of the newest rows), always the same
page as ranking or sorting every match would give, for every tenant and page."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawler import db, search, search_limits
from crawler import snapshots as snaps
from crawler.auth import Principal, ensure_user, principal_for_user
from crawler.counts import Total
from crawler.models import Snapshot
from crawler.search_pages import SearchOrder, SearchPage, search_page
from crawler.snapshot_query import SnapshotFilters, query_page
from tests.conftest import ADMIN_TOKEN, amber_env, run_amber, web_sign_in
from tests.services import AmberServer, PostgresServer

WORDS = ["amber", "resin", "fossil", "insect", "tide", "harbour", "lantern"]
# Common and rare words, a prefix, two words, a word in urls, and one that matches nothing.
QUERIES = ["amber", "resi", "fossil insect", "lantern", "harbour amber", "example", "nothinghere"]
PAGES = [(0, 10), (4, 7), (30, 20), (150, 50), (450, 5)]  # the last past every row


@dataclass
class Store:
    engine: Engine
    kind: str
    admin: Principal
    first: Principal
    second: Principal


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Two tenants' 400 snapshots with words of every frequency, created mostly in the
    order their search rows were written, but not all (see below)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'pages.sqlite3'}"
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        url = pg.create_database(f"search_pages_{time.time_ns()}")
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        first = principal_for_user(session, ensure_user(session, "first"))
        second = principal_for_user(session, ensure_user(session, "second"))
        admin = principal_for_user(session, ensure_user(session, "root", admin=True))
    rng = random.Random(23)
    weights = [60, 30, 12, 12, 8, 5, 2]  # amber in most titles, lantern in few
    for owner, count in ((first, 300), (second, 100)):
        entries = []
        for n in range(count):
            title = " ".join(rng.choices(WORDS, weights, k=rng.randint(1, 3)))
            tags = tuple(t for t in ("red", "blue") if rng.random() < 0.3)
            url = f"https://s{n % 9}.example.com/{n}"
            entries.append(snaps.UrlEntry(url=url, title=title, tags=tags))
        with db.session_scope(engine) as session:
            snaps.add_urls(session, principal=owner, entries=entries, index_only=True)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with db.session_scope(engine) as session:
        written = session.execute(
            sql_text("SELECT snapshot_id FROM snapshot_search ORDER BY id")
        ).scalars()
        for n, snapshot_id in enumerate(list(written)):
            # Mostly in the order the search rows were written, as captures are; some
            # far older or newer (an imported archive, a fixed clock), some at one moment.
            hours = rng.choice([2 * n] * 16 + [rng.randrange(1000), 42])
            moment = start + timedelta(hours=hours)
            status = rng.choice(["succeeded"] * 6 + ["failed"] * 3 + ["queued"])
            session.execute(
                sql_text("UPDATE snapshot SET created_at = :t, status = :s WHERE id = :id"),
                {"t": moment, "s": status, "id": snapshot_id},
            )
    yield Store(engine, request.param, admin, first, second)
    engine.dispose()


def _visible(principal: Principal) -> list[Any]:
    if principal.is_admin:
        return []
    return [col(Snapshot.workspace_id).in_(principal.workspace_ids)]


def _newest_reference(session: Session, principal: Principal, query: str) -> list[str]:
    """Every visible match in list order, by a plain scan."""
    found = select(Snapshot.id).where(search.search_condition(session, query), *_visible(principal))
    ordered = found.order_by(col(Snapshot.created_at).desc(), col(Snapshot.id))
    return [str(i) for i in session.exec(ordered)]


def _ranked_reference(
    session: Session, principal: Principal, query: str, *, limit: int, offset: int
) -> list[str]:
    """The joined path's ranked page (a harmless date bound keeps it off the plain path)."""
    filters = SnapshotFilters(search=query, created_at__lt=datetime(2100, 1, 1, tzinfo=UTC))
    page = query_page(session, principal, filters, limit=limit, offset=offset)
    return [r.id for r in page.rows]


@pytest.fixture
def statements(store: Store) -> Iterator[list[str]]:
    """The SQL this test's thread sends."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    yield sent
    event.remove(store.engine, "before_cursor_execute", record)


def _driven(kind: str, sent: list[str]) -> bool:
    """Whether the other filters' rows drove (each tested for the words)."""
    if kind == "postgres":
        return any("EXISTS (SELECT" in s and "snapshot_search" in s for s in sent)
    # (the few rows read in list order with their search rowids, then tested in chunks)
    return any(s.startswith("SELECT snapshot.id, ss.id") for s in sent)


def _window_was_read(kind: str, sent: list[str]) -> bool:
    if kind == "postgres":
        return any("ss.created_at >=" in statement for statement in sent)
    # (SQLite's count reads the newest search rows' matches too, with group_concat, and
    # its check of the exact words reads them newest first: neither counts the page)
    return any("snapshot_fts.rowid >=" in s and "OVER" in s for s in sent)


def _out_of_order_tested(sent: list[str]) -> bool:
    """Whether rows the kept matches could not decide were tested with FTS5 and walked again."""
    return any("json_each" in s and "snapshot_fts.rowid BETWEEN" in s for s in sent)


def _walked_newest_matches(sent: list[str]) -> bool:
    """Whether SQLite walked the list order, looking rows up among the newest matches
    by rowid that the count kept (no FTS5 match in that statement)."""
    return any("json_each" in s and "IN (SELECT" in s and "snapshot_fts" not in s for s in sent)


def _small_limits(monkeypatch: pytest.MonkeyPatch, **more: int) -> None:
    """Limits small enough for this store: up to 12 visible matches are ranked, up to 40
    sorted whole on SQLite, a PostgreSQL window may read 30 matches before shrinking,
    first windows are sized to hold too few matches (so most pages grow one), and
    SQLite's count reads the matches among the newest 60 search rows (at least);
    `more` sets others, or overrides these."""
    limits: dict[str, float] = {
        "RANK_LIMIT": 12,
        "SORT_LIMIT": 40,
        "HITS_CAP": 30,
        "MARGIN": 0.2,
        "NEWEST_SPAN": 60,
        "SPAN_PER_ROW": 1,
    }
    for name, value in {**limits, **more}.items():
        monkeypatch.setattr(search_limits, name, value)


def _every_page(
    store: Store, session: Session, statements: list[str]
) -> Iterator[tuple[Principal, str, int, int, list[str], SearchPage]]:
    """Each page of each query for the admin and a tenant, found by search_page (with
    `statements` holding just that page's SQL), beside every visible match by a scan."""
    for principal in (store.admin, store.first):
        workspaces = None if principal.is_admin else list(principal.workspace_ids)
        for query in QUERIES:
            everything = _newest_reference(session, principal, query)
            for offset, limit in PAGES:
                statements.clear()
                page = search_page(
                    session, query, workspace_ids=workspaces, limit=limit, offset=offset
                )
                assert page is not None
                yield principal, query, offset, limit, everything, page


@pytest.mark.parametrize("analyzed", [True, False])
def test_pages_are_ranked_or_newest_first_like_a_scan(
    store: Store, statements: list[str], monkeypatch: pytest.MonkeyPatch, analyzed: bool
) -> None:
    # Given limits small enough for this store (SQLite takes no statistics: there the
    # second run's count reads every search row)
    every_row_read = store.kind == "sqlite" and not analyzed
    _small_limits(monkeypatch, NEWEST_SPAN=10_000 if every_row_read else 60)
    if store.kind == "postgres":  # with and without the statistics' histogram of list order
        with store.engine.begin() as conn:
            conn.execute(sql_text("ANALYZE snapshot_search"))
            if not analyzed:
                conn.execute(
                    sql_text(
                        "DELETE FROM pg_statistic WHERE starelid = 'snapshot_search'::regclass"
                    )
                )
    windows_used = walked = rewalked = narrowed = 0
    with Session(store.engine) as session:
        # When each page is asked for
        for principal, query, offset, limit, everything, page in _every_page(
            store, session, statements
        ):
            where = (principal.user_id, query, offset, limit)
            if len(everything) <= search_limits.RANK_LIMIT:
                # Then few matches are ranked, as the joined path ranks them
                assert page.order == SearchOrder.RELEVANCE, where
                expected = _ranked_reference(session, principal, query, limit=limit, offset=offset)
                assert page.ids == expected, where
                assert page.total.exact and page.total.value == len(everything)
                continue
            # Then many are listed newest first: exactly the scan's page
            assert page.order == SearchOrder.NEWEST, where
            assert page.ids == everything[offset : offset + limit], where
            if every_row_read:  # every match counted: the total is exact
                assert page.total == Total(len(everything)), where
            if page.total.exact:
                assert page.total.value == len(everything), where
            else:  # an estimate from the window's share of the rows
                assert 0 < page.total.value <= 10 * len(everything), where
            windows_used += _window_was_read(store.kind, statements)
            walked += _walked_newest_matches(statements) and not _window_was_read(
                store.kind, statements
            )
            rewalked += _out_of_order_tested(statements)
            narrowed += any("narrow_query" in s for s in statements)
    # And the windows (on SQLite also the walk among the newest matches the count kept),
    # not a sort of every match, found most of the newest-first pages
    assert windows_used + walked >= 10
    if every_row_read:  # the walk alone, every match kept, found them all
        assert walked >= 10 and rewalked == 0 and windows_used == 0, (walked, rewalked)
    elif store.kind == "sqlite":
        # (some after testing rows created out of rowid order, some by windows after all)
        assert walked >= 10 and rewalked >= 1 and windows_used >= 1, (walked, rewalked)
    if store.kind == "postgres":
        # And a word the statistics know to be common ("amber", in most titles) was left
        # out of GIN's scan beside a rarer one ("harbour amber"), and tested on each row
        assert (narrowed >= 1) if analyzed else (narrowed == 0), narrowed
    if store.kind == "postgres":  # and the index-entry count left the planner as it was
        with Session(store.engine) as session:
            assert session.execute(sql_text("SHOW enable_seqscan")).scalar() == "on"
            amber = search_page(session, "amber", workspace_ids=None, limit=5, offset=0)
            assert amber is not None and amber.order == SearchOrder.NEWEST
            assert session.execute(sql_text("SHOW enable_seqscan")).scalar() == "on"


def test_dense_words_walk_the_list_order_when_that_costs_less(
    store: Store, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.kind != "sqlite":
        pytest.skip("SQLite's FTS5 merges a prefix's lists; PostgreSQL's GIN does not")
    # Given the small limits, and a row indexed alone as cheap as one match merged
    _small_limits(monkeypatch, PROBE_ROW_COST=1, WALK_ROW_COST=1)
    walked = probed = 0
    with Session(store.engine) as session:
        # When each page is asked for
        for principal, query, offset, limit, everything, page in _every_page(
            store, session, statements
        ):
            where = (principal.user_id, query, offset, limit)
            if len(everything) <= search_limits.RANK_LIMIT:
                assert page.order == SearchOrder.RELEVANCE, where
                continue
            # Then it is the scan's page, however it was found
            assert page.order == SearchOrder.NEWEST, where
            assert page.ids == everything[offset : offset + limit], where
            if page.total.exact:
                assert page.total.value == len(everything), where
            else:
                assert 0 < page.total.value <= 10 * len(everything), where
            listed = any(
                s.startswith("SELECT snapshot.id, ss.id") and "OFFSET" in s for s in statements
            )
            walked += listed and not _window_was_read(store.kind, statements)
            probed += listed and any(s.startswith("SELECT id, url") for s in statements)
    # And dense words' near pages were found by walking the list order, each chunk's rows
    # indexed alone (no window, no FTS5 merge), for both principals
    assert walked >= 5 and probed >= 5, (walked, probed)


def test_the_walk_is_not_taken_when_the_rows_text_costs_more_than_the_merge(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.kind != "sqlite":
        pytest.skip("SQLite's FTS5 merges a prefix's lists; PostgreSQL's GIN does not")
    from crawler.search_sqlite import SqliteEngine

    # Given the small limits, a row indexed alone as cheap as one match merged
    _small_limits(monkeypatch, PROBE_ROW_COST=1, WALK_ROW_COST=1)

    def walk_pays() -> bool:
        with Session(store.engine) as session:
            engine = SqliteEngine(session, search.parse_query("amber"), None, 5, 5)
            assert engine.count_upto() > search_limits.RANK_LIMIT and engine.deferred
            return engine.walk_pays(5, 1.0)

    # When the search rows hold titles alone, a near page of a dense word is walked
    assert walk_pays()
    # And when the newest rows carry a captured page's text, it is not: indexing them
    # alone would read more than FTS5's merge of the word's lists
    with db.session_scope(store.engine) as session:
        session.execute(
            sql_text(
                "UPDATE snapshot_search SET text = :text WHERE id IN "
                "(SELECT id FROM snapshot_search ORDER BY id DESC LIMIT 100)"
            ),
            {"text": "lorem ipsum dolor " * 400},
        )
    assert not walk_pays()


def test_a_tenant_with_few_of_the_newest_rows_is_not_asked_about_the_exact_words(
    store: Store, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.kind != "sqlite":
        pytest.skip("SQLite's FTS5 merges a prefix's lists; PostgreSQL's GIN does not")
    from crawler.search_sqlite import SqliteEngine

    def count(principal: Principal) -> tuple[bool, bool]:
        """Whether the exact words were asked about, and whether they decided."""
        statements.clear()
        with Session(store.engine) as session:
            engine = SqliteEngine(
                session, search.parse_query("amber"), principal.workspace_ids, 5, 5
            )
            assert engine.count_upto() > search_limits.RANK_LIMIT
        asked = any("ORDER BY snapshot_fts.rowid DESC" in s for s in statements)
        return asked, engine.deferred

    # Given a count reading the newest 40 of the 400 search rows (the tenant with 100
    # rows wrote the newest 100): that tenant holds too few rows, on average, to have
    # 12 matches among 40, the one with 300 enough
    _small_limits(monkeypatch, NEWEST_SPAN=40)
    # When each counts a common word's matches
    # Then only the large tenant is asked about the exact words (it has none there: its
    # count then reads the merge too)
    assert count(store.first) == (True, False)
    assert count(store.second) == (False, False)
    # And given a count reading the newest 60, the small tenant is asked, and its
    # exact words (in most of those rows, all its own) decide without the merge
    _small_limits(monkeypatch, NEWEST_SPAN=60)
    assert count(store.second) == (True, True)


def _titled_store(
    server: PostgresServer, name: str, title: str, count: int
) -> tuple[str, Engine, Principal]:
    """A fresh PostgreSQL database at the newest schema with `count` bookmarks titled
    `title`, bulk-imported by one user: its url, an engine and that user."""
    url = server.create_database(f"{name}_{time.time_ns()}")
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, "mig"))
        entries = [
            snaps.UrlEntry(url=f"https://{name.replace('_', '-')}.example.com/{n}", title=title)
            for n in range(count)
        ]
        snaps.add_urls(session, principal=principal, entries=entries, index_only=True)
    return url, engine, principal


def test_migration_0024_indexes_the_search_rows_list_order(
    postgres_server: PostgresServer,
) -> None:
    from alembic import command

    # Given a PostgreSQL store at the newest schema with a few matches
    url, engine, principal = _titled_store(postgres_server, "search_0024", "Lantern", 5)

    def indexes() -> set[str]:
        with engine.connect() as conn:
            return set(
                conn.execute(
                    sql_text("SELECT indexname FROM pg_indexes WHERE tablename = 'snapshot_search'")
                ).scalars()
            )

    def newest_first() -> list[str]:
        with Session(engine) as session:
            page = search_page(session, "lantern", workspace_ids=None, limit=3, offset=1)
            assert page is not None and page.order == SearchOrder.NEWEST
            return page.ids

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search_limits, "RANK_LIMIT", 2)
        assert "ix_snapshot_search_created" in indexes()
        before = newest_first()
        # When 0024 goes down, Then the index is gone and the same page still comes back
        command.downgrade(db.alembic_config(url), "0023")
        assert "ix_snapshot_search_created" not in indexes()
        assert newest_first() == before
        # When it comes back up, Then so does the index
        db.upgrade(url)
        assert "ix_snapshot_search_created" in indexes()
        assert newest_first() == before
    with Session(engine) as session:
        everything = _newest_reference(session, principal, "lantern")
    assert len(before) == 3 and before == everything[1:4]
    engine.dispose()


def test_migration_0025_keeps_each_snapshots_status_on_its_search_row(
    postgres_server: PostgresServer,
) -> None:
    from alembic import command

    # Given a PostgreSQL store at the newest schema with six bulk-imported snapshots
    url, engine, principal = _titled_store(postgres_server, "search_0025", "Quill", 6)
    with Session(engine) as session:
        ids = list(session.exec(select(Snapshot.id).order_by(col(Snapshot.created_at))))

    def flip(snapshot_id: str, status: str) -> None:
        with engine.begin() as conn:
            conn.execute(
                sql_text("UPDATE snapshot SET status = :s WHERE id = :id"),
                {"s": status, "id": snapshot_id},
            )

    def statuses() -> dict[str, tuple[str, str]]:
        """Each snapshot's status and its search row's."""
        with engine.connect() as conn:
            rows = conn.execute(
                sql_text(
                    "SELECT s.id, s.status, ss.status FROM snapshot s "
                    "JOIN snapshot_search ss ON ss.snapshot_id = s.id"
                )
            ).all()
        return {str(sid): (str(own), str(kept)) for sid, own, kept in rows}

    def document_index() -> str:
        with engine.connect() as conn:
            return str(
                conn.execute(
                    sql_text(
                        "SELECT indexdef FROM pg_indexes "
                        "WHERE indexname = 'ix_snapshot_search_document'"
                    )
                ).scalar_one()
            )

    # Then the bulk import wrote each status on the search rows, and a flip follows
    assert {kept for _, kept in statuses().values()} == {"queued"}
    flip(ids[0], "failed")
    flip(ids[1], "failed")
    assert all(own == kept for own, kept in statuses().values()), statuses()
    assert statuses()[ids[0]] == ("failed", "failed")
    assert "(document, status, tag_ids)" in document_index()
    # And the words beside the status are found in the index, newest first like a scan
    with pytest.MonkeyPatch.context() as patch, Session(engine) as session:
        patch.setattr(search_limits, "RANK_LIMIT", 2)
        filters = SnapshotFilters(search="quill", status="failed")
        page = query_page(session, principal, filters, limit=5, offset=0)
        assert page.search_order == SearchOrder.NEWEST
        failed = select(Snapshot.id).where(col(Snapshot.status) == "failed")
        scan = list(
            session.exec(failed.order_by(col(Snapshot.created_at).desc(), col(Snapshot.id)))
        )
        assert [r.id for r in page.rows] == scan and page.total.value == 2
    # And one scan of that index takes the words, the status and a tag together (the
    # title+tag index set aside for the plan, in a transaction rolled back)
    with engine.connect() as conn:
        conn.execute(sql_text("SET LOCAL enable_seqscan = off"))
        conn.execute(sql_text("DROP INDEX ix_snapshot_search_title_tags"))
        plan = "\n".join(
            conn.execute(
                sql_text(
                    "EXPLAIN SELECT 1 FROM snapshot_search WHERE document @@ "
                    "to_tsquery('english', 'quill') AND status = 'failed' "
                    "AND tag_ids && CAST(ARRAY['t1'] AS varchar(64)[])"
                )
            ).scalars()
        )
        conn.rollback()
    assert "Index Cond" in plan and "ix_snapshot_search_document" in plan, plan
    assert all(c in plan.split("Index Cond")[1] for c in ("document", "status", "tag_ids")), plan
    # When 0025 goes down, Then the column is gone and the index holds the words alone
    command.downgrade(db.alembic_config(url), "0024")
    with engine.connect() as conn:
        columns = conn.execute(
            sql_text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'snapshot_search'"
            )
        ).scalars()
        assert "status" not in set(columns)
    assert "(document)" in document_index()
    flip(ids[2], "succeeded")  # a flip the old trigger does not copy
    # When it comes back up, Then every search row has its snapshot's status again
    db.upgrade(url)
    assert statuses()[ids[2]] == ("succeeded", "succeeded")
    assert all(own == kept for own, kept in statuses().values()), statuses()
    assert "(document, status, tag_ids)" in document_index()
    # And a search row lost and made again from the snapshot has it too
    with engine.begin() as conn:
        conn.execute(
            sql_text("DELETE FROM snapshot_search WHERE snapshot_id = :id"), {"id": ids[1]}
        )
    with db.session_scope(engine) as session:
        search.index_text(session, ids[1], "quill text")
    assert statuses()[ids[1]] == ("failed", "failed")
    engine.dispose()


def test_a_search_with_too_many_matches_says_newest_first(tmp_path: Path) -> None:
    # Given an embedded store with 2,100 imported bookmarks titled "Lantern …", and an
    # early one that names it thrice (it would rank first)
    lines = [f'{{"url": "https://l.example.com/{n}", "title": "Lantern {n}"}}' for n in range(2100)]
    lines[0] = '{"url": "https://l.example.com/0", "title": "Lantern lantern lantern"}'
    bookmarks = tmp_path / "lanterns.jsonl"
    bookmarks.write_text("\n".join(lines) + "\n")
    env = amber_env(tmp_path / "data")
    imported = run_amber(env, "import", str(bookmarks), "--index-only")
    assert imported.returncode == 0, imported.stderr
    server = AmberServer(env=env, args=("--no-workers",)).start()
    try:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

        def listed(**params: Any) -> dict[str, Any]:
            answer = httpx.get(
                f"{server.url}/api/v1/core/snapshots", params=params, headers=headers
            )
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        newest = [item["title"] for item in listed(limit=3)["items"]]
        assert len(newest) == 3 and "Lantern lantern lantern" not in newest
        # When the API and `amber search` ask for the word all of them hold
        found = listed(search="lantern", limit=3)
        done = run_amber(env, "search", "lantern", "--limit", "3")
        # Then both list the newest, as the plain list does, and say so
        assert found["search_order"] == "newest" and found["count"] == 2100
        assert [item["title"] for item in found["items"]] == newest
        assert done.returncode == 0, done.stderr
        assert "2100 matches, too many to rank; newest 3:" in done.stdout
        printed = [
            line.split(". ", 1)[1] for line in done.stdout.splitlines() if ". Lantern" in line
        ]
        assert printed == newest
        # And a search with few matches is still ranked, and says so
        few = listed(search="lantern 0")
        assert few["search_order"] == "relevance" and few["count"] == 1
        assert few["items"][0]["title"] == "Lantern lantern lantern"
        # And the browse page says which order it shows
        with web_sign_in(server.url) as browser:
            broad = browser.get("/", params={"q": "lantern"})
            narrow = browser.get("/", params={"q": "lantern 0"})
        assert broad.status_code == 200 and narrow.status_code == 200
        assert "newest first: too many to rank by relevance" in broad.text
        assert all(title in broad.text for title in newest)
        assert "too many to rank" not in narrow.text and "Lantern lantern lantern" in narrow.text
    finally:
        server.stop()


def test_an_estimated_total_says_so_on_the_browse_page_and_in_the_api(tmp_path: Path) -> None:
    # Given an embedded store with 25,000 bookmarks titled "Lantern …": more search rows
    # than SQLite's count reads, so a near page is walked and its total estimated
    lines = [
        f'{{"url": "https://l.example.com/{n}", "title": "Lantern {n}"}}' for n in range(25_000)
    ]
    bookmarks = tmp_path / "lanterns.jsonl"
    bookmarks.write_text("\n".join(lines) + "\n")
    env = amber_env(tmp_path / "data")
    imported = run_amber(env, "import", str(bookmarks), "--index-only")
    assert imported.returncode == 0, imported.stderr
    server = AmberServer(env=env, args=("--no-workers",)).start()
    try:
        # When the API and the browse page are first asked for the word all of them hold
        answer = httpx.get(
            f"{server.url}/api/v1/core/snapshots",
            params={"search": "lantern", "limit": 5},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        with web_sign_in(server.url) as browser:
            browse = browser.get("/", params={"q": "lantern"})
        # Then both say the total is an estimate, as the envelope allows
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert found["search_order"] == "newest" and found["count_is_estimate"] is True
        assert 0 < found["count"] <= 10 * 25_000 and len(found["items"]) == 5
        assert browse.status_code == 200
        assert re.search(r"about <strong>[\d,]+</strong> snapshots matching", browse.text)
        # And an exact total does not
        with web_sign_in(server.url) as browser:
            tagged = browser.get("/", params={"domain": "l.example.com"})
        assert "<strong>25,000</strong> snapshots" in tagged.text
        assert "about <strong>" not in tagged.text
    finally:
        server.stop()


OTHER_FILTERS: list[dict[str, Any]] = [
    {"status": "failed"},
    {"tag": "red"},
    {"domain": "s3.example.com"},
    {"created_at__gte": datetime(2025, 1, 20, tzinfo=UTC)},
    # a range in the middle of the list, naive (taken as UTC), and one ending before it
    {"created_at__gte": datetime(2025, 1, 8), "created_at__lt": datetime(2025, 1, 20)},
    {"created_at__lt": datetime(2025, 1, 12, tzinfo=UTC)},
    {"tag": "blue", "status": "succeeded"},
    {"title": "fossil"},  # contains filters: trigram candidates, each confirmed
    {"url__icontains": "S3.Example"},
]


def test_search_beside_other_filters_pages_like_a_scan(
    store: Store, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the limits above, and other filters leaving few rows (drive) or many (windows),
    # and SQLite indexing a few rows alone for "resi*" as often as it asks FTS5 (each row
    # here costs ~15 matches merged: ~12 of "resi*"'s ~140 matches are worth a probe)
    _small_limits(monkeypatch, DRIVE_LIMIT=60, FIRST_WINDOW=8, PROBE_ROW_COST=1, WALK_ROW_COST=1)
    if store.kind == "postgres":
        with store.engine.begin() as conn:
            conn.execute(sql_text("ANALYZE"))
    seen = {"relevance": 0, "newest": 0, "windows": 0, "driven": 0, "walked": 0}
    seen |= {"row tags": 0, "row status": 0, "status in index": 0, "status by row": 0}
    seen |= {"share sampled": 0, "estimated": 0, "driven, estimated": 0, "title trigrams": 0}
    seen |= {
        "range walked": 0,
        "list walked": 0,
        "candidates by rowid": 0,
        "exact words decided": 0,
        "rows probed": 0,
        "driven, FTS5": 0,
    }
    with Session(store.engine) as session:
        for principal in (store.admin, store.first):
            for others in OTHER_FILTERS:
                # The other filters' own list (the list machinery's order), as the reference
                listed = query_page(
                    session, principal, SnapshotFilters(**others), limit=500, offset=0
                )
                kept = [r.id for r in listed.rows]
                for query in ("amber", "resi", "lantern", "harbour amber"):
                    matches = set(_newest_reference(session, principal, query))
                    newest = [i for i in kept if i in matches]
                    ranked = [
                        i
                        for i in _ranked_reference(session, principal, query, limit=500, offset=0)
                        if i in set(kept)
                    ]
                    for offset, limit in PAGES:
                        statements.clear()
                        # When the words and the other filters are asked for together
                        filters = SnapshotFilters(search=query, **others)
                        page = query_page(session, principal, filters, limit=limit, offset=offset)
                        where = (principal.user_id, query, others, offset, limit)
                        got = [r.id for r in page.rows]
                        if len(matches) <= search_limits.RANK_LIMIT:
                            # Then words with few matches are ranked as before
                            assert page.search_order == SearchOrder.RELEVANCE, where
                            assert got == ranked[offset : offset + limit], where
                        else:
                            # Then words with many are listed newest first: the scan's page
                            assert page.search_order == SearchOrder.NEWEST, where
                            assert got == newest[offset : offset + limit], where
                            if page.total.exact:
                                assert page.total.value == len(newest), where
                            else:  # estimated from the rows tested, then counted
                                assert 0 < page.total.value <= 10 * len(newest), where
                                seen["estimated"] += 1
                                if _driven(store.kind, statements):
                                    # (from this principal's rows alone)
                                    assert page.total.value <= len(kept), where
                                    seen["driven, estimated"] += 1
                            seen["windows"] += _window_was_read(store.kind, statements)
                            seen["walked"] += _walked_newest_matches(
                                statements
                            ) and not _window_was_read(store.kind, statements)
                            seen["driven"] += _driven(store.kind, statements)
                            seen["row tags"] += any("coalesce(ss.tag_ids" in s for s in statements)
                            seen["row status"] += any(
                                "ss.status" in s and "JOIN snapshot " not in s for s in statements
                            )
                            seen["status in index"] += any(
                                "AND ss.status =" in s for s in statements
                            )
                            seen["status by row"] += any(
                                "coalesce(ss.status" in s for s in statements
                            )
                        seen[page.search_order.value] += 1
                        seen["title trigrams"] += any("ss.title ILIKE" in s for s in statements)
                        list_walked = any(
                            s.startswith("SELECT snapshot.id, ss.id") and "OFFSET" in s
                            for s in statements
                        )
                        seen["range walked"] += list_walked
                        seen["candidates by rowid"] += any(
                            s.startswith("SELECT snapshot.id, ss.id")
                            and "ss.id IN (SELECT rowid FROM snapshot_trgm_" in s
                            for s in statements
                        )
                        # (dense words beside a status, a tag, a contains filter: the
                        # list order walked, the rows passing tested a chunk at a time)
                        seen["list walked"] += list_walked and "created_at__lt" not in others
                        seen["exact words decided"] += any(
                            "ORDER BY snapshot_fts.rowid DESC" in s for s in statements
                        )
                        probed = any(s.startswith("SELECT id, url, title") for s in statements)
                        seen["rows probed"] += probed
                        seen["driven, FTS5"] += _driven(
                            store.kind, statements
                        ) and _out_of_order_tested(statements)
                        seen["share sampled"] += any(
                            "count(*) AS count_1 FROM snapshot WHERE snapshot.id IN "
                            "(SELECT snapshot.id FROM snapshot" in " ".join(s.split())
                            for s in statements
                        )
    # And every way was taken: ranking, windows (SQLite: or the walk), the few rows driving
    assert seen["relevance"] and seen["newest"] and seen["windows"] + seen["walked"] >= 10, seen
    if store.kind == "sqlite":
        assert seen["walked"] >= 10 and seen["windows"] >= 1, seen
        # (a contains filter with many candidates sized by its share of the newest rows;
        # the few rows tested only as far as the page needed, the rest counted later)
        assert seen["share sampled"] >= 3 and seen["driven, estimated"] >= 3, seen
        # (a created_at range ending before the newest rows walked in list order)
        assert seen["range walked"] >= 3, seen
        # (the words without their prefix found to match too many to rank, so the few
        # rows drove without reading the newest matches; each chunk's rows indexed alone
        # when few next to the prefix's matches, else tested by FTS5)
        assert seen["exact words decided"] >= 3 and seen["rows probed"] >= 3, seen
        assert seen["driven, FTS5"] >= 1 and seen["list walked"] >= 3, seen
        # (a contains filter's few candidates listed by their search rows' ids)
        assert seen["candidates by rowid"] >= 3, seen
    assert seen["driven"] >= 3, seen
    if store.kind == "postgres":  # a tag, a status beside the words: read off the search rows
        assert seen["row tags"] >= 3 and seen["row status"] >= 6, seen
        # (a status with few matches of the words found by GIN, all at once; with many,
        # tested on each row of a narrow window)
        assert seen["status in index"] >= 3 and seen["status by row"] >= 1, seen
        # (a title term found by the search rows' trigram index, inside the window)
        assert seen["title trigrams"] >= 3, seen


def test_a_walked_range_estimates_its_total_from_the_principals_own_rows(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.kind != "sqlite":
        pytest.skip("SQLite walks a range in list order; PostgreSQL finds it in windows")
    # Given the small limits, and the tenant with a quarter of the rows
    _small_limits(monkeypatch)
    before = datetime(2025, 1, 20, tzinfo=UTC)
    with Session(store.engine) as session:
        in_range = query_page(
            session, store.second, SnapshotFilters(created_at__lt=before), limit=500, offset=0
        )
        # When a common word's first page in a range that ends before the newest rows
        # is asked for, and the range is walked only as far as the page needs
        filters = SnapshotFilters(search="amber", created_at__lt=before)
        page = query_page(session, store.second, filters, limit=5, offset=0)
    # Then its estimated total counts only that tenant's rows in the range
    assert page.search_order == SearchOrder.NEWEST and len(page.rows) == 5
    assert not page.total.exact
    assert 0 < page.total.value <= len(in_range.rows), (page.total, len(in_range.rows))


def test_a_filters_share_of_the_newest_rows_is_of_the_rows_sampled(store: Store) -> None:
    from crawler.search_pages import _newest_share

    # Given the tenant with 100 rows, fewer than the sample of the newest 1,000
    visible = col(Snapshot.workspace_id).in_(store.second.workspace_ids)
    titled = col(Snapshot.title).contains("fossil")
    with Session(store.engine) as session:
        rows = list(session.exec(select(Snapshot.id).where(visible)))
        passing = list(session.exec(select(Snapshot.id).where(visible, titled)))
        # When the share of its rows with "fossil" in the title is taken
        share, seen = _newest_share(session, select(col(Snapshot.id)).where(visible), [titled])
    # Then it is of the rows there were, not of the sample's size
    assert len(rows) == 100 and len(passing) > 1
    assert seen == len(passing) and share == len(passing) / 100
