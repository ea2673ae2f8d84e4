"""The URL archive's tables: users, workspaces, tokens, snapshots, results, tags, crawls,
schedules and the fleet's workers, all here.

Each other snapshot domain keeps its own tables in its own place under
``crawler/domains/`` (a package's ``tables.py``); they share users, workspaces
and the blob store defined here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Float, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from crawler.clock import utcnow, uuid7


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), **kw)  # type: ignore[call-overload]


def _opt_ts(**kw: Any) -> Any:
    return Field(default=None, sa_type=DateTime(timezone=True), **kw)  # type: ignore[call-overload]


DEFAULT_NOTIFY_THRESHOLD = 0.01  # share of a page's text (0..1) that must change for an alert


class SnapshotStatus(StrEnum):
    queued = "queued"
    started = "started"
    succeeded = "succeeded"
    failed = "failed"
    sealed = "sealed"


class ResultStatus(StrEnum):
    queued = "queued"
    started = "started"
    backoff = "backoff"
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"


class Workspace(SQLModel, table=True):
    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime = _ts()


class User(SQLModel, table=True):
    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    username: str = Field(unique=True, index=True, max_length=150)
    is_admin: bool = False
    created_at: datetime = _ts()
    password_hash: str | None = Field(default=None, max_length=255)  # argon2id; None: no sign-in


class Membership(SQLModel, table=True):
    user_id: str = Field(primary_key=True, foreign_key="user.id", max_length=64)
    workspace_id: str = Field(primary_key=True, foreign_key="workspace.id", max_length=64)
    role: str = Field(default="member", max_length=20)


class ApiToken(SQLModel, table=True):
    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=64)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = _ts()
    expires_at: datetime | None = _opt_ts()
    revoked_at: datetime | None = _opt_ts()
    scope: str = Field(default="write", max_length=10)  # "write" (everything) or "read"
    origin: str = Field(default="", max_length=10)  # "env": made from AMBER_ADMIN_TOKEN


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random id; only its sha256 is stored,
    so a database dump signs no one in. Deleting the row signs the browser out."""

    __tablename__ = "web_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=64)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _ts()
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]


class ImportJob(SQLModel, table=True):
    """A bookmarks upload being stored by a background thread; its progress outlives the
    browser tab that started it (the progress page reads this row)."""

    __tablename__ = "import_job"

    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=64)
    user_id: str = Field(foreign_key="user.id", max_length=64)
    filename: str = Field(default="", max_length=300)
    status: str = Field(default="running", max_length=20)  # running | succeeded | failed
    total_bytes: int = 0
    read_bytes: int = 0
    imported: int = 0
    duplicates: int = 0
    retried: int = 0  # failed before, queued again (not counted in duplicates)
    invalid: int = 0
    queued: int = 0
    message: str = Field(default="", sa_type=Text)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    finished_at: datetime | None = _opt_ts()


class Crawl(SQLModel, table=True):
    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=64)
    created_by_id: str = Field(foreign_key="user.id", max_length=64)
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
    status: str = Field(default="queued", max_length=20)
    retry_at: datetime | None = _opt_ts()
    urls: str = Field(default="", sa_type=Text)
    max_depth: int = 0
    max_urls: int = 0
    max_size: int = 0
    tags_str: str = Field(default="", max_length=1000)
    label: str = Field(default="", max_length=500)
    notes: str = Field(default="", sa_type=Text)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Snapshot(SQLModel, table=True):
    # Listing order is served by (workspace_id, created_at DESC, id) and (created_at DESC,
    # id), which migration 0004 creates in SQL (SQLAlchemy cannot spell DESC per column).
    __table_args__ = (Index("ix_snapshot_status_retry", "status", "retry_at"),)

    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=64)
    created_by_id: str = Field(foreign_key="user.id", max_length=64)
    # Indexed with the list order, (crawl_id, created_at DESC, id), by migration 0016.
    crawl_id: str | None = Field(default=None, foreign_key="crawl.id", max_length=64)
    schedule_id: str | None = Field(default=None, index=True, max_length=64)  # who re-captured
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
    bookmarked_at: datetime = _ts()
    downloaded_at: datetime | None = _opt_ts()
    retry_at: datetime | None = _opt_ts()
    status: SnapshotStatus = Field(default=SnapshotStatus.queued, max_length=20)
    url: str = Field(sa_type=Text)
    normalized_url: str = Field(sa_type=Text, index=True)
    title: str | None = Field(default=None, sa_type=Text)
    timestamp: str = Field(unique=True, index=True, max_length=32)
    depth: int = 0
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    worker_id: str | None = Field(default=None, max_length=200)
    claimed_at: datetime | None = _opt_ts()  # last queued -> started (claim latency)
    persona_id: str | None = Field(default=None, max_length=64)  # log in as (crawler/personas)


class ArchiveResult(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("snapshot_id", "plugin", name="uq_result_snapshot_plugin"),)

    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    snapshot_id: str = Field(foreign_key="snapshot.id", index=True, max_length=64)
    created_by_id: str = Field(foreign_key="user.id", max_length=64)
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
    status: ResultStatus = Field(default=ResultStatus.queued, max_length=20)
    retry_at: datetime | None = _opt_ts()
    plugin: str = Field(max_length=32, index=True)
    cmd_version: str = Field(default="", max_length=200)
    output_str: str = Field(default="", sa_type=Text)
    output_files: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    output_size: int = 0
    output_mimetypes: str = Field(default="", max_length=500)
    sha256: str | None = Field(default=None, max_length=64)
    start_ts: datetime | None = _opt_ts()
    end_ts: datetime | None = _opt_ts()
    error: str | None = Field(default=None, sa_type=Text)


class Tag(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_tag_workspace_name"),)

    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=64)
    created_by_id: str = Field(foreign_key="user.id", max_length=64)
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
    name: str = Field(max_length=200)


class SnapshotTag(SQLModel, table=True):
    snapshot_id: str = Field(primary_key=True, foreign_key="snapshot.id", max_length=64)
    # (tag_id, snapshot_id) is indexed by migration 0016: a tag's snapshots, index-only.
    tag_id: str = Field(primary_key=True, foreign_key="tag.id", max_length=64)


class CrawlUrl(SQLModel, table=True):
    """One in-scope URL a crawl met, and what became of it."""

    crawl_id: str = Field(primary_key=True, foreign_key="crawl.id", max_length=64)
    url_key: str = Field(primary_key=True, max_length=64)
    url: str = Field(sa_type=Text)
    depth: int = 0
    verdict: str = Field(max_length=20)
    snapshot_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()


class Schedule(SQLModel, table=True):
    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=64)
    created_by_id: str = Field(foreign_key="user.id", max_length=64)
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
    label: str = Field(default="", max_length=500)
    urls: str = Field(default="", sa_type=Text)
    tag: str = Field(default="", max_length=200)
    depth: int = 0
    every_seconds: int
    next_run_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]
    last_run_at: datetime | None = _opt_ts()
    runs: int = 0
    notify_url: str | None = Field(default=None, sa_type=Text)  # webhook for change alerts
    notify_threshold: float = Field(default=DEFAULT_NOTIFY_THRESHOLD, sa_type=Float)


class FleetWorker(SQLModel, table=True):
    """A worker process as it last reported itself."""

    __tablename__ = "fleet_worker"

    id: str = Field(primary_key=True, max_length=200)
    host: str = Field(max_length=255)
    pid: int
    version: str = Field(default="", max_length=50)
    threads: int = 0
    started_at: datetime = Field(sa_type=DateTime(timezone=True))  # type: ignore[call-overload]
    last_heartbeat: datetime = Field(sa_type=DateTime(timezone=True), index=True)  # type: ignore[call-overload]
    stopped_at: datetime | None = _opt_ts()
    current: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    done: int = 0
    failed: int = 0
    stats: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ServerSecret(SQLModel, table=True):
    """Random keys every node of a fleet shares (e.g. to sign replay capabilities)."""

    __tablename__ = "server_secret"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=128)
    created_at: datetime = _ts()


class Change(SQLModel, table=True):
    """A schedule's re-capture whose text moved more than its threshold (crawler/changes.py)."""

    __table_args__ = (
        UniqueConstraint("after_snapshot_id", name="uq_change_after_snapshot"),
        Index("ix_change_ws_created", "workspace_id", "created_at"),
    )

    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", max_length=64)
    schedule_id: str | None = Field(default=None, index=True, max_length=64)
    url: str = Field(sa_type=Text)
    before_snapshot_id: str = Field(index=True, max_length=64)
    after_snapshot_id: str = Field(max_length=64)
    created_at: datetime = _ts()
    share_changed: float = Field(sa_type=Float)
    words_inserted: int = 0
    words_deleted: int = 0
    excerpt: str = Field(default="", sa_type=Text)
    notify_url: str | None = Field(default=None, sa_type=Text)
    attempts: int = 0
    next_attempt_at: datetime | None = _opt_ts(index=True)
    delivered_at: datetime | None = _opt_ts()
    last_error: str | None = Field(default=None, sa_type=Text)

    @property
    def delivery_state(self) -> str:
        """none (no webhook), pending, delivered, or failed (attempts used up)."""
        if not self.notify_url:
            return "none"
        if self.delivered_at is not None:
            return "delivered"
        return "pending" if self.next_attempt_at is not None else "failed"


class Persona(SQLModel, table=True):
    """A login to capture as: a browser storage state (cookies, local storage), encrypted.

    `state` is a Fernet token (crawler/personas.py); only the capture decrypts it.
    `hosts` are comma-separated fnmatch patterns: a URL whose host matches is
    captured as this persona even when the request does not name it.
    """

    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_persona_ws_name"),)

    id: str = Field(default_factory=uuid7, primary_key=True, max_length=64)
    workspace_id: str = Field(foreign_key="workspace.id", index=True, max_length=64)
    created_by_id: str = Field(foreign_key="user.id", max_length=64)
    name: str = Field(max_length=100)
    hosts: str = Field(default="", max_length=1000)
    state: str = Field(sa_type=Text)
    created_at: datetime = _ts()
    modified_at: datetime = _ts()
