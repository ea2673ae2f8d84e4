"""What writing snapshots costs PostgreSQL's search rows, before and after migration 0025.

Since 0025 the search rows keep their snapshot's status, indexed beside the words
and tag ids, so a worker's claim (queued -> started) and finish (started ->
succeeded, with the title and the page's text) now rewrite the search row, and
each new row version enters the GIN index; a bulk import writes the status and
tag ids into that index too. This times exactly those transactions, as a worker
sends them (crawler.snapshot_states.claim; crawler.search.index_text and
snapshot_states.finish together), and a bulk import of `--imported` bookmarks
with a tag each, against a throwaway PostgreSQL holding `--snapshots`
bookmarks, at 0024 and 0025 alternately on the same store, so the baseline is
measured in the same run.

    .venv/bin/python bench/search_writes.py [--snapshots 100000] [--captures 1000]
        [--imported 20000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fill import WORDS, percentile  # noqa: E402


def _page_text(rng: random.Random) -> str:
    """A page's readable text: ~450 words, ~300 of them distinct lexemes."""
    return " ".join(rng.choice(WORDS) for _ in range(450))


def main() -> None:
    from alembic import command
    from sqlmodel import Session, col, select

    from crawler import db, search, snapshot_states
    from crawler import snapshots as snaps
    from crawler.auth import ensure_user, principal_for_user
    from crawler.models import Snapshot, SnapshotStatus
    from tests.services import PostgresServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=100_000)
    parser.add_argument("--captures", type=int, default=1_000, help="per schema and round")
    parser.add_argument("--imported", type=int, default=20_000, help="per schema and round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rng = random.Random(3)
    pg = PostgresServer().start()
    try:
        url = pg.create_database("flips")
        db.upgrade(url)
        engine = db.make_engine(url)
        with db.session_scope(engine) as session:
            principal = principal_for_user(session, ensure_user(session, "bench", admin=True))
        started = time.perf_counter()
        for first in range(0, args.snapshots, 10_000):
            entries = [
                snaps.UrlEntry(
                    url=f"https://site{n % 500}.example.com/p/{n}",
                    title=" ".join(rng.choice(WORDS) for _ in range(4)),
                )
                for n in range(first, min(args.snapshots, first + 10_000))
            ]
            with db.session_scope(engine) as session:
                snaps.add_urls(session, principal=principal, entries=entries, index_only=True)
        print(f"filled {args.snapshots:,} bookmarks in {time.perf_counter() - started:.0f} s")
        with Session(engine) as session:
            queued = list(session.exec(select(Snapshot.id).where(col(Snapshot.status) == "queued")))
        rng.shuffle(queued)
        results: dict[str, dict[str, list[float]]] = {}
        for round_ in range(args.rounds):
            for schema in ("0024", "0025"):
                moved = time.perf_counter()
                if schema == "0024":
                    command.downgrade(db.alembic_config(url), "0024")
                else:
                    db.upgrade(url)
                print(f"round {round_ + 1}: to {schema} in {time.perf_counter() - moved:.1f} s")
                entries = [
                    snaps.UrlEntry(
                        url=f"https://imported.example.net/{schema}/{round_}/{n}",
                        title=" ".join(rng.choice(WORDS) for _ in range(4)),
                        tags=(f"tag{n % 50}",),
                    )
                    for n in range(args.imported)
                ]
                began = time.perf_counter()
                for first in range(0, len(entries), 5_000):
                    with db.session_scope(engine) as session:
                        snaps.add_urls(
                            session,
                            principal=principal,
                            entries=entries[first : first + 5_000],
                            index_only=True,
                        )
                imported = len(entries) / (time.perf_counter() - began)
                claims: list[float] = []
                finishes: list[float] = []
                batch, queued = queued[: args.captures], queued[args.captures :]
                began = time.perf_counter()
                for snapshot_id in batch:
                    t0 = time.perf_counter()
                    with db.session_scope(engine) as session:
                        assert snapshot_states.claim(session, snapshot_id, worker_id="w", lease=300)
                    t1 = time.perf_counter()
                    with db.session_scope(engine) as session:
                        search.index_text(session, snapshot_id, _page_text(rng))
                        assert snapshot_states.finish(
                            session,
                            snapshot_id,
                            worker_id="w",
                            status=SnapshotStatus.succeeded,
                            title="A captured page " + rng.choice(WORDS),
                            error=None,
                        )
                    t2 = time.perf_counter()
                    claims.append((t1 - t0) * 1000)
                    finishes.append((t2 - t1) * 1000)
                rate = len(batch) / (time.perf_counter() - began)
                slot = results.setdefault(
                    schema, {"claim": [], "finish": [], "rate": [], "imported": []}
                )
                slot["claim"] += claims
                slot["finish"] += finishes
                slot["rate"].append(rate)
                slot["imported"].append(imported)
                print(
                    f"  {schema}: import {imported:,.0f} URLs/s; claim p50 "
                    f"{percentile(claims, 0.5):.2f} / p95 {percentile(claims, 0.95):.2f} ms; "
                    f"text + finish p50 {percentile(finishes, 0.5):.2f} / p95 "
                    f"{percentile(finishes, 0.95):.2f} ms; {rate:,.0f} captures/s stored",
                    flush=True,
                )
        for schema, slot in results.items():
            label = "before 0025" if schema == "0024" else "0025 (status on search rows)"
            print(
                f"{label}: claim p50 {percentile(slot['claim'], 0.5):.2f} / p95 "
                f"{percentile(slot['claim'], 0.95):.2f} ms; text + finish p50 "
                f"{percentile(slot['finish'], 0.5):.2f} / p95 "
                f"{percentile(slot['finish'], 0.95):.2f} ms; captures/s "
                + ", ".join(f"{r:,.0f}" for r in slot["rate"])
                + "; import URLs/s "
                + ", ".join(f"{r:,.0f}" for r in slot["imported"])
            )
        engine.dispose()
    finally:
        pg.stop()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
