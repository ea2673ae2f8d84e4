"""search_status: on PostgreSQL each search row carries its snapshot's status, indexed with its words and tags

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 20:00:00.000000

``search=<word>&status=failed`` at 10,000,000 snapshots took 78.7 / 112.8 ms
(p50 / p95): the word's ~20,000 matches hold ~1,000 failed ones, and the status
lived only on ``snapshot``, so a page was found in a window of ~750,000 rows
(ANDing that range of the ``created_at`` index, 28 ms warm) and each match read
its snapshot row for the status (cold after a restart: 170 ms). The search row
(one per snapshot, 0019) now keeps the status too, and the document's GIN index
holds it beside the words (``btree_gin``), so one index scan intersects the word
and the status, and only the rows holding both are read. The same index holds
the row's tag ids (0022): a 0.2% word under a 2% tag at 10M took ~100 ms, the
tag being in the title+tag index, so GIN could not intersect the two.

The price is on writes: a snapshot's status flip (queued, started, then succeeded
or failed) now rewrites its search row, and that new row version enters the GIN
index (through its pending list) because an indexed column changed. A capture
already rewrites the row for its title and text, so this adds one or two such
writes per capture.

The table is rebuilt, as 0019 and 0022 did, rather than updated in place (an
UPDATE of every row inserts each new version into the GIN indexes one by one).
SQLite is left alone: its FTS5 rowids already meet the goal for this filter.
``btree_gin`` stays installed on downgrade, as 0008 leaves ``pg_trgm``.
"""

from __future__ import annotations

from alembic import op

from crawler.migrations.earlier import revision_module

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# The trigger function of 0022 + 0023, copying the status too.
SYNC_FUNCTION = """CREATE OR REPLACE FUNCTION amber_search_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' AND current_setting('amber.bulk_indexing', true) = 'on' THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'INSERT' THEN
            INSERT INTO snapshot_search
                (snapshot_id, url, title, tags, created_at, workspace_id, tag_ids, status)
            VALUES (NEW.id, NEW.url, coalesce(NEW.title, ''), amber_snapshot_tags(NEW.id),
                    NEW.created_at, NEW.workspace_id, amber_snapshot_tag_ids(NEW.id), NEW.status);
        ELSIF TG_OP = 'UPDATE' THEN
            UPDATE snapshot_search SET url = NEW.url, title = coalesce(NEW.title, ''),
                created_at = NEW.created_at, workspace_id = NEW.workspace_id, status = NEW.status
            WHERE snapshot_id = NEW.id;
        ELSE
            DELETE FROM snapshot_search WHERE snapshot_id = OLD.id;
        END IF;
        RETURN NULL;
    END $$"""

SYNCED = ("url", "title", "created_at", "workspace_id")  # 0019's trigger columns


def _document() -> str:
    """Migration 0004's document expression, read from 0004 itself (see 0019)."""
    return str(revision_module("0004_search.py").PG_DOCUMENT)


def _update_trigger(columns: tuple[str, ...]) -> list[str]:
    return list(revision_module("0019_search_order.py")._update_trigger(columns))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in [
        "CREATE EXTENSION IF NOT EXISTS btree_gin",
        "ALTER SEQUENCE snapshot_search_id_seq OWNED BY NONE",
        "ALTER TABLE snapshot_search RENAME TO snapshot_search_0024",
        f"""CREATE TABLE snapshot_search (
            id BIGINT NOT NULL DEFAULT nextval('snapshot_search_id_seq'),
            snapshot_id VARCHAR(64) NOT NULL,
            url TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            created_at TIMESTAMP WITH TIME ZONE NOT NULL,
            workspace_id VARCHAR(64) NOT NULL,
            tag_ids VARCHAR(64)[] NOT NULL DEFAULT '{{}}',
            status VARCHAR(20) NOT NULL DEFAULT '',
            document tsvector GENERATED ALWAYS AS ({_document()}) STORED
        )""",
        """INSERT INTO snapshot_search
            (id, snapshot_id, url, title, tags, text, created_at, workspace_id, tag_ids, status)
            SELECT o.id, o.snapshot_id, o.url, o.title, o.tags, o.text, o.created_at,
                   o.workspace_id, o.tag_ids, s.status
            FROM snapshot_search_0024 o JOIN snapshot s ON s.id = o.snapshot_id""",
        "DROP TABLE snapshot_search_0024",
        "ALTER SEQUENCE snapshot_search_id_seq OWNED BY snapshot_search.id",
        "ALTER TABLE snapshot_search ADD PRIMARY KEY (id)",
        "ALTER TABLE snapshot_search ADD CONSTRAINT snapshot_search_snapshot_id_key "
        "UNIQUE (snapshot_id)",
        "CREATE INDEX ix_snapshot_search_document ON snapshot_search "
        "USING gin (document, status, tag_ids)",
        "CREATE INDEX ix_snapshot_search_title_tags ON snapshot_search "
        "USING gin (title gin_trgm_ops, tag_ids)",
        "CREATE INDEX ix_snapshot_search_created ON snapshot_search (created_at)",
        SYNC_FUNCTION,
        *_update_trigger((*SYNCED, "status")),
    ]:
        op.execute(statement)
    # As 0022: the copied rows' hint bits are set now, not by the first searches.
    with op.get_context().autocommit_block():
        op.execute("VACUUM (ANALYZE) snapshot_search")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    sync_0023 = revision_module("0023_pg_bulk_indexing.py")._functions(step_aside=True)[0]
    for statement in [
        *_update_trigger(SYNCED),
        sync_0023,
        "DROP INDEX ix_snapshot_search_document",
        "ALTER TABLE snapshot_search DROP COLUMN status",
        "CREATE INDEX ix_snapshot_search_document ON snapshot_search USING gin (document)",
    ]:
        op.execute(statement)
