"""search: full-text index over snapshot url, title, tags and extracted text; list indexes

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23 06:30:00

One table, ``snapshot_search`` (a row per snapshot), holds what is searchable.
Triggers on ``snapshot``, ``snapshottag`` and ``tag`` keep its url/title/tags
in step whoever writes them; the extracted text is written by
``crawler.search.index_text`` at capture. On SQLite an external-content FTS5
table indexes it; on PostgreSQL a generated ``tsvector`` column with a GIN index.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = ("search",)
depends_on = None

TAGS_OF = (
    "coalesce((SELECT group_concat(t.name, ' ') FROM snapshottag st "
    "JOIN tag t ON t.id = st.tag_id WHERE st.snapshot_id = {sid}), '')"
)

SQLITE_UP = [
    """CREATE TABLE snapshot_search (
        id INTEGER PRIMARY KEY,
        snapshot_id VARCHAR(64) NOT NULL UNIQUE,
        url TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT ''
    )""",
    f"""INSERT INTO snapshot_search (snapshot_id, url, title, tags)
        SELECT s.id, s.url, coalesce(s.title, ''), {TAGS_OF.format(sid="s.id")} FROM snapshot s""",
    """CREATE VIRTUAL TABLE snapshot_fts USING fts5(
        url, title, tags, text,
        content='snapshot_search', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )""",
    "INSERT INTO snapshot_fts(snapshot_fts) VALUES ('rebuild')",
    """CREATE TRIGGER snapshot_search_ai AFTER INSERT ON snapshot_search BEGIN
        INSERT INTO snapshot_fts(rowid, url, title, tags, text)
        VALUES (new.id, new.url, new.title, new.tags, new.text);
    END""",
    """CREATE TRIGGER snapshot_search_ad AFTER DELETE ON snapshot_search BEGIN
        INSERT INTO snapshot_fts(snapshot_fts, rowid, url, title, tags, text)
        VALUES ('delete', old.id, old.url, old.title, old.tags, old.text);
    END""",
    """CREATE TRIGGER snapshot_search_au AFTER UPDATE ON snapshot_search BEGIN
        INSERT INTO snapshot_fts(snapshot_fts, rowid, url, title, tags, text)
        VALUES ('delete', old.id, old.url, old.title, old.tags, old.text);
        INSERT INTO snapshot_fts(rowid, url, title, tags, text)
        VALUES (new.id, new.url, new.title, new.tags, new.text);
    END""",
    f"""CREATE TRIGGER snapshot_search_snapshot_ai AFTER INSERT ON snapshot BEGIN
        INSERT INTO snapshot_search (snapshot_id, url, title, tags)
        VALUES (new.id, new.url, coalesce(new.title, ''), {TAGS_OF.format(sid="new.id")});
    END""",
    """CREATE TRIGGER snapshot_search_snapshot_au AFTER UPDATE OF url, title ON snapshot
    WHEN old.url IS NOT new.url OR old.title IS NOT new.title BEGIN
        UPDATE snapshot_search SET url = new.url, title = coalesce(new.title, '')
        WHERE snapshot_id = new.id;
    END""",
    """CREATE TRIGGER snapshot_search_snapshot_ad AFTER DELETE ON snapshot BEGIN
        DELETE FROM snapshot_search WHERE snapshot_id = old.id;
    END""",
    f"""CREATE TRIGGER snapshot_search_snapshottag_ai AFTER INSERT ON snapshottag BEGIN
        UPDATE snapshot_search SET tags = {TAGS_OF.format(sid="new.snapshot_id")}
        WHERE snapshot_id = new.snapshot_id;
    END""",
    f"""CREATE TRIGGER snapshot_search_snapshottag_ad AFTER DELETE ON snapshottag BEGIN
        UPDATE snapshot_search SET tags = {TAGS_OF.format(sid="old.snapshot_id")}
        WHERE snapshot_id = old.snapshot_id;
    END""",
    f"""CREATE TRIGGER snapshot_search_tag_au AFTER UPDATE OF name ON tag
    WHEN old.name IS NOT new.name BEGIN
        UPDATE snapshot_search SET tags = {TAGS_OF.format(sid="snapshot_search.snapshot_id")}
        WHERE snapshot_id IN (SELECT snapshot_id FROM snapshottag WHERE tag_id = new.id);
    END""",
    "CREATE INDEX ix_snapshot_created_id ON snapshot (created_at DESC, id)",
    "CREATE INDEX ix_snapshot_ws_created_id ON snapshot (workspace_id, created_at DESC, id)",
    "CREATE INDEX ix_snapshot_url ON snapshot (url)",
]

SQLITE_DOWN = [
    "DROP INDEX IF EXISTS ix_snapshot_url",
    "DROP INDEX IF EXISTS ix_snapshot_ws_created_id",
    "DROP INDEX IF EXISTS ix_snapshot_created_id",
    "DROP TRIGGER IF EXISTS snapshot_search_tag_au",
    "DROP TRIGGER IF EXISTS snapshot_search_snapshottag_ad",
    "DROP TRIGGER IF EXISTS snapshot_search_snapshottag_ai",
    "DROP TRIGGER IF EXISTS snapshot_search_snapshot_ad",
    "DROP TRIGGER IF EXISTS snapshot_search_snapshot_au",
    "DROP TRIGGER IF EXISTS snapshot_search_snapshot_ai",
    "DROP TRIGGER IF EXISTS snapshot_search_au",
    "DROP TRIGGER IF EXISTS snapshot_search_ad",
    "DROP TRIGGER IF EXISTS snapshot_search_ai",
    "DROP TABLE IF EXISTS snapshot_fts",
    "DROP TABLE IF EXISTS snapshot_search",
]

PG_DOCUMENT = """
    setweight(to_tsvector('english'::regconfig, title), 'A') ||
    setweight(to_tsvector('english'::regconfig, tags), 'A') ||
    setweight(to_tsvector('english'::regconfig,
        regexp_replace(url, '[^[:alnum:]]+', ' ', 'g')), 'B') ||
    setweight(to_tsvector('english'::regconfig, left(text, 200000)), 'D')
"""

PG_UP = [
    f"""CREATE TABLE snapshot_search (
        id BIGSERIAL PRIMARY KEY,
        snapshot_id VARCHAR(64) NOT NULL UNIQUE,
        url TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        document tsvector GENERATED ALWAYS AS ({PG_DOCUMENT}) STORED
    )""",
    "CREATE INDEX ix_snapshot_search_document ON snapshot_search USING gin (document)",
    """CREATE FUNCTION amber_snapshot_tags(sid varchar) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT coalesce(string_agg(t.name, ' '), '') FROM snapshottag st
        JOIN tag t ON t.id = st.tag_id WHERE st.snapshot_id = sid
    $$""",
    """INSERT INTO snapshot_search (snapshot_id, url, title, tags)
        SELECT s.id, s.url, coalesce(s.title, ''), amber_snapshot_tags(s.id) FROM snapshot s""",
    """CREATE FUNCTION amber_search_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO snapshot_search (snapshot_id, url, title, tags)
            VALUES (NEW.id, NEW.url, coalesce(NEW.title, ''), amber_snapshot_tags(NEW.id));
        ELSIF TG_OP = 'UPDATE' THEN
            UPDATE snapshot_search SET url = NEW.url, title = coalesce(NEW.title, '')
            WHERE snapshot_id = NEW.id;
        ELSE
            DELETE FROM snapshot_search WHERE snapshot_id = OLD.id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER snapshot_search_ins AFTER INSERT ON snapshot
        FOR EACH ROW EXECUTE FUNCTION amber_search_snapshot()""",
    """CREATE TRIGGER snapshot_search_upd AFTER UPDATE OF url, title ON snapshot
        FOR EACH ROW WHEN (OLD.url IS DISTINCT FROM NEW.url OR OLD.title IS DISTINCT FROM NEW.title)
        EXECUTE FUNCTION amber_search_snapshot()""",
    """CREATE TRIGGER snapshot_search_del AFTER DELETE ON snapshot
        FOR EACH ROW EXECUTE FUNCTION amber_search_snapshot()""",
    """CREATE FUNCTION amber_search_snapshottag() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE sid varchar := CASE WHEN TG_OP = 'DELETE' THEN OLD.snapshot_id ELSE NEW.snapshot_id END;
    BEGIN
        UPDATE snapshot_search SET tags = amber_snapshot_tags(sid) WHERE snapshot_id = sid;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER snapshot_search_snapshottag AFTER INSERT OR DELETE ON snapshottag
        FOR EACH ROW EXECUTE FUNCTION amber_search_snapshottag()""",
    """CREATE FUNCTION amber_search_tag() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE snapshot_search s SET tags = amber_snapshot_tags(s.snapshot_id)
        WHERE s.snapshot_id IN (SELECT snapshot_id FROM snapshottag WHERE tag_id = NEW.id);
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER snapshot_search_tag AFTER UPDATE OF name ON tag
        FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
        EXECUTE FUNCTION amber_search_tag()""",
    "CREATE INDEX ix_snapshot_created_id ON snapshot (created_at DESC, id)",
    "CREATE INDEX ix_snapshot_ws_created_id ON snapshot (workspace_id, created_at DESC, id)",
    # A hash index: URLs can be longer than a btree entry may be.
    "CREATE INDEX ix_snapshot_url ON snapshot USING hash (url)",
]

PG_DOWN = [
    "DROP INDEX IF EXISTS ix_snapshot_url",
    "DROP INDEX IF EXISTS ix_snapshot_ws_created_id",
    "DROP INDEX IF EXISTS ix_snapshot_created_id",
    "DROP TRIGGER IF EXISTS snapshot_search_tag ON tag",
    "DROP TRIGGER IF EXISTS snapshot_search_snapshottag ON snapshottag",
    "DROP TRIGGER IF EXISTS snapshot_search_del ON snapshot",
    "DROP TRIGGER IF EXISTS snapshot_search_upd ON snapshot",
    "DROP TRIGGER IF EXISTS snapshot_search_ins ON snapshot",
    "DROP FUNCTION IF EXISTS amber_search_tag()",
    "DROP FUNCTION IF EXISTS amber_search_snapshottag()",
    "DROP FUNCTION IF EXISTS amber_search_snapshot()",
    "DROP TABLE IF EXISTS snapshot_search",
    "DROP FUNCTION IF EXISTS amber_snapshot_tags(varchar)",
]


def _run(statements: list[str]) -> None:
    # exec_driver_sql: the SQL holds ``::regconfig`` and ``[:alnum:]``, which text() would
    # mistake for bind parameters.
    bind = op.get_bind()
    for statement in statements:
        bind.exec_driver_sql(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(SQLITE_UP)
    else:
        _run(PG_UP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(SQLITE_DOWN)
    else:
        _run(PG_DOWN)
