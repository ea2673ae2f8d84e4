"""Full-text search on real SQLite (FTS5) and PostgreSQL (tsvector): ranking, snippets,
the index following url/title/tags/text changes, hostile queries, the API's ranked
`search` filter, and text captured from the local test site found by `amber search`."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from crawler import db, search
from crawler import snapshots as snaps
from crawler.auth import Principal, ensure_user, principal_for_user
from crawler.models import Snapshot
from crawler.search_pages import SearchOrder, search_page
from crawler.snapshot_query import SnapshotFilters, query_page, query_snapshots
from tests.conftest import ADMIN_TOKEN, run_amber
from tests.services import AmberServer, PostgresServer
from tests.site import TestSite


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Principal]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'search.sqlite3'}"
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        url = pg.create_database(f"search_{time.time_ns()}")
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, "searcher"))
    yield engine, principal
    engine.dispose()


def add(
    engine: Engine, principal: Principal, url: str, title: str, tags: tuple[str, ...] = ()
) -> str:
    with db.session_scope(engine) as session:
        outcome = snaps.add_urls(
            session,
            principal=principal,
            entries=[snaps.UrlEntry(url=url, title=title, tags=tags)],
            index_only=True,
        )
    return outcome.snapshot_ids[0]


def ranked(engine: Engine, principal: Principal, query: str) -> list[str]:
    with Session(engine) as session:
        rows, _ = query_snapshots(
            session, principal, SnapshotFilters(search=query), limit=50, offset=0
        )
    return [r.id for r in rows]


def test_ranking_title_beats_tag_beats_url_beats_text(store: tuple[Engine, Principal]) -> None:
    engine, principal = store
    # Given four snapshots that mention "lighthouse" in different places
    in_text = add(engine, principal, "https://a.example.com/x", "Harbour notes")
    in_url = add(engine, principal, "https://lighthouse.example.com/", "Coastal page")
    in_title = add(engine, principal, "https://c.example.com/", "The lighthouse keeper")
    unrelated = add(engine, principal, "https://d.example.com/", "Mountains")
    with db.session_scope(engine) as session:
        search.index_text(session, in_text, "Long text. " * 50 + "A lighthouse appears once.")
    # When searched
    order = ranked(engine, principal, "lighthouse")
    # Then the title match ranks first, the text-only match last, the unrelated one not at all
    assert order[0] == in_title
    assert set(order) == {in_title, in_url, in_text}
    assert order.index(in_url) < order.index(in_text)
    assert unrelated not in order


def test_stemming_prefix_phrase_and_all_words(store: tuple[Engine, Principal]) -> None:
    engine, principal = store
    tides = add(engine, principal, "https://sea.example.com/charts", "Tidal charts of old harbours")
    paper = add(engine, principal, "https://example.org/paper", "Smell of old paper")
    # Then plural/singular, prefixes, quoted phrases and multi-word AND behave
    assert ranked(engine, principal, "harbour") == [tides]
    assert ranked(engine, principal, "tida") == [tides]
    assert ranked(engine, principal, '"old paper"') == [paper]
    assert ranked(engine, principal, '"paper old"') == []
    assert ranked(engine, principal, "old charts") == [tides]
    assert ranked(engine, principal, "sea.example.com") == [tides]


def test_index_follows_title_url_tag_and_delete(store: tuple[Engine, Principal]) -> None:
    engine, principal = store
    snapshot_id = add(engine, principal, "https://x.example.com/", "Sunrise title", ("oldtag",))
    # When the title changes, a tag is swapped and then the snapshot is deleted
    with db.session_scope(engine) as session:
        row = session.get(Snapshot, snapshot_id)
        assert row is not None
        row.title = "Sunset title"
        session.add(row)
        snaps.set_snapshot_tags(session, row, ["newtag"], user_id=principal.user_id)
    # Then search sees only the new words
    assert ranked(engine, principal, "sunset") == [snapshot_id]
    assert ranked(engine, principal, "sunrise") == []
    assert ranked(engine, principal, "newtag") == [snapshot_id]
    assert ranked(engine, principal, "oldtag") == []
    with db.session_scope(engine) as session:
        row = session.get(Snapshot, snapshot_id)
        assert row is not None
        snaps.delete_snapshot(session, row)
    assert ranked(engine, principal, "sunset") == []
    with Session(engine) as session:
        assert search.indexed_text(session, snapshot_id) is None


def test_snippets_mark_the_match(store: tuple[Engine, Principal]) -> None:
    engine, principal = store
    snapshot_id = add(engine, principal, "https://s.example.com/", "Snippet page")
    text = "Nothing here. " * 40 + "The quick brown fox jumps over the lazy dog. " + "Filler. " * 40
    with db.session_scope(engine) as session:
        search.index_text(session, snapshot_id, text)
    with Session(engine) as session:
        found = search.snippets(session, "brown fox", [snapshot_id])
    snippet = found[snapshot_id]
    assert f"{search.MARK_START}brown{search.MARK_END}" in snippet
    assert len(snippet) < 400


def test_snippets_of_a_prefix_mark_the_whole_word_else_the_longer_one(
    store: tuple[Engine, Principal],
) -> None:
    engine, principal = store
    # Given one page with the word itself far into its text, and one with only a longer word
    whole = add(engine, principal, "https://w.example.com/", "Weekly newsletter")
    longer = add(engine, principal, "https://l.example.com/", "Monthly newsletter")
    with db.session_scope(engine) as session:
        search.index_text(
            session, whole, "Filler words. " * 30 + "Local news today. " + "End. " * 30
        )
        search.index_text(session, longer, "Filler words. " * 30 + "Nothing more. ")
    # When both are given snippets for the prefix "news"
    with Session(engine) as session:
        found = search.snippets(session, "news", [whole, longer])
    # Then each is marked where it matched: the longer word only where the word is missing
    mark = f"{search.MARK_START}%s{search.MARK_END}"
    assert mark % "newsletter" in found[longer], found
    if store[0].dialect.name == "sqlite":  # whole words first (FTS5 merges a prefix's lists)
        assert mark % "news" in found[whole] and "today" in found[whole], found
    else:
        assert search.MARK_START in found[whole], found


@pytest.mark.parametrize(
    "query",
    [
        "c++",
        '"',
        '"unclosed',
        ")(*&^%",
        "AND OR NOT",
        "a" * 5000,
        "NEAR(x y)",
        "col:val",
        "-",
        "'; DROP TABLE snapshot; --",
    ],
)
def test_hostile_queries_never_fail(store: tuple[Engine, Principal], query: str) -> None:
    engine, principal = store
    add(engine, principal, "https://safe.example.com/", "Safe")
    # When a query full of engine syntax is run / Then it simply answers (no syntax error)
    assert isinstance(ranked(engine, principal, query), list)
    with Session(engine) as session:
        assert isinstance(search.snippets(session, query, ["x"]), dict)


def test_id_and_timestamp_prefix_still_match(store: tuple[Engine, Principal]) -> None:
    engine, principal = store
    snapshot_id = add(engine, principal, "https://id.example.com/", "Id page")
    with Session(engine) as session:
        row = session.get(Snapshot, snapshot_id)
        assert row is not None
        timestamp = row.timestamp
    assert snapshot_id in ranked(engine, principal, snapshot_id[:13])
    assert snapshot_id in ranked(engine, principal, timestamp)


def test_api_search_is_ranked_and_safe(admin_client: httpx.Client) -> None:
    # Given snapshots added through the API (JSON Lines import with titles), on both stores
    marker = f"quokka{time.time_ns()}"
    lines = "\n".join(
        [
            f'{{"url": "https://r.example.com/{marker}/1", "title": "Nothing relevant"}}',
            f'{{"url": "https://r.example.com/2", "title": "All about the {marker}"}}',
        ]
    )
    added = admin_client.post(
        "/api/v1/cli/add", json={"urls": lines, "parser": "jsonl", "index_only": True}
    )
    assert added.status_code == 200, added.text
    # When searched / Then the title match comes first and both are counted
    page = admin_client.get("/api/v1/core/snapshots", params={"search": marker}).json()
    assert page["count"] == 2
    assert page["items"][0]["title"] == f"All about the {marker}"
    assert f"<mark>{marker}</mark>" in page["items"][0]["search_snippet"]
    # And hostile queries are answered, not 500s
    for query in ['"', "c++", ")(", "x" * 3000]:
        response = admin_client.get("/api/v1/core/snapshots", params={"search": query})
        assert response.status_code == 200, response.text


def test_captured_text_is_searchable(site: TestSite, tmp_path: Path) -> None:
    # Given an embedded server that captures the rich test page (real Chromium, once)
    env = {
        "AMBER_DATA_DIR": str(tmp_path / "data"),
        "AMBER_ALLOWED_NETWORKS": "127.0.0.1/32",
        "AMBER_ADMIN_TOKEN": ADMIN_TOKEN,
        "AMBER_CAPTURE_TIMEOUT": "30",
    }
    server = AmberServer(env=env).start()
    try:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        added = httpx.post(
            f"{server.url}/api/v1/cli/add",
            json={"urls": [site.url("/page.html")]},
            headers=headers,
            timeout=30,
        ).json()
        snapshot_id = added["snapshot_ids"][0]
        deadline = time.monotonic() + 120
        status = ""
        while time.monotonic() < deadline:
            status = httpx.get(
                f"{server.url}/api/v1/core/snapshot/{snapshot_id}", headers=headers
            ).json()["status"]
            if status in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        assert status == "succeeded"
        # When searching for words that occur only in the page's body text
        page = httpx.get(
            f"{server.url}/api/v1/core/snapshots",
            params={"search": "tidal charts"},
            headers=headers,
        ).json()
        # Then the capture is found through its extracted text
        assert [s["id"] for s in page["items"]] == [snapshot_id]
    finally:
        server.stop()
    # And `amber search` prints it with a snippet around the match
    done = run_amber(env, "search", "lighthouses")
    assert done.returncode == 0, done.stderr
    assert "Amber Rich Page" in done.stdout
    assert "lighthouses" in done.stdout and "tidal" in done.stdout


def test_search_migration_downgrades_and_upgrades(store: tuple[Engine, Principal]) -> None:
    from alembic import command
    from sqlalchemy import inspect

    engine, principal = store
    snapshot_id = add(engine, principal, "https://mig.example.com/", "Migration survivor")
    url = engine.url.render_as_string(hide_password=False)
    # When the search branch is taken down and brought back
    command.downgrade(db.alembic_config(url), "0004-1")
    engine.dispose()
    assert "snapshot_search" not in inspect(engine).get_table_names()
    db.upgrade(url)
    engine.dispose()
    # Then existing snapshots are indexed again by the upgrade's backfill
    assert ranked(engine, principal, "survivor") == [snapshot_id]


def _joined_page(
    session: Session, principal: Principal, query: str, *, limit: int, offset: int
) -> tuple[list[str], int]:
    """The general path's page: the matches joined to their snapshots (a harmless date
    bound keeps query_page off the search rows' own order)."""
    filters = SnapshotFilters(search=query, created_at__lt=datetime(2100, 1, 1, tzinfo=UTC))
    page = query_page(session, principal, filters, limit=limit, offset=offset)
    return [r.id for r in page.rows], page.total.value


def test_search_rows_keep_the_joined_order_and_workspaces(postgres_server: PostgresServer) -> None:
    # Given a PostgreSQL store with two tenants, words that tie on relevance by the dozen,
    # some in tags and urls, and many snapshots sharing one created_at
    url = postgres_server.create_database(f"search_order_{time.time_ns()}")
    db.upgrade(url)
    engine = db.make_engine(url)
    rng = random.Random(19)
    words = ["amber", "resin", "fossil", "insect", "tide"]
    with db.session_scope(engine) as session:
        first = principal_for_user(session, ensure_user(session, "first"))
        second = principal_for_user(session, ensure_user(session, "second"))
        admin = principal_for_user(session, ensure_user(session, "root", admin=True))
    for n in range(160):
        title = " ".join(rng.choice(words) for _ in range(rng.randint(1, 3)))
        tags = (rng.choice(words),) if n % 5 == 0 else ()
        owner = first if n % 3 else second
        add(engine, owner, f"https://s{n % 7}.example.com/{rng.choice(words)}/{n}", title, tags)
    with db.session_scope(engine) as session:  # ties on created_at, through the update trigger
        session.execute(
            sql_text("UPDATE snapshot SET created_at = :t WHERE url LIKE '%amber%'"),
            {"t": datetime(2026, 1, 1, tzinfo=UTC)},
        )
    # When each query is paged through the search rows and through the joined path
    with Session(engine) as session:
        stored = session.execute(
            sql_text(
                "SELECT count(*) FROM snapshot s JOIN snapshot_search ss ON ss.snapshot_id = s.id "
                "WHERE ss.created_at = s.created_at AND ss.workspace_id = s.workspace_id"
            )
        ).scalar_one()
        assert stored == 160
        for principal in (admin, first, second):
            for query in ("amber", "resin fossil", "tid", '"amber resin"', "s3 example"):
                for offset, limit in ((0, 50), (7, 11), (40, 50)):
                    workspaces = None if principal.is_admin else list(principal.workspace_ids)
                    fast = search_page(
                        session, query, workspace_ids=workspaces, limit=limit, offset=offset
                    )
                    assert fast is not None and fast.order == SearchOrder.RELEVANCE
                    ids, total = _joined_page(session, principal, query, limit=limit, offset=offset)
                    # Then both give the same snapshots in the same order, and the same total
                    assert fast.ids == ids, (principal.user_id, query, offset)
                    assert fast.total.value == total and fast.total.exact
                    # And query_page itself answers from the search rows with that page
                    page = query_page(
                        session,
                        principal,
                        SnapshotFilters(search=query),
                        limit=limit,
                        offset=offset,
                    )
                    assert [r.id for r in page.rows] == ids
    engine.dispose()


def test_migration_0019_downgrades_and_upgrades(postgres_server: PostgresServer) -> None:
    from alembic import command
    from sqlalchemy import inspect

    # Given a PostgreSQL store at 0019 with a snapshot
    url = postgres_server.create_database(f"search_0019_{time.time_ns()}")
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, "mig"))
    before = add(engine, principal, "https://before.example.com/", "Lighthouse before")
    # When 0019 is taken down, Then the search rows lose the two columns and still follow
    command.downgrade(db.alembic_config(url), "0018")
    engine.dispose()
    columns = {c["name"] for c in inspect(engine).get_columns("snapshot_search")}
    assert "created_at" not in columns and "workspace_id" not in columns
    during = add(engine, principal, "https://during.example.com/", "Lighthouse during")
    with Session(engine) as session:
        indexed = session.execute(sql_text("SELECT snapshot_id FROM snapshot_search")).scalars()
        assert set(indexed) == {before, during}
    # When it is brought back, Then every row has its snapshot's order and workspace again
    db.upgrade(url)
    engine.dispose()
    after = add(engine, principal, "https://after.example.com/", "Lighthouse after")
    with Session(engine) as session:
        found = search_page(
            session, "lighthouse", workspace_ids=list(principal.workspace_ids), limit=10, offset=0
        )
        assert found is not None
        assert found.ids == [after, during, before]
        missing = session.execute(
            sql_text(
                "SELECT count(*) FROM snapshot s LEFT JOIN snapshot_search ss "
                "ON ss.snapshot_id = s.id AND ss.created_at = s.created_at "
                "AND ss.workspace_id = s.workspace_id WHERE ss.id IS NULL"
            )
        ).scalar_one()
        assert missing == 0
    engine.dispose()
