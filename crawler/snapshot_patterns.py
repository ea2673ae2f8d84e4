"""ArchiveBox's ``filter_type`` matching, for the CLI routes (search, list, update, remove).

Every pattern is tested against each snapshot; a snapshot matches when any does:

=========  ==================================================================
exact      its URL equals the pattern
substring  its URL contains the pattern, in any case
regex      its URL matches the pattern (searched, in any case), RE2 syntax
domain     its URL starts with ``http://``, ``https://`` or ``ftp://`` + pattern
tag        it has a tag named exactly the pattern
timestamp  its timestamp equals the pattern
=========  ==================================================================

``after``/``before`` are UNIX times bounding ``bookmarked_at``; ``status`` is
ArchiveBox's ``indexed`` (all), ``archived`` (captured) or ``unarchived``.

Regexes come from anyone holding a token, so they never reach a backtracking
engine: RE2 runs them in time linear in the URL, refuses what it cannot do that
way (backreferences, lookaround) and caps each program's memory. They are
searched in this process over the candidates' URLs streamed from the store, the
same on SQLite and PostgreSQL, and a search still running after `REGEX_BUDGET`
seconds stops with a 4xx that says to narrow it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import re2
from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from crawler.auth import Principal
from crawler.errors import InvalidInput
from crawler.models import Snapshot, SnapshotTag, Tag

FILTER_TYPES = ("exact", "substring", "regex", "domain", "tag", "timestamp")
STATUSES = ("indexed", "archived", "unarchived")
# ArchiveBox's other statuses describe data folders on disk, which Amber does not have.
FOLDER_STATUSES = ("present", "valid", "invalid", "duplicate", "orphaned", "corrupted")
SORTABLE = (
    "url",
    "timestamp",
    "title",
    "status",
    "created_at",
    "modified_at",
    "bookmarked_at",
    "downloaded_at",
)
MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 2000
REGEX_MAX_MEM = 8 << 20  # bytes one compiled regex may use
REGEX_BUDGET = 10.0  # seconds a regex search may run
STREAM_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class PatternQuery:
    """One ArchiveBox CLI selection, as its request spells it."""

    patterns: tuple[str, ...] = ()
    filter_type: str = "substring"
    after: float | None = None
    before: float | None = None
    status: str = "indexed"
    sort: str | None = None


@dataclass(slots=True)
class Matches:
    ids: list[str]  # the first `limit` matches, in order
    total: int  # how many match in all


def find_snapshots(
    session: Session,
    principal: Principal,
    query: PatternQuery,
    *,
    limit: int,
    regex_budget: float = REGEX_BUDGET,
) -> Matches:
    """The snapshots `principal` may see that `query` selects (ordered by its `sort`)."""
    _check(query)
    conds = _conditions(query)
    if not principal.is_admin:
        conds.append(col(Snapshot.workspace_id).in_(principal.workspace_ids))
    order = _order(query.sort)
    if query.filter_type == "regex" and query.patterns:
        return _regex_matches(session, conds, order, _compile(query.patterns), limit, regex_budget)
    selected = select(Snapshot.id).where(*conds)
    total = session.exec(select(func.count()).select_from(selected.subquery())).one()
    ids = session.exec(selected.order_by(*order).limit(limit)).all()
    return Matches(list(ids), int(total))


def _check(query: PatternQuery) -> None:
    if query.filter_type not in FILTER_TYPES:
        raise InvalidInput(
            f"filter_type must be one of {', '.join(FILTER_TYPES)}, not {query.filter_type!r}"
        )
    if query.status in FOLDER_STATUSES:
        raise InvalidInput(
            f"status {query.status!r} describes ArchiveBox data folders, which Amber does not "
            f"keep; use one of {', '.join(STATUSES)}"
        )
    if query.status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, not {query.status!r}")
    if len(query.patterns) > MAX_PATTERNS:
        raise InvalidInput(f"at most {MAX_PATTERNS} filter_patterns per request")
    for pattern in query.patterns:
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise InvalidInput(f"a filter pattern is longer than {MAX_PATTERN_LENGTH} characters")


def _moment(value: float | None) -> datetime | None:
    """A UNIX time as a datetime; None for no bound (0, or beyond any date, as ArchiveBox's
    default ``before=999999999999999``)."""
    if value is None or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _pattern_condition(filter_type: str, patterns: Sequence[str]) -> Any:
    url = col(Snapshot.url)
    if filter_type == "exact":
        return url.in_(list(patterns))
    if filter_type == "timestamp":
        return col(Snapshot.timestamp).in_(list(patterns))
    if filter_type == "tag":
        tagged = (
            select(SnapshotTag.snapshot_id)
            .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
            .where(col(Tag.name).in_(list(patterns)))
        )
        return col(Snapshot.id).in_(tagged)
    lowered = func.lower(url)
    if filter_type == "substring":
        return or_(*(lowered.contains(p.lower(), autoescape=True) for p in patterns))
    prefixes = [f"{scheme}://{p}".lower() for p in patterns for scheme in ("http", "https", "ftp")]
    return or_(*(lowered.startswith(prefix, autoescape=True) for prefix in prefixes))


def _conditions(query: PatternQuery) -> list[Any]:
    conds: list[Any] = []
    if query.patterns and query.filter_type != "regex":
        conds.append(_pattern_condition(query.filter_type, query.patterns))
    after, before = _moment(query.after), _moment(query.before)
    if after is not None:
        conds.append(col(Snapshot.bookmarked_at) >= after)
    if before is not None:
        conds.append(col(Snapshot.bookmarked_at) < before)
    if query.status == "archived":
        conds.append(col(Snapshot.downloaded_at).is_not(None))
    elif query.status == "unarchived":
        conds.append(col(Snapshot.downloaded_at).is_(None))
    return conds


def _order(sort: str | None) -> list[Any]:
    """ArchiveBox's ``sort``: a field name, ``-`` first for descending."""
    name = (sort or "bookmarked_at").strip()
    descending = name.startswith("-")
    name = name.lstrip("-")
    if name not in SORTABLE:
        raise InvalidInput(f"sort must name one of {', '.join(SORTABLE)} (- first: descending)")
    column = col(getattr(Snapshot, name))
    return [column.desc() if descending else column.asc(), col(Snapshot.id)]


def _compile(patterns: Sequence[str]) -> Any:
    """One case-insensitive RE2 program for all the patterns; a bad one is named."""
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = REGEX_MAX_MEM
    options.log_errors = False
    for pattern in patterns:
        try:
            re2.compile(pattern, options)
        except re2.error as exc:
            why = exc.args[0] if exc.args else ""
            why = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
            raise InvalidInput(
                f"filter pattern {pattern!r} is not a regex Amber can run in linear time "
                f"(RE2 syntax; no backreferences or lookaround): {why}"
            ) from exc
    return re2.compile("|".join(f"(?:{p})" for p in patterns), options)


def _regex_matches(
    session: Session, conds: list[Any], order: list[Any], program: Any, limit: int, budget: float
) -> Matches:
    deadline = time.monotonic() + budget
    ids: list[str] = []
    total = seen = 0
    rows = session.execute(
        select(Snapshot.id, Snapshot.url)
        .where(*conds)
        .order_by(*order)
        .execution_options(yield_per=STREAM_CHUNK)
    )
    try:
        for snapshot_id, url in rows:
            seen += 1
            if program.search(url):
                total += 1
                if len(ids) < limit:
                    ids.append(snapshot_id)
            if seen % STREAM_CHUNK == 0 and time.monotonic() > deadline:
                raise InvalidInput(
                    f"the regex search passed {budget:g} s after {seen} snapshots; narrow it "
                    "with after/before, status, or a more specific pattern"
                )
    finally:
        rows.close()
    return Matches(ids, total)
