"""search_order: on PostgreSQL each search row carries its snapshot's list order and workspace

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 07:15:00.000000

A ranked search orders its matches by relevance, then newest first, and a
non-admin sees only their workspaces. With ``created_at`` and ``workspace_id``
only on ``snapshot``, every match was joined to its snapshot: for a common word
at 10,000,000 snapshots, 20,143 index probes took ~80 of the query's ~120 ms
(warm), while finding and ranking the matches alone took ~25 ms. Nearly all of a
word's matches tie on relevance (20,128 of 20,143 there), so the newest-first
tie-break needs every match's ``created_at``: it now lives beside the document.

The table is rebuilt rather than updated in place: an UPDATE of 10,000,000 rows
rewrites every row, recomputes the stored tsvector and inserts each new version
into the GIN index one by one; copying into a new table and building its
indexes afterwards does each once. The trigger that keeps rows in step with
``snapshot`` now copies both columns too. SQLite is left alone: its search
already meets the goal with the join (FTS5 rowids, a smaller store).
"""

from __future__ import annotations

from alembic import op

from crawler.migrations.earlier import revision_module

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _document() -> str:
    """Migration 0004's document expression, read from 0004 itself: the rebuilt table must
    rank exactly as before."""
    return str(revision_module("0004_search.py").PG_DOCUMENT)


def _sync_function(with_order: bool) -> str:
    """amber_search_snapshot(): 0004's body, copying created_at and workspace_id when asked."""
    extra_cols = ", created_at, workspace_id" if with_order else ""
    extra_vals = ", NEW.created_at, NEW.workspace_id" if with_order else ""
    extra_set = (
        ", created_at = NEW.created_at, workspace_id = NEW.workspace_id" if with_order else ""
    )
    return f"""CREATE OR REPLACE FUNCTION amber_search_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO snapshot_search (snapshot_id, url, title, tags{extra_cols})
            VALUES (NEW.id, NEW.url, coalesce(NEW.title, ''), amber_snapshot_tags(NEW.id){extra_vals});
        ELSIF TG_OP = 'UPDATE' THEN
            UPDATE snapshot_search SET url = NEW.url, title = coalesce(NEW.title, ''){extra_set}
            WHERE snapshot_id = NEW.id;
        ELSE
            DELETE FROM snapshot_search WHERE snapshot_id = OLD.id;
        END IF;
        RETURN NULL;
    END $$"""


def _update_trigger(columns: tuple[str, ...]) -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
    return [
        "DROP TRIGGER IF EXISTS snapshot_search_upd ON snapshot",
        f"""CREATE TRIGGER snapshot_search_upd AFTER UPDATE OF {", ".join(columns)} ON snapshot
        FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION amber_search_snapshot()""",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in [
        "ALTER SEQUENCE snapshot_search_id_seq OWNED BY NONE",
        "ALTER TABLE snapshot_search RENAME TO snapshot_search_0018",
        f"""CREATE TABLE snapshot_search (
            id BIGINT NOT NULL DEFAULT nextval('snapshot_search_id_seq'),
            snapshot_id VARCHAR(64) NOT NULL,
            url TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            created_at TIMESTAMP WITH TIME ZONE NOT NULL,
            workspace_id VARCHAR(64) NOT NULL,
            document tsvector GENERATED ALWAYS AS ({_document()}) STORED
        )""",
        """INSERT INTO snapshot_search
            (id, snapshot_id, url, title, tags, text, created_at, workspace_id)
            SELECT o.id, o.snapshot_id, o.url, o.title, o.tags, o.text, s.created_at, s.workspace_id
            FROM snapshot_search_0018 o JOIN snapshot s ON s.id = o.snapshot_id""",
        "DROP TABLE snapshot_search_0018",
        "ALTER SEQUENCE snapshot_search_id_seq OWNED BY snapshot_search.id",
        "ALTER TABLE snapshot_search ADD PRIMARY KEY (id)",
        "ALTER TABLE snapshot_search ADD CONSTRAINT snapshot_search_snapshot_id_key "
        "UNIQUE (snapshot_id)",
        "CREATE INDEX ix_snapshot_search_document ON snapshot_search USING gin (document)",
        _sync_function(with_order=True),
        *_update_trigger(("url", "title", "created_at", "workspace_id")),
    ]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in [
        *_update_trigger(("url", "title")),
        _sync_function(with_order=False),
        "ALTER TABLE snapshot_search DROP COLUMN created_at, DROP COLUMN workspace_id",
    ]:
        op.execute(statement)
