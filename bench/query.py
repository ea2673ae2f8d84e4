"""List-filter latency at millions of snapshots, on SQLite and PostgreSQL (a benchmark).

For each store it:

1. fills a store (default 1,000,000 snapshots, one archive result each, tags,
   crawls) at the schema *before* migration 0008, by bulk insert (executemany
   on SQLite, COPY on PostgreSQL), then times migrations 0008 and 0016 building
   their indexes over the existing rows, and prints the index sizes;
2. serves it with `amber serve --no-workers` and prints p50/p95 over HTTP of
   every list filter (title, url contains/exact, domain, tag, status, date
   ranges, crawl_id, search, combinations, deep pages, the ``?url=`` timeline,
   the TimeGate, archive-result filters);
3. beside each substring filter, the plain-scan baseline of the same query
   (the ``lower(col) LIKE '%term%'`` the list ran before 0008), in-process.

    .venv/bin/python bench/query.py [--snapshots N] [--requests N] [--stores sqlite,postgres]
        [--keep DIR]   # reuse (or leave) the filled stores in DIR

    .venv/bin/python bench/query.py --import 100000   # import URLs/s before 0008 / newest
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fill import (  # noqa: E402
    ADMIN_TOKEN,
    TAGS,
    WORDS,
    insert_tags,
    percentile,
    search_index_deferred,
)

BASE = 1_600_000_000
SITES = 20_000
CRAWL_SIZE = 10_000
# What an operator of a multi-million-snapshot store sets (the defaults are sized for a
# laptop): the tables and indexes of 10M snapshots stay in memory, index builds get room.
POSTGRES_SETTINGS = {
    "shared_buffers": "2GB",
    "effective_cache_size": "12GB",
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "2",
}


def stamp(n: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(BASE + n * 30)) + ".000000"


def snapshot_rows(count: int, workspace: str, user: str) -> Iterator[dict[str, Any]]:
    """Snapshots shaped for the filters: 10% on one big host, 30% titled "news",
    a word in 1 of 100,000 titles ("quokka"), 2% per tag, crawls of 10,000."""
    rng = random.Random(11)
    statuses = ["succeeded"] * 80 + ["failed"] * 5 + ["queued"] * 15
    for n in range(count):
        if n % 10 == 0:
            url = f"https://news.example.org/a/{n}"
        else:
            url = f"https://site{n % SITES}.example.com/p/{n}"
        words = [rng.choice(WORDS) for _ in range(4)]
        if rng.random() < 0.3:
            words.append("news")
        if n % 100_000 == 77:
            words.append("quokka")
        created = stamp(n)
        yield {
            "id": f"{n:08d}-0000-7000-8000-000000000000",
            "workspace_id": workspace,
            "created_by_id": user,
            "crawl_id": f"crawl-{n // CRAWL_SIZE}",
            "created_at": created,
            "modified_at": created,
            "bookmarked_at": created,
            "status": rng.choice(statuses),
            "url": url,
            "normalized_url": url,
            "title": " ".join(words).capitalize(),
            "timestamp": f"{BASE + n * 30}.{n % 1_000_000:06d}",
            "depth": 0,
            "attempts": 1,
            "tag": "rare" if n % 10_000 == 5 else TAGS[n % len(TAGS)],
        }


def _prepare(url: str) -> tuple[str, str]:
    """Schema before 0008, the admin token, and (workspace, user) of the admin."""
    from alembic import command
    from sqlalchemy import text

    from crawler import db
    from crawler.auth import issue_token

    db.upgrade(url)
    command.downgrade(db.alembic_config(url), "query@0007")
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        issue_token(session, "admin", admin=True, token=ADMIN_TOKEN)
    with engine.connect() as conn:
        workspace, user = conn.execute(
            text(
                'SELECT m.workspace_id, m.user_id FROM membership m JOIN "user" u '
                "ON u.id = m.user_id WHERE u.username = 'admin'"
            )
        ).one()
    engine.dispose()
    return str(workspace), str(user)


def _migrate_0008(url: str) -> float:
    from crawler import db

    started = time.perf_counter()
    db.upgrade(url, "0008")
    return time.perf_counter() - started


def _migrate_rest(url: str) -> float:
    """The rest of the query branch (0016's filter indexes) over the filled store."""
    from crawler import db

    started = time.perf_counter()
    db.upgrade(url)
    return time.perf_counter() - started


def _crawl_row(k: int, workspace: str, user: str) -> dict[str, Any]:
    return {
        "id": f"crawl-{k}",
        "workspace_id": workspace,
        "created_by_id": user,
        "created_at": stamp(k * CRAWL_SIZE),
        "modified_at": stamp(k * CRAWL_SIZE),
        "status": "sealed",
        "urls": "",
        "max_depth": 0,
        "max_urls": 0,
        "max_size": 0,
        "tags_str": "",
        "label": f"crawl {k}",
        "notes": "",
        "config": "{}",
    }


def _result_row(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": s["id"].replace("-0000-", "-0001-"),
        "snapshot_id": s["id"],
        "created_by_id": s["created_by_id"],
        "created_at": s["created_at"],
        "modified_at": s["created_at"],
        "status": "succeeded" if s["status"] == "succeeded" else "failed",
        "plugin": "warc",
        "cmd_version": "",
        "output_str": "capture.warc.gz",
        "output_files": "{}",
        "output_size": 0,
        "output_mimetypes": "",
    }


def fill_sqlite(path: Path, count: int) -> dict[str, float]:
    url = f"sqlite:///{path}"
    workspace, user = _prepare(url)
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")

    def insert(table: str, rows: list[dict[str, Any]]) -> None:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        marks = ", ".join("?" * len(columns))
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
            [tuple(row.get(c) for c in columns) for row in rows],
        )

    batch: list[dict[str, Any]] = []

    def flush() -> None:
        insert("snapshot", batch)
        insert("archiveresult", [_result_row(s) for s in batch])
        conn.executemany(
            "INSERT INTO snapshottag (snapshot_id, tag_id) VALUES (?, ?)",
            [(s["id"], f"tag-{s['tag']}") for s in batch],
        )
        conn.executemany(
            "INSERT INTO snapshot_search (snapshot_id, url, title, tags) VALUES (?, ?, ?, ?)",
            [(s["id"], s["url"], s["title"], s["tag"]) for s in batch],
        )
        conn.commit()
        batch.clear()

    with search_index_deferred(conn):
        insert_tags(conn, [*TAGS, "rare"], workspace, user)
        insert("crawl", [_crawl_row(k, workspace, user) for k in range(count // CRAWL_SIZE + 1)])
        for row in snapshot_rows(count, workspace, user):
            batch.append(row)
            if len(batch) >= 50_000:
                flush()
        flush()
    conn.close()
    filled = time.perf_counter() - started
    build = _migrate_0008(url)
    rest = _migrate_rest(url)
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    return {"fill_s": filled, "build_0008_s": build, "build_0016_s": rest}


def sqlite_sizes(path: Path) -> dict[str, float]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat WHERE name LIKE 'snapshot_trgm%' OR name IN "
            "('ix_snapshot_status_created_id', 'ix_archiveresult_created_id', 'snapshot', "
            "'ix_snapshot_crawl_created_id', 'ix_snapshottag_tag_snapshot', "
            "'ix_snapshot_host_created_id') "
            "GROUP BY name"
        ).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    return {name: size / 2**20 for name, size in rows}


def fill_postgres(url: str, count: int) -> dict[str, float]:
    import psycopg

    workspace, user = _prepare(url)
    started = time.perf_counter()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("ALTER TABLE snapshot DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE snapshottag DISABLE TRIGGER USER")

        def columns(table: str) -> list[str]:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "AND is_generated = 'NEVER' ORDER BY ordinal_position",
                    (table,),
                )
            ]

        def copy(table: str, rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> None:
            names = columns(table)
            quoted = ", ".join(f'"{c}"' for c in names)
            with conn.cursor().copy(f'COPY "{table}" ({quoted}) FROM STDIN') as out:
                for row in rows:
                    out.write_row(tuple(row.get(c) for c in names))

        copy(
            "tag",
            [
                {
                    "id": f"tag-{name}",
                    "workspace_id": workspace,
                    "created_by_id": user,
                    "created_at": "2024-01-01 00:00:00+00",
                    "modified_at": "2024-01-01 00:00:00+00",
                    "name": name,
                }
                for name in [*TAGS, "rare"]
            ],
        )
        copy("crawl", [_crawl_row(k, workspace, user) for k in range(count // CRAWL_SIZE + 1)])
        copy("snapshot", snapshot_rows(count, workspace, user))
        copy("archiveresult", (_result_row(s) for s in snapshot_rows(count, workspace, user)))
        copy(
            "snapshottag",
            (
                {"snapshot_id": s["id"], "tag_id": f"tag-{s['tag']}"}
                for s in snapshot_rows(count, workspace, user)
            ),
        )
        conn.execute(
            "INSERT INTO snapshot_search (snapshot_id, url, title, tags) "
            "SELECT s.id, s.url, coalesce(s.title, ''), t.name FROM snapshot s "
            "JOIN snapshottag st ON st.snapshot_id = s.id JOIN tag t ON t.id = st.tag_id"
        )
        conn.execute("ALTER TABLE snapshot ENABLE TRIGGER USER")
        conn.execute("ALTER TABLE snapshottag ENABLE TRIGGER USER")
        conn.commit()
    filled = time.perf_counter() - started
    build = _migrate_0008(url)
    rest = _migrate_rest(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"fill_s": filled, "build_0008_s": build, "build_0016_s": rest}


def postgres_sizes(url: str) -> dict[str, float]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname IN "
            "('snapshot', 'ix_snapshot_title_trgm', 'ix_snapshot_url_trgm', "
            "'ix_snapshot_status_created_id', 'ix_archiveresult_created_id', "
            "'ix_snapshot_crawl_created_id', 'ix_snapshottag_tag_snapshot', "
            "'ix_snapshot_host_created_id', 'snapshot_search', 'ix_snapshot_search_document', "
            "'ix_snapshot_search_title_tags')"
        ).fetchall()
    return {name: size / 2**20 for name, size in rows}


Case = tuple[str, str, Callable[[], dict[str, Any]]]


def cases(count: int, rng: random.Random) -> list[Case]:
    """(label, path, params) per request; params are drawn fresh for each request."""
    snaps = "/api/v1/core/snapshots"
    results = "/api/v1/core/archiveresults"
    mid = stamp(count // 2)[:19].replace(" ", "T")
    week_later = stamp(count // 2 + 20_160)[:19].replace(" ", "T")

    def any_n() -> int:
        return rng.randrange(count)

    def rare_site() -> str:
        n = rng.choice([k for k in range(1, 200) if k % 10])
        return f"site{n}.example.com"

    def some_url() -> str:
        n = any_n()
        if n % 10 == 0:
            return f"https://news.example.org/a/{n}"
        return f"https://site{n % SITES}.example.com/p/{n}"

    return [
        ("newest (limit 50)", snaps, lambda: {"limit": 50}),
        ("title=news (30% of rows)", snaps, lambda: {"title": "news", "limit": 50}),
        ("title=<word> (0.2%)", snaps, lambda: {"title": rng.choice(WORDS), "limit": 50}),
        ("title=quokka (10 rows)", snaps, lambda: {"title": "quokka", "limit": 50}),
        (
            "title=<absent word>",
            snaps,
            lambda: {"title": "zzyzx" + str(rng.randrange(99)), "limit": 50},
        ),
        ("title=2 letters (common)", snaps, lambda: {"title": rng.choice(WORDS)[:2], "limit": 50}),
        ("url contains example.org", snaps, lambda: {"url__icontains": "example.org", "limit": 50}),
        (
            "url contains /p/<n> (rare)",
            snaps,
            lambda: {"url__icontains": f"/p/{any_n()}", "limit": 50},
        ),
        ("url exact", snaps, lambda: {"url": some_url(), "limit": 50}),
        ("domain (10% of rows)", snaps, lambda: {"domain": "news.example.org", "limit": 50}),
        ("domain (rare)", snaps, lambda: {"domain": rare_site(), "limit": 50}),
        ("tag=tagN (2%)", snaps, lambda: {"tag": rng.choice(TAGS), "limit": 50}),
        ("tag=rare (0.01%)", snaps, lambda: {"tag": "rare", "limit": 50}),
        ("status=failed", snaps, lambda: {"status": "failed", "limit": 50}),
        (
            "created_at week range",
            snaps,
            lambda: {"created_at__gte": mid, "created_at__lt": week_later, "limit": 50},
        ),
        ("bookmarked_at__gte", snaps, lambda: {"bookmarked_at__gte": mid, "limit": 50}),
        (
            "crawl_id",
            snaps,
            lambda: {"crawl_id": f"crawl-{rng.randrange(count // CRAWL_SIZE)}", "limit": 50},
        ),
        ("search one word", snaps, lambda: {"search": rng.choice(WORDS[:100]), "limit": 50}),
        ("search news (30% of rows)", snaps, lambda: {"search": "news", "limit": 50}),
        (
            "search news + word",
            snaps,
            lambda: {"search": "news " + rng.choice(WORDS[:100]), "limit": 50},
        ),
        (
            "search news + status=failed",
            snaps,
            lambda: {"search": "news", "status": "failed", "limit": 50},
        ),
        (
            "search news + tag=tagN",
            snaps,
            lambda: {"search": "news", "tag": rng.choice(TAGS), "limit": 50},
        ),
        (
            "search news + domain (rare)",
            snaps,
            lambda: {"search": "news", "domain": rare_site(), "limit": 50},
        ),
        (
            "search <word> + status=failed",
            snaps,
            lambda: {"search": rng.choice(WORDS[:100]), "status": "failed", "limit": 50},
        ),
        (
            "search <word> + status=succeeded",
            snaps,
            lambda: {"search": rng.choice(WORDS[:100]), "status": "succeeded", "limit": 50},
        ),
        (
            "search <word> + tag=tagN",
            snaps,
            lambda: {"search": rng.choice(WORDS[:100]), "tag": rng.choice(TAGS), "limit": 50},
        ),
        (
            "search news + title=<word>",
            snaps,
            lambda: {"search": "news", "title": rng.choice(WORDS), "limit": 50},
        ),
        (
            "search <word> + title=news",
            snaps,
            lambda: {"search": rng.choice(WORDS[:100]), "title": "news", "limit": 50},
        ),
        (
            "search news + url contains example.org",
            snaps,
            lambda: {"search": "news", "url__icontains": "example.org", "limit": 50},
        ),
        (
            "search news + created_at week",
            snaps,
            lambda: {
                "search": "news",
                "created_at__gte": mid,
                "created_at__lt": week_later,
                "limit": 50,
            },
        ),
        ("search news page 20", snaps, lambda: {"search": "news", "limit": 50, "page": 20}),
        (
            "title=news + status=failed",
            snaps,
            lambda: {"title": "news", "status": "failed", "limit": 50},
        ),
        (
            "title=<word> + tag=tagN",
            snaps,
            lambda: {"title": rng.choice(WORDS), "tag": rng.choice(TAGS), "limit": 50},
        ),
        (
            "title=<word> + tag=rare",
            snaps,
            lambda: {"title": rng.choice(WORDS), "tag": "rare", "limit": 50},
        ),
        (
            "domain + created_at range",
            snaps,
            lambda: {"domain": "news.example.org", "created_at__gte": mid, "limit": 50},
        ),
        (
            "tag=tagN + status=failed",
            snaps,
            lambda: {"tag": rng.choice(TAGS), "status": "failed", "limit": 50},
        ),
        ("deep page 200 (limit 50)", snaps, lambda: {"limit": 50, "page": 200}),
        ("title=news page 100", snaps, lambda: {"title": "news", "limit": 50, "page": 100}),
        ("status=failed page 100", snaps, lambda: {"status": "failed", "limit": 50, "page": 100}),
        ("?url= timeline (API)", snaps, lambda: {"url": some_url()}),
        ("/timeline?url=", "/timeline", lambda: {"url": some_url()}),
        ("TimeGate /web/<url>", "/web/", lambda: {"_path": some_url()}),
        ("results newest", results, lambda: {"limit": 50}),
        (
            "results snapshot_url=example.org",
            results,
            lambda: {"snapshot_url": "example.org", "limit": 50},
        ),
        (
            "results snapshot_url=/p/<n>",
            results,
            lambda: {"snapshot_url": f"/p/{any_n()}", "limit": 50},
        ),
        (
            "results snapshot_tag=tagN",
            results,
            lambda: {"snapshot_tag": rng.choice(TAGS), "limit": 50},
        ),
    ]


def baseline(url: str, params: dict[str, Any]) -> float:
    """The pre-0008 plain scan of the same substring filter: page + count, in ms."""
    from sqlalchemy import func, select
    from sqlmodel import Session, col

    from crawler import db
    from crawler.models import Snapshot

    engine = db.make_engine(url)
    conds = []
    for key, column in (("title", Snapshot.title), ("url__icontains", Snapshot.url)):
        if key in params:
            conds.append(func.lower(col(column)).contains(params[key].lower(), autoescape=True))
    if "domain" in params:
        conds.append(col(Snapshot.normalized_url).contains("://" + params["domain"] + "/"))
    if "snapshot_url" in params:
        conds.append(func.lower(col(Snapshot.url)).contains(params["snapshot_url"].lower()))
    with Session(engine) as session:
        started = time.perf_counter()
        query = select(Snapshot).where(*conds)
        session.exec(query.order_by(col(Snapshot.created_at).desc()).limit(50)).all()  # type: ignore[call-overload]
        session.execute(select(func.count()).select_from(query.subquery())).one()
        took = (time.perf_counter() - started) * 1000
    engine.dispose()
    return took


def measure(
    env: dict[str, str], database_url: str, count: int, requests: int, only: list[str]
) -> None:
    import httpx

    from tests.services import AmberServer

    server = AmberServer(env=env, args=("--no-workers",)).start(timeout=300)
    rng = random.Random(3)
    print(f"{'request':<36}{'p50 ms':>8}{'p95 ms':>8}{'items':>6}{'count':>10}  baseline (1 run)")
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=120
        ) as client:

            def get(path: str, params: dict[str, Any]) -> httpx.Response:
                if "_path" in params:
                    return client.get(path + params["_path"])
                return client.get(path, params=params)

            for label, path, params in cases(count, rng):
                if only and not any(part in label for part in only):
                    continue
                for _ in range(3):  # warm the connection and caches
                    get(path, params())
                times = []
                last: httpx.Response | None = None
                for _ in range(requests):
                    p = params()
                    t = time.perf_counter()
                    last = get(path, p)
                    times.append((time.perf_counter() - t) * 1000)
                    assert last.status_code in (200, 302, 404), (
                        label,
                        last.status_code,
                        last.text[:300],
                    )
                assert last is not None
                items, total = "", ""
                if last.headers.get("content-type", "").startswith("application/json"):
                    body = last.json()
                    if isinstance(body, dict) and "num_items" in body:
                        items = str(body["num_items"])
                        total = f"{body['count']:,}" + (
                            "~" if body.get("count_is_estimate") else ""
                        )
                base = ""
                sample = params()
                if {"title", "url__icontains", "domain", "snapshot_url"} & set(sample):
                    base = f"{baseline(database_url, params()):.0f} ms"
                print(
                    f"{label:<36}{percentile(times, 0.5):>8.1f}{percentile(times, 0.95):>8.1f}"
                    f"{items:>6}{total:>10}  {base}",
                    flush=True,
                )
    finally:
        server.stop()


def run_store(kind: str, count: int, requests: int, work: Path, only: list[str]) -> None:
    print(f"\n== {kind}, {count:,} snapshots ==", flush=True)
    data_dir = work / f"{kind}-{count}"
    marker = data_dir / "filled.json"
    env = {"AMBER_DATA_DIR": str(data_dir), "AMBER_ADMIN_TOKEN": ADMIN_TOKEN}
    pg = None
    if kind == "sqlite":
        database_url = f"sqlite:///{data_dir / 'amber.sqlite3'}"
    else:
        from tests.services import PostgresServer

        work.mkdir(parents=True, exist_ok=True)
        work.chmod(0o755)  # the postgres user must reach its data folder
        pg = PostgresServer(root=work / f"pg-{count}", settings=POSTGRES_SETTINGS)
        if marker.exists():
            pg.start_server()
        else:
            pg.root.mkdir(parents=True, exist_ok=True)
            pg.start()
        database_url = pg.url
        env["AMBER_DATABASE_URL"] = database_url
    try:
        if marker.exists():
            print(f"reusing {data_dir}: {marker.read_text()}")
            rest = _migrate_rest(database_url)  # a store filled before a later migration
            print(f"migrations after 0008 (if any were missing): {rest:.1f} s", flush=True)
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            if kind == "sqlite":
                timing = fill_sqlite(data_dir / "amber.sqlite3", count)
            else:
                timing = fill_postgres(database_url, count)
            marker.write_text(json.dumps(timing))
            print(
                f"filled in {timing['fill_s']:.0f} s; migration 0008 built its indexes over the "
                f"filled store in {timing['build_0008_s']:.1f} s, 0016 and later in "
                f"{timing['build_0016_s']:.1f} s",
                flush=True,
            )
        sizes = (
            sqlite_sizes(data_dir / "amber.sqlite3")
            if kind == "sqlite"
            else postgres_sizes(database_url)
        )
        print("sizes (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(sizes.items())))
        measure(env, database_url, count, requests, only)
    finally:
        if pg is not None:
            pg.stop_server()


def import_child(data_dir: str, file: str, schema: str) -> None:
    """Import the bookmarks into a fresh store at the schema before 0008, or the newest."""
    from alembic import command
    from sqlmodel import Session

    from crawler import db
    from crawler.auth import ensure_user, principal_for_user
    from crawler.importers.parallel import store_file
    from crawler.importers.writer import BulkWriter

    url = f"sqlite:///{Path(data_dir) / 'amber.sqlite3'}"
    db.upgrade(url)
    if schema == "before":
        command.downgrade(db.alembic_config(url), "query@0007")
    engine = db.make_engine(url)
    started = time.perf_counter()
    with Session(engine) as session:
        principal = principal_for_user(session, ensure_user(session, "bench", admin=True))
        session.commit()
        writer = BulkWriter(session, principal=principal, index_only=True)
        summary = store_file(writer, file, "auto")
    print(json.dumps({"count": summary.seen, "seconds": time.perf_counter() - started}))


def bench_import(bookmarks: int, rounds: int) -> None:
    """URLs/s importing the same bookmarks before migration 0008 and at the newest
    schema (0008's trigram index, 0016's filter indexes), alternating."""
    import importlib.util
    import subprocess

    spec = importlib.util.spec_from_file_location("bench_import", REPO / "bench" / "import.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with tempfile.TemporaryDirectory(prefix="amber-query-import-") as tmp:
        file = Path(tmp) / "bookmarks.html"
        module.generate(file, bookmarks)
        rates: dict[str, list[float]] = {"before": [], "after": []}
        per_cpu: dict[str, list[float]] = {"before": [], "after": []}
        for n in range(rounds):
            for schema in ("before", "after"):
                target = Path(tmp) / f"{schema}-{n}"
                target.mkdir()
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                done = subprocess.run(
                    [sys.executable, __file__, "--import-child", str(target), str(file), schema],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                rates[schema].append(result["count"] / result["seconds"])
                per_cpu[schema].append(result["count"] / cpu)
        label = {"before": "before 0008", "after": "newest (0008 + 0016)"}
        for schema, values in rates.items():
            shown = ", ".join(f"{v:,.0f}" for v in values)
            cpu_shown = ", ".join(f"{v:,.0f}" for v in per_cpu[schema])
            print(
                f"import {bookmarks:,} bookmarks, schema {label[schema]}: {shown} URLs/s wall; "
                f"{cpu_shown} URLs per CPU-second (whole child, load-independent)"
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--import-child":
        import_child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument(
        "--only", type=lambda v: v.split(","), default=[], help="cases whose label has one of these"
    )
    parser.add_argument("--keep", type=Path, help="fill (or reuse) the stores in this folder")
    parser.add_argument(
        "--import",
        dest="bookmarks",
        type=int,
        default=0,
        metavar="N",
        help="instead: import N bookmarks before 0008 / at the newest schema (URLs/s)",
    )
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.bookmarks:
        bench_import(args.bookmarks, rounds=2)
        return
    with tempfile.TemporaryDirectory(prefix="amber-query-") as tmp:
        work = args.keep or Path(tmp)
        for kind in args.stores.split(","):
            run_store(kind, args.snapshots, args.requests, work, args.only)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
