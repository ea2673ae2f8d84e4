"""Does SQLite's cost rule pick the faster way for a dense word's page? (a benchmark)

For each length of page text (words per snapshot), it fills an embedded store with
`bench/query.py`'s snapshots, gives every search row that much text (filler words
that no query here names), and times in-process the first page of a dense search
(`news`, in 30% of titles) alone and beside ``status=failed``, three ways, alternating:

- **rule**: as shipped (crawler.search_limits);
- **merge**: the list walk never taken (FTS5 merges ``news*``'s lists);
- **walk**: the list walk always taken (rows indexed alone, whatever their text).

It prints p50/p95 ms of each and the way the rule took. The rule should follow the
faster of the other two: the walk while rows are short, the merge once each row
carries a captured page's text.

    .venv/bin/python bench/search_walk.py [--snapshots 200000] [--text 0,60,400] [--requests 20]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from fill import percentile, search_index_deferred, vocabulary  # noqa: E402
from query import fill_sqlite  # noqa: E402

FILLER = [w for w in vocabulary(3000, seed=17) if not w.startswith("new")]
CASES: list[tuple[str, dict[str, Any]]] = [
    ("news", {"search": "news"}),
    ("news + status=failed", {"search": "news", "status": "failed"}),
]


def give_text(path: Path, words: int) -> float:
    """Every search row gets `words` filler words of page text (one of 1,000 blocks),
    and the full-text index is rebuilt over them; the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(5)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TEMP TABLE blocks (k INTEGER PRIMARY KEY, body TEXT)")
    conn.executemany(
        "INSERT INTO blocks VALUES (?, ?)",
        [(k, " ".join(rng.choices(FILLER, k=words))) for k in range(1000)],
    )
    with search_index_deferred(conn):
        conn.execute("INSERT INTO snapshot_fts(snapshot_fts) VALUES ('delete-all')")
        conn.execute(
            "UPDATE snapshot_search SET text = "
            "(SELECT body FROM blocks WHERE k = snapshot_search.id % 1000)"
        )
    conn.close()
    return time.perf_counter() - started


def time_ways(path: Path, requests: int) -> None:
    from sqlmodel import Session

    from crawler import db, search_limits
    from crawler.auth import Principal
    from crawler.snapshot_query import SnapshotFilters, query_page

    engine = db.make_engine(f"sqlite:///{path}")
    admin = Principal("bench", "admin", True, ())
    shipped = (search_limits.PROBE_ROW_COST, search_limits.WALK_ROW_COST)
    shipped_chars = search_limits.PROBE_CHAR_COST
    ways = {"rule": shipped, "merge": (10**12, 10**12), "walk": (0, 0)}
    sent: list[str] = []

    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    for label, filters in CASES:
        timings: dict[str, list[float]] = {way: [] for way in ways}
        walked = 0
        for round_ in range(requests + 1):
            for way, (row_cost, walk_cost) in ways.items():
                search_limits.PROBE_ROW_COST, search_limits.WALK_ROW_COST = row_cost, walk_cost
                search_limits.PROBE_CHAR_COST = 0 if way == "walk" else shipped_chars
                sent.clear()
                started = time.perf_counter()
                with Session(engine) as session:
                    page = query_page(
                        session, admin, SnapshotFilters(**filters), limit=50, offset=0
                    )
                took = (time.perf_counter() - started) * 1000
                assert len(page.rows) == 50, (label, way)
                if round_ == 0:
                    time.sleep(3)  # (the background counts of the totals, once)
                    continue
                timings[way].append(took)
                if way == "rule":
                    walked += any(s.startswith("SELECT id, url, title") for s in sent)
        row = "  ".join(
            f"{way} {percentile(v, 0.5):6.1f} / {percentile(v, 0.95):6.1f}"
            for way, v in timings.items()
        )
        print(f"  {label:24} {row}   (rule walked {walked} of {requests})")
    search_limits.PROBE_ROW_COST, search_limits.WALK_ROW_COST = shipped
    search_limits.PROBE_CHAR_COST = shipped_chars
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=200_000)
    parser.add_argument("--text", default="0,60,400", help="words of page text per snapshot")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amber-walk-") as tmp:
        for words in (int(w) for w in args.text.split(",")):
            path = Path(tmp) / f"walk-{words}.sqlite3"
            filled = fill_sqlite(path, args.snapshots)
            texted = give_text(path, words) if words else 0.0
            print(
                f"{args.snapshots:,} snapshots, {words} words of text each "
                f"(filled in {sum(filled.values()):.0f} s, text in {texted:.0f} s); "
                "p50 / p95 ms in-process:"
            )
            time_ways(path, args.requests)
            path.unlink()


if __name__ == "__main__":
    main()
