"""Server-wide random keys, created once and shared through the store.

A fleet's API nodes must agree on the key that signs replay capabilities, and
no operator should have to invent one: the first node to need a key creates
it, and every other node reads the same row.
"""

from __future__ import annotations

import secrets

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from crawler.models import ServerSecret


def server_secret(engine: Engine, name: str) -> bytes:
    """The key called `name`, made on first use (a concurrent first use keeps one)."""
    with Session(engine) as session:
        row = session.get(ServerSecret, name)
        if row is not None:
            return bytes.fromhex(row.value)
        session.add(ServerSecret(name=name, value=secrets.token_hex(32)))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
    with Session(engine) as session:
        row = session.get(ServerSecret, name)
        assert row is not None
        return bytes.fromhex(row.value)
