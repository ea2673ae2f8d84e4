"""pg_bulk_indexing: on PostgreSQL a bulk import makes its batch's search rows set-wise

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 12:30:00.000000

A bulk import on PostgreSQL ran the search triggers once per row: each new
snapshot inserted its search row (tsvector computed, both GIN indexes written),
then each of its tag links rewrote that row for the tag names and ids (all of it
again). 20,000 one-tag bookmarks took 4.7 s of snapshot INSERTs and 7.9 s of
link INSERTs. The two INSERT triggers now step aside in a transaction that set
``amber.bulk_indexing`` (``SET LOCAL``, so it ends with the transaction), and the
bulk writer makes the batch's search rows afterwards with one ``INSERT …
SELECT``, tags and ids already known (crawler.search.bulk_indexing), as it does
on SQLite. Every other writer, and every UPDATE and DELETE, still goes through
the triggers.
"""

from __future__ import annotations

from alembic import op

from crawler.migrations.earlier import revision_module

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

STEP_ASIDE = (
    "IF TG_OP = 'INSERT' AND current_setting('amber.bulk_indexing', true) = 'on' THEN\n"
    "            RETURN NULL;\n"
    "        END IF;\n"
    "        "
)


def _functions(step_aside: bool) -> list[str]:
    earlier = revision_module("0022_search_tag_ids.py")
    functions = [earlier._sync_function(True), earlier._links_function(True)]
    if not step_aside:
        return functions
    stepping = [
        body.replace("BEGIN\n        ", "BEGIN\n        " + STEP_ASIDE, 1) for body in functions
    ]
    assert all(STEP_ASIDE in body for body in stepping)
    return stepping


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _functions(step_aside=True):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _functions(step_aside=False):
        op.execute(statement)
