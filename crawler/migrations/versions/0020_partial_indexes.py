"""partial_indexes: the crawl and schedule indexes hold only the snapshots that have one

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 10:15:00.000000

``snapshot (crawl_id, created_at DESC, id)`` (0016) and ``snapshot (schedule_id)``
(0009) serve ``crawl_id = …`` and ``schedule_id = …`` lookups only; nothing asks
for the snapshots without a crawl or a schedule through them. Yet every snapshot
added by hand, by the API or by an import has neither, and each still cost both
indexes an entry: counted with callgrind, 3.3% of the instructions a SQLite bulk
import spends storing its rows (232 M of 7.10 G for 20,000 bookmarks), and, in an
archive made mostly of bookmarks, indexes mostly of NULLs. Both planners use a
``WHERE col IS NOT NULL`` index for ``col = value`` (the equality implies it).

On the "query" branch after 0019; it needs 0009's schedule index, hence the
dependency on the "changes" branch.
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = "0009"

CRAWL = "ix_snapshot_crawl_created_id ON snapshot (crawl_id, created_at DESC, id)"
SCHEDULE = "ix_snapshot_schedule_id ON snapshot (schedule_id)"


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_snapshot_crawl_created_id")
    op.execute(f"CREATE INDEX {CRAWL} WHERE crawl_id IS NOT NULL")
    op.execute("DROP INDEX IF EXISTS ix_snapshot_schedule_id")
    op.execute(f"CREATE INDEX {SCHEDULE} WHERE schedule_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_snapshot_schedule_id")
    op.execute(f"CREATE INDEX {SCHEDULE}")
    op.execute("DROP INDEX IF EXISTS ix_snapshot_crawl_created_id")
    op.execute(f"CREATE INDEX {CRAWL}")
