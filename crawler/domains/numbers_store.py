"""Stable integer numbers for workspaces and users.

Grafana's JSON carries ``orgId``, ``userId`` and ``id`` as integers while Amber's
ids are UUID strings. Rather than change the core tables, each (kind, ref) pair
gets a number here the first time a dialect needs one, and keeps it forever.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

ORG = "org"
USER = "user"


class DialectNumber(SQLModel, table=True):
    __tablename__ = "dashboards_number"
    __table_args__ = (
        UniqueConstraint("kind", "ref", name="uq_dashboards_number_kind_ref"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    ref: str = Field(max_length=64)


def number_for(session: Session, *, kind: str, ref: str) -> int:
    """The number of `ref`, allocating one on first use (safe against a concurrent allocator)."""
    found = session.exec(
        select(DialectNumber.id).where(DialectNumber.kind == kind, DialectNumber.ref == ref)
    ).first()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            row = DialectNumber(kind=kind, ref=ref)
            session.add(row)
    except IntegrityError:
        # Another request allocated it between our read and our insert; theirs wins.
        winner = session.exec(
            select(DialectNumber.id).where(DialectNumber.kind == kind, DialectNumber.ref == ref)
        ).one()
        assert winner is not None
        return winner
    assert row.id is not None
    return row.id


def numbers_for(session: Session, *, kind: str, refs: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(refs))
    if not wanted:
        return {}
    rows = session.exec(
        select(DialectNumber.ref, DialectNumber.id).where(
            DialectNumber.kind == kind, col(DialectNumber.ref).in_(wanted)
        )
    ).all()
    known = {ref: number for ref, number in rows if number is not None}
    for ref in wanted:
        if ref not in known:
            known[ref] = number_for(session, kind=kind, ref=ref)
    return known


def ref_for(session: Session, *, kind: str, number: int) -> str | None:
    row = session.get(DialectNumber, number)
    return row.ref if row is not None and row.kind == kind else None
