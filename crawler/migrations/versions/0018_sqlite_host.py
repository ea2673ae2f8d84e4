"""sqlite_host: the SQLite store indexes each snapshot's host in list order, as 0016 did on PostgreSQL

Revision ID: 0018
Revises: 0016
Create Date: 2026-11-30 23:20:00.000000

The ``domain`` filter on SQLite found a small host's rows through the url trigram
index: ``site17.example.com`` shares its trigrams with ``site170…``, ``site171…``,
so tens of thousands of candidates were tested to keep a few (p95 56 ms at 1M
snapshots). An index on the host expression, in list order, gives the page directly.
SQLite has no ``split_part``; the expression below cuts the same host out of
``scheme://host[:port]/…`` with ``instr``/``substr``, and the filter spells it
identically (crawler.snapshot_filters.SQLITE_HOST), as SQLite matches an indexed
expression only when written the same way.
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None

_REST = "substr(normalized_url, instr(normalized_url, '://') + 3)"
_HOST_PORT = f"substr({_REST}, 1, instr({_REST} || '/', '/') - 1)"
SQLITE_HOST = f"substr({_HOST_PORT}, 1, instr({_HOST_PORT} || ':', ':') - 1)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"CREATE INDEX ix_snapshot_host_created_id ON snapshot (({SQLITE_HOST}), created_at DESC, id)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP INDEX IF EXISTS ix_snapshot_host_created_id")
