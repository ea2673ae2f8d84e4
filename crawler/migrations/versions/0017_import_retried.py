"""import_retried: an import job counts the failed URLs it queued again apart from duplicates

Revision ID: 0017
Revises: 0011
Create Date: 2026-11-30 20:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0011"
branch_labels = ("import_retried",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_job") as batch:
        batch.add_column(sa.Column("retried", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("import_job") as batch:
        batch.drop_column("retried")
