"""tokens: expiry, revocation, a read-only scope, and which token came from the environment

Revision ID: 0013
Revises: 0001
Create Date: 2026-11-30 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0001"
branch_labels = ("tokens",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apitoken") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column(
                "scope",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="write",
            )
        )
        batch.add_column(
            sa.Column(
                "origin",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("apitoken") as batch:
        batch.drop_column("origin")
        batch.drop_column("scope")
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
