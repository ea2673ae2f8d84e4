"""Engine, sessions and migrations for SQLite (embedded) and PostgreSQL (fleet).

`open_store` is how every process starts on the store: the CLI, the API and
the workers all call it, and none of them needs a browser or a broker for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from crawler.auth import ensure_env_admin_token
from crawler.blobs import BlobStore, open_blob_store
from crawler.errors import Unavailable
from crawler.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


# Reads of the store's pages through a memory map, not a read() call each: a search
# ranking a word's ~2,000 matches at 1M snapshots looks each up in three b-trees, pages
# all over the file (21.4 ms median -> 16.5-17 with the map, same queries alternating).
# Address space only (SQLite caps it at 2 GB); the OS page cache holds the pages either way.
SQLITE_MMAP_BYTES = 1 << 30


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers run beside the single writer; busy_timeout rides out write bursts."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=10,
            max_overflow=20,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    event.listen(engine, "connect", _postgres_session)
    return engine


def _postgres_session(dbapi_conn: Any, _record: Any) -> None:
    """No JIT: every query Amber sends is short, and at millions of rows the planner's
    cost estimates pass jit_above_cost, so a search compiled ~100 ms of machine code
    (measured at 10M snapshots) to save a few. No parallel workers: at 10M snapshots
    PostgreSQL gave list pages of 50 a Gather Merge whose start-up cost 10-15 ms of
    20-33 (a page of archive results: 12.9 ms against 3.8 serial), while the big scans
    they would speed gained ~10% on 2 cores (a search 294 -> 275 ms) and take the cores
    from concurrent requests. SETs, not startup options, so a pooler in front of the
    server (PgBouncer) is not asked to pass options through."""
    cursor = dbapi_conn.cursor()
    cursor.execute("SET jit = off")
    cursor.execute("SET max_parallel_workers_per_gather = 0")
    cursor.close()
    dbapi_conn.commit()


def make_migration_engine(url: str) -> Engine:
    engine = create_engine(url, poolclass=NullPool)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the schema to `revision`; safe to call at every start."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        command.upgrade(alembic_config(url), revision)
    except OperationalError as exc:
        raise Unavailable(f"database is unreachable: {exc.orig}") from exc


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def open_store(settings: Settings, *, migrate: bool = True) -> tuple[Engine, BlobStore]:
    """The database (migrated to head unless told not to) and the blob store, ready to use.

    An `admin_token` (and `admin_password`) setting is made sure of here, so a fresh
    deployment can be driven over HTTP (and signed in to) without running the CLI first.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    if migrate:
        upgrade(url)
    engine = make_engine(url)
    blobs = (
        open_blob_store(
            settings.resolved_blob_url,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            region=settings.s3_region,
        )
        if settings.resolved_blob_url.startswith("s3://")
        else open_blob_store(settings.resolved_blob_url)
    )
    if settings.admin_token:
        with session_scope(engine) as session:
            ensure_env_admin_token(session, settings.admin_token)
    if settings.admin_password:
        from crawler.users import set_password

        with session_scope(engine) as session:
            set_password(session, "admin", settings.admin_password, create=True, admin=True)
    return engine, blobs
