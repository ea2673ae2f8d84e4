"""The benchmarks' shared store filler: a million snapshots straight into SQLite's tables.

bench/import.py (API latency) and bench/ui.py (the list page) time requests over
the same filled store, so they share this filler, its vocabulary and its admin
token; bench/query.py shares the vocabulary and token (its own filler shapes rows
for the filters it times and also fills PostgreSQL). Rows go in by executemany,
with the search triggers off and the full-text index built set-wise at the end:
through the ORM a million rows would take most of an hour.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ADMIN_TOKEN = "bench-admin-token-0123456789"
TAGS = [f"tag{n}" for n in range(50)]
BASE = 1_600_000_000  # the first snapshot's time; each next one is 30 s later
CHUNK = 50_000


def vocabulary(size: int, seed: int = 5) -> list[str]:
    """Made-up words of 5-9 letters: like a real vocabulary, few share a prefix."""
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice("abcdefghiklmnoprstuvwy") for _ in range(rng.randint(5, 9))))
    return sorted(words)


WORDS = vocabulary(2000)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def stamp(n: int) -> str:
    """The n-th snapshot's time as SQLAlchemy stores it in SQLite."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(BASE + n * 30)) + ".000000"


@contextmanager
def search_index_deferred(conn: sqlite3.Connection) -> Iterator[None]:
    """Drop the triggers that keep the search index in step, row by row; afterwards
    fill the full-text index from `snapshot_search` in one statement and restore them."""
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='trigger' AND name LIKE 'snapshot_search_%'"
    ).fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    yield
    conn.execute(
        "INSERT INTO snapshot_fts (rowid, url, title, tags, text) "
        "SELECT id, url, title, tags, text FROM snapshot_search"
    )
    for _, sql in triggers:
        conn.execute(sql)
    conn.commit()


def insert_tags(conn: sqlite3.Connection, names: list[str], workspace: str, user: str) -> None:
    """One tag per name, with the id ``tag-<name>``."""
    conn.executemany(
        "INSERT INTO tag (id, workspace_id, created_by_id, created_at, modified_at, name) "
        "VALUES (?, ?, ?, '2024-01-01 00:00:00.000000', '2024-01-01 00:00:00.000000', ?)",
        [(f"tag-{name}", workspace, user, name) for name in names],
    )


def fill(path: Path, count: int) -> None:
    """`count` snapshots (tagged, titled from WORDS, 80% succeeded) in a migrated store
    at `path`, for an admin whose token is ADMIN_TOKEN."""
    from crawler import db
    from crawler.auth import issue_token

    db.upgrade(f"sqlite:///{path}")
    engine = db.make_engine(f"sqlite:///{path}")
    with db.session_scope(engine) as session:
        issue_token(session, "admin", admin=True, token=ADMIN_TOKEN)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    user_id, workspace_id = conn.execute(
        "SELECT m.user_id, m.workspace_id FROM membership m JOIN user u ON u.id = m.user_id "
        "WHERE u.username = 'admin'"
    ).fetchone()
    rng = random.Random(11)
    statuses = ["succeeded"] * 80 + ["failed"] * 5 + ["queued"] * 15
    columns = [r[1] for r in conn.execute("PRAGMA table_info(snapshot)")]
    insert = f"INSERT INTO snapshot ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    with search_index_deferred(conn):
        insert_tags(conn, TAGS, workspace_id, user_id)
        for start in range(0, count, CHUNK):
            rows, links, docs = [], [], []
            for n in range(start, min(count, start + CHUNK)):
                created = stamp(n)
                url = f"https://site{n % 20000}.example.com/p/{n}"
                title = " ".join(rng.choice(WORDS) for _ in range(5))
                tag = rng.choice(TAGS)
                values = {
                    "id": f"{n:08d}-0000-7000-8000-000000000000",
                    "workspace_id": workspace_id,
                    "created_by_id": user_id,
                    "created_at": created,
                    "modified_at": created,
                    "bookmarked_at": created,
                    "status": rng.choice(statuses),
                    "url": url,
                    "normalized_url": url,
                    "title": title,
                    "timestamp": f"{BASE + n * 30}.{n % 1_000_000:06d}",
                    "depth": 0,
                    "attempts": 1,
                }
                rows.append(tuple(values.get(c) for c in columns))
                links.append((values["id"], f"tag-{tag}"))
                docs.append((values["id"], url, title, tag))
            conn.executemany(insert, rows)
            conn.executemany("INSERT INTO snapshottag (snapshot_id, tag_id) VALUES (?, ?)", links)
            conn.executemany(
                "INSERT INTO snapshot_search (snapshot_id, url, title, tags) VALUES (?, ?, ?, ?)",
                docs,
            )
            conn.commit()
    conn.execute("PRAGMA optimize")
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
