"""filter indexes: crawl list order, tag links by tag, snapshot host (issue 15)

Revision ID: 0016
Revises: 0008
Create Date: 2026-11-30 20:10:00

On the "query" branch, after 0008. Each index serves a list filter that read
far more rows than it returned at 1,000,000 snapshots:

* ``snapshot (crawl_id, created_at DESC, id)``: a crawl's snapshots in list
  order. With only ``(crawl_id)`` PostgreSQL walked the whole list order
  testing the crawl (or fetched and sorted all of the crawl's rows).
* ``snapshottag (tag_id, snapshot_id)``: a tag's snapshot ids from the index
  alone. ``(tag_id)`` alone made every link a table read, which was most of
  the cost of a tag combined with another filter and of the archive results'
  ``snapshot_tag`` filter.
* PostgreSQL only, ``snapshot (lower host, created_at DESC, id)`` on an
  expression: the host of ``normalized_url`` without its port, which is what
  the ``domain`` filter asks for. A small host was found by walking the list
  order until 50 of its rows turned up (all of it, when the host has fewer); the
  trigram index does not help there, since ``site17.example.com`` shares its
  trigrams with ``site170…``. SQLite has no such function to index; its walk is
  cheap enough (see docs/benchmarks.md).

On SQLite it also splits 0008's trigram table (``url``, ``title``,
``detail='column'``) into one table per column with ``detail='none'``
(``snapshot_trgm_url``, ``snapshot_trgm_title``): a filter asks for one column
and needs only which rows hold its trigrams, so the positions and columns 0008
stored were never read, and writing them cost a bulk import about half of its
indexing time (100,000 rows: 1.67 s of CPU against 0.84 s). The filter's answer
is unchanged: the index still only proposes candidates for the exact test.
``columnsize=0``: the per-row token counts are for ranking, which a filter does
not do (another fifth of the indexing time).

The 0001 indexes ``snapshot (crawl_id)`` and ``snapshottag (tag_id)`` are
prefixes of the new ones and go (as 0007 did for another prefix): each cost
every import another b-tree write.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0008"
branch_labels = None
depends_on = None

# The host of a normalized url (scheme://host[:port]/...), as crawler.snapshot_filters
# compares it. Kept in one place: the filter must spell the indexed expression exactly.
PG_HOST = "split_part(split_part(normalized_url, '/', 3), ':', 1)"

COMMON_UP = [
    "CREATE INDEX ix_snapshot_crawl_created_id ON snapshot (crawl_id, created_at DESC, id)",
    "CREATE INDEX ix_snapshottag_tag_snapshot ON snapshottag (tag_id, snapshot_id)",
    # Prefixes of the two above: they served nothing more, and cost every write.
    "DROP INDEX IF EXISTS ix_snapshot_crawl_id",
    "DROP INDEX IF EXISTS ix_snapshottag_tag_id",
]
COMMON_DOWN = [
    "CREATE INDEX IF NOT EXISTS ix_snapshottag_tag_id ON snapshottag (tag_id)",
    "CREATE INDEX IF NOT EXISTS ix_snapshot_crawl_id ON snapshot (crawl_id)",
    "DROP INDEX IF EXISTS ix_snapshottag_tag_snapshot",
    "DROP INDEX IF EXISTS ix_snapshot_crawl_created_id",
]
SQLITE_TRIGRAM_0008 = [
    """CREATE VIRTUAL TABLE snapshot_trgm USING fts5(
        url, title,
        content='snapshot_search', content_rowid='id',
        tokenize='trigram', detail='column'
    )""",
    """CREATE TRIGGER snapshot_trgm_ai AFTER INSERT ON snapshot_search BEGIN
        INSERT INTO snapshot_trgm (rowid, url, title) VALUES (new.id, new.url, new.title);
    END""",
    """CREATE TRIGGER snapshot_trgm_ad AFTER DELETE ON snapshot_search BEGIN
        INSERT INTO snapshot_trgm (snapshot_trgm, rowid, url, title)
        VALUES ('delete', old.id, old.url, old.title);
    END""",
    """CREATE TRIGGER snapshot_trgm_au AFTER UPDATE OF url, title ON snapshot_search BEGIN
        INSERT INTO snapshot_trgm (snapshot_trgm, rowid, url, title)
        VALUES ('delete', old.id, old.url, old.title);
        INSERT INTO snapshot_trgm (rowid, url, title) VALUES (new.id, new.url, new.title);
    END""",
    "INSERT INTO snapshot_trgm (snapshot_trgm) VALUES ('rebuild')",
]
TRIGGERS = ["snapshot_trgm_au", "snapshot_trgm_ad", "snapshot_trgm_ai"]
SQLITE_UP = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS),
    "DROP TABLE IF EXISTS snapshot_trgm",
    *(
        f"""CREATE VIRTUAL TABLE snapshot_trgm_{column} USING fts5(
            {column}, content='snapshot_search', content_rowid='id',
            tokenize='trigram', detail='none', columnsize=0
        )"""
        for column in ("url", "title")
    ),
    """CREATE TRIGGER snapshot_trgm_ai AFTER INSERT ON snapshot_search BEGIN
        INSERT INTO snapshot_trgm_url (rowid, url) VALUES (new.id, new.url);
        INSERT INTO snapshot_trgm_title (rowid, title) VALUES (new.id, new.title);
    END""",
    """CREATE TRIGGER snapshot_trgm_ad AFTER DELETE ON snapshot_search BEGIN
        INSERT INTO snapshot_trgm_url (snapshot_trgm_url, rowid, url)
        VALUES ('delete', old.id, old.url);
        INSERT INTO snapshot_trgm_title (snapshot_trgm_title, rowid, title)
        VALUES ('delete', old.id, old.title);
    END""",
    """CREATE TRIGGER snapshot_trgm_au AFTER UPDATE OF url, title ON snapshot_search BEGIN
        INSERT INTO snapshot_trgm_url (snapshot_trgm_url, rowid, url)
        VALUES ('delete', old.id, old.url);
        INSERT INTO snapshot_trgm_title (snapshot_trgm_title, rowid, title)
        VALUES ('delete', old.id, old.title);
        INSERT INTO snapshot_trgm_url (rowid, url) VALUES (new.id, new.url);
        INSERT INTO snapshot_trgm_title (rowid, title) VALUES (new.id, new.title);
    END""",
    "INSERT INTO snapshot_trgm_url (snapshot_trgm_url) VALUES ('rebuild')",
    "INSERT INTO snapshot_trgm_title (snapshot_trgm_title) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    *(f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS),
    "DROP TABLE IF EXISTS snapshot_trgm_title",
    "DROP TABLE IF EXISTS snapshot_trgm_url",
    *SQLITE_TRIGRAM_0008,
]
POSTGRES_UP = [
    f"CREATE INDEX ix_snapshot_host_created_id ON snapshot (({PG_HOST}), created_at DESC, id)",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS ix_snapshot_host_created_id"]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in COMMON_UP + (POSTGRES_UP if postgres else SQLITE_UP):
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in (POSTGRES_DOWN if postgres else SQLITE_DOWN) + COMMON_DOWN:
        op.execute(statement)
