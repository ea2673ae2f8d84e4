"""query: substring indexes over snapshot title/url, and list indexes for filters

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 17:00:00

Its own branch ("query") off 0007; ``crawler.db.upgrade()`` goes to "heads".

A ``title``/``url`` contains filter (ArchiveBox's ``icontains``) scanned every row.
On SQLite an external-content FTS5 table with the trigram tokenizer indexes the
url and title that ``snapshot_search`` (0004) already keeps in step with
``snapshot``; triggers on ``snapshot_search`` keep it in step in turn. On
PostgreSQL ``pg_trgm`` GIN indexes serve ``ILIKE '%term%'`` directly. Both are
candidate finders only: ``crawler.snapshot_filters`` re-checks every candidate
with the exact contains test, so the answer is the same as a scan's.

``(status, created_at DESC, id)`` serves a status filter in list order, deep
pages included, without walking the other statuses' rows; ``archiveresult
(created_at DESC, id)`` is the archive-result list's order.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = ("query",)
depends_on = None

SQLITE_UP = [
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
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS snapshot_trgm_au",
    "DROP TRIGGER IF EXISTS snapshot_trgm_ad",
    "DROP TRIGGER IF EXISTS snapshot_trgm_ai",
    "DROP TABLE IF EXISTS snapshot_trgm",
]
POSTGRES_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_snapshot_title_trgm ON snapshot USING gin (title gin_trgm_ops)",
    "CREATE INDEX ix_snapshot_url_trgm ON snapshot USING gin (url gin_trgm_ops)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_snapshot_url_trgm",
    "DROP INDEX IF EXISTS ix_snapshot_title_trgm",
]
# The extension stays on downgrade: other databases' objects in it may use it.
COMMON_UP = [
    "CREATE INDEX ix_snapshot_status_created_id ON snapshot (status, created_at DESC, id)",
    "CREATE INDEX ix_archiveresult_created_id ON archiveresult (created_at DESC, id)",
]
COMMON_DOWN = [
    "DROP INDEX IF EXISTS ix_archiveresult_created_id",
    "DROP INDEX IF EXISTS ix_snapshot_status_created_id",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in (SQLITE_UP if dialect == "sqlite" else POSTGRES_UP) + COMMON_UP:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in COMMON_DOWN + (SQLITE_DOWN if dialect == "sqlite" else POSTGRES_DOWN):
        op.execute(statement)
