"""Filtering the archive-result list: ArchiveBox 0.9's ``ArchiveResultFilterSchema``.

Each filter narrows the list; text filters match in any case, as ArchiveBox's
``icontains`` does. 0.8's names are accepted too: ``extractor`` for ``plugin`` and
``output`` for ``output_str``. ArchiveBox also filters on ``hook_name``,
``process_id``, ``cmd`` and ``pwd``; Amber records none of them (its extractors
run inside one browser, not as commands), so a value there matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_
from sqlmodel import Session, col, func, select

from crawler import snapshot_filters, snapshot_query
from crawler.counts import count_rows, count_total, planner_estimate, remembered
from crawler.models import ArchiveResult, Snapshot, SnapshotTag, Tag
from crawler.snapshot_query import has_tag


@dataclass(slots=True)
class ResultFilters:
    id: str | None = None
    search: str | None = None
    snapshot_id: str | None = None
    snapshot_url: str | None = None
    snapshot_tag: str | None = None
    status: str | None = None
    output_str: str | None = None
    output: str | None = None
    plugin: str | None = None
    extractor: str | None = None
    hook_name: str | None = None
    process_id: str | None = None
    cmd: str | None = None
    pwd: str | None = None
    cmd_version: str | None = None
    created_at: datetime | None = None
    created_at__gte: datetime | None = None
    created_at__lt: datetime | None = None

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


NOT_RECORDED = ("hook_name", "process_id", "cmd", "pwd")
RARE_URL_BELOW = 5_000


def _icontains(column: Any, value: str) -> Any:
    return func.lower(column).contains(value.lower(), autoescape=True)


def _prefix(column: Any, value: str) -> Any:
    return col(column).startswith(value, autoescape=True)


def _of_snapshot(value: str) -> Any:
    """ArchiveBox's snapshot reference: an id prefix or a timestamp prefix."""
    return or_(_prefix(Snapshot.id, value), _prefix(Snapshot.timestamp, value))


def _tagged(value: str) -> Any:
    return (
        select(SnapshotTag.snapshot_id)
        .join(Tag, col(Tag.id) == col(SnapshotTag.tag_id))
        .where(_icontains(col(Tag.name), value))
    )


def _tag_contains(value: str, *, walk: bool = False) -> Any:
    # walk: test each row walked in list order (crawler.snapshot_query.has_tag) instead of
    # driving from the tagged ids and then sorting them all.
    if walk:
        return has_tag(_icontains(col(Tag.name), value))
    return col(Snapshot.id).in_(_tagged(value))


def tag_links(session: Session, value: str, upto: int) -> int:
    """How many snapshots carry a tag whose name contains `value`, counted up to `upto`
    (from the ``(tag_id, snapshot_id)`` index of migration 0016, not the snapshots)."""
    sized = select(func.count()).select_from(_tagged(value).limit(upto).subquery())
    return int(session.execute(sized).scalar_one())


def tagged_total(session: Session, value: str) -> int:
    """How many snapshots carry a tag whose name contains `value`, for an estimated total.

    Counting them on every request cost 15 ms for a name matching eleven tags (220,000
    links) at 1,000,000 snapshots, ten times that at 10M. Once counted it is remembered
    (crawler.counts); until then PostgreSQL's planner gives it from its statistics of
    the matching tags' ids (their link counts are among its most common values), and the
    count runs in the background when the same tag is asked for again."""
    tagged = _tagged(value)
    known = remembered(session, tagged)
    if known is not None:
        return known.value
    ids = list(session.exec(select(Tag.id).where(_icontains(col(Tag.name), value))).all())
    if not ids:
        return 0
    planned = planner_estimate(
        session, select(SnapshotTag.snapshot_id).where(col(SnapshotTag.tag_id).in_(ids))
    )
    if planned is None:  # SQLite: no planner figures; the count is remembered when large
        return count_rows(session, tagged)
    return count_total(session, tagged, estimate=planned).value


def tag_is_rare(session: Session, value: str, upto: int = RARE_URL_BELOW) -> bool:
    """Whether few snapshots carry a tag whose name contains `value`."""
    return tag_links(session, value, upto) < upto


def _url_contains(value: str, dialect: str, indexed: bool) -> Any:
    """Snapshot url contains `value`: trigram candidates (crawler.snapshot_filters), then exact."""
    found = snapshot_filters.contains("url", value, dialect, name="trgm_snapshot_url")
    if found.candidate is None or not indexed:
        return found.exact(Snapshot)
    return and_(found.candidate, found.confirm(Snapshot))


def url_is_rare(session: Session, value: str, upto: int = RARE_URL_BELOW) -> bool:
    """Whether few snapshot urls contain `value` (then its trigram candidates drive the
    query; a common one is found faster by walking the list order).

    The newest `SAMPLE` snapshots are tested first: a term common there is taken as
    common without counting its candidates, which for a 10% term read 50,000 rows at
    10M snapshots (~80 ms on PostgreSQL) to find 5,000."""
    dialect = session.get_bind().dialect.name
    found = snapshot_filters.contains("url", value, dialect, name="trgm_snapshot_url")
    if found.probe is None:
        return False
    seen, hits = snapshot_query.window_stats(session, [], [found])
    if seen < snapshot_query.SAMPLE:  # the window held every snapshot
        return hits < upto
    if hits * count_rows(session, select(col(Snapshot.id))) >= 2 * upto * seen:
        return False
    sized = select(func.count()).select_from(found.probe(upto).subquery())
    return int(session.execute(sized).scalar_one()) < upto


def result_conditions(
    f: ResultFilters,
    dialect: str = "sqlite",
    *,
    url_indexed: bool = True,
    tag_walk: bool = False,
) -> list[Any]:
    """WHERE terms over ``ArchiveResult`` joined to its ``Snapshot``; empty values are unset.

    `url_indexed` False tests ``snapshot_url`` row by row (see `url_is_rare`);
    `tag_walk` True tests ``snapshot_tag`` row by row in list order (see `tag_is_rare`)."""
    conds: list[Any] = []
    if f.id:
        conds.append(or_(_prefix(ArchiveResult.id, f.id), _of_snapshot(f.id)))
    if f.search:
        conds.append(
            or_(
                _icontains(col(Snapshot.url), f.search),
                _icontains(col(Snapshot.title), f.search),
                _tag_contains(f.search),
                col(ArchiveResult.plugin) == f.search,
                _icontains(col(ArchiveResult.output_str), f.search),
                _prefix(ArchiveResult.id, f.search),
                _of_snapshot(f.search),
            )
        )
    if f.snapshot_id:
        conds.append(_of_snapshot(f.snapshot_id))
    if f.snapshot_url:
        conds.append(_url_contains(f.snapshot_url, dialect, url_indexed))
    if f.snapshot_tag:
        conds.append(_tag_contains(f.snapshot_tag, walk=tag_walk and dialect == "sqlite"))
    if f.status:
        conds.append(col(ArchiveResult.status) == f.status)
    for output in (f.output_str, f.output):
        if output:
            conds.append(_icontains(col(ArchiveResult.output_str), output))
    for plugin in (f.plugin, f.extractor):
        if plugin:
            conds.append(_icontains(col(ArchiveResult.plugin), plugin))
    if f.cmd_version:
        conds.append(col(ArchiveResult.cmd_version) == f.cmd_version)
    if any(getattr(f, name) for name in NOT_RECORDED):
        conds.append(false())
    if f.created_at is not None:
        conds.append(col(ArchiveResult.created_at) == f.created_at)
    if f.created_at__gte is not None:
        conds.append(col(ArchiveResult.created_at) >= f.created_at__gte)
    if f.created_at__lt is not None:
        conds.append(col(ArchiveResult.created_at) < f.created_at__lt)
    return conds
