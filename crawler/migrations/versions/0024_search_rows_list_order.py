"""search_rows_list_order: PostgreSQL indexes the search rows' list order

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 15:00:00.000000

A search word matching more snapshots than can be ranked in time is listed
newest first (crawler.search_pages). Its newest matches are found in windows
of the newest search rows: GIN's posting list for the word and this index's
range of ``created_at`` are ANDed as bitmaps, so only the matches inside the
window are read. Without it each of a common word's matches was read for its
``created_at``: ~19,800 scattered pages at 10,000,000 snapshots. SQLite's
windows use ``snapshot``'s own list index and need nothing new.
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX ix_snapshot_search_created ON snapshot_search (created_at)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_snapshot_search_created")
