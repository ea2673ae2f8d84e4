"""snapshottag_without_rowid: on SQLite the tag links are stored in their primary key alone

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 12:40:00.000000

A link is two ids, and ``(snapshot_id, tag_id)`` is its primary key. As an ordinary
SQLite table it was stored three times: in the rowid table, in the primary key's
index and in ``(tag_id, snapshot_id)``. ``WITHOUT ROWID`` makes the primary key the
table, so every link is written twice instead of three times: 16 of the 240 MB a
100,000-bookmark import writes (dbstat), and 1.5% of its storing instructions
(callgrind). Nothing reads a link by rowid.

SQLite cannot change this in place: the table is rebuilt under its own name. The
triggers that mention it (the search index's) are dropped first and recreated from
their stored SQL afterwards, since renaming a table re-checks every trigger in the
schema. PostgreSQL has no rowid; nothing changes there.
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

COLUMNS = """
    snapshot_id VARCHAR(64) NOT NULL,
    tag_id VARCHAR(64) NOT NULL,
    PRIMARY KEY (snapshot_id, tag_id),
    FOREIGN KEY(snapshot_id) REFERENCES snapshot (id),
    FOREIGN KEY(tag_id) REFERENCES tag (id)
"""


def _rebuild(suffix: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    triggers = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%snapshottag%'"
    ).all()
    for name, _ in triggers:
        op.execute(f'DROP TRIGGER "{name}"')
    op.execute("DROP TABLE IF EXISTS snapshottag_rebuilt")
    op.execute(f"CREATE TABLE snapshottag_rebuilt ({COLUMNS}){suffix}")
    op.execute(
        "INSERT INTO snapshottag_rebuilt (snapshot_id, tag_id) "
        "SELECT snapshot_id, tag_id FROM snapshottag ORDER BY snapshot_id, tag_id"
    )
    op.execute("DROP TABLE snapshottag")
    op.execute("ALTER TABLE snapshottag_rebuilt RENAME TO snapshottag")
    op.execute("CREATE INDEX ix_snapshottag_tag_snapshot ON snapshottag (tag_id, snapshot_id)")
    for _, sql in triggers:
        op.execute(sql)


def upgrade() -> None:
    _rebuild(" WITHOUT ROWID")


def downgrade() -> None:
    _rebuild("")
