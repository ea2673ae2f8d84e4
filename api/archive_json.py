"""ArchiveBox 0.9 JSON shapes for snapshots, results, tags and pages."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from crawler.clock import iso
from crawler.models import ArchiveResult, Snapshot, Tag

MAX_LIMIT = 500


def page_envelope(
    items: Sequence[Any], *, total: int, limit: int, offset: int, exact: bool = True
) -> dict[str, Any]:
    """ArchiveBox's page envelope; ``count_is_estimate`` is added when `total` is one
    (a large total still being counted in the background, see crawler.counts)."""
    envelope = {
        "count": total,
        "total_items": total,
        "total_pages": math.ceil(total / limit) if limit else 0,
        "page": offset // limit if limit else 0,
        "limit": limit,
        "offset": offset,
        "num_items": len(items),
        "items": list(items),
    }
    if not exact:
        envelope["count_is_estimate"] = True
    return envelope


def resolve_page(limit: int, offset: int, page: int) -> tuple[int, int]:
    limit = max(1, min(limit, MAX_LIMIT))
    return limit, offset or page * limit


def result_json(
    result: ArchiveResult, snapshot: Snapshot, tags: list[str], usernames: dict[str, str]
) -> dict[str, Any]:
    return {
        "TYPE": "core.models.ArchiveResult",
        "id": result.id,
        "created_at": iso(result.created_at),
        "modified_at": iso(result.modified_at),
        "created_by_id": result.created_by_id,
        "created_by_username": usernames.get(result.created_by_id, ""),
        "status": result.status,
        "retry_at": iso(result.retry_at),
        "plugin": result.plugin,
        "cmd_version": result.cmd_version,
        "output_str": result.output_str,
        "output_files": sorted(result.output_files),
        "output_size": result.output_size,
        "output_mimetypes": result.output_mimetypes,
        "sha256": result.sha256,
        "error": result.error,
        "start_ts": iso(result.start_ts),
        "end_ts": iso(result.end_ts),
        "snapshot_id": snapshot.id,
        "snapshot_timestamp": snapshot.timestamp,
        "snapshot_url": snapshot.url,
        "snapshot_tags": tags,
    }


def snapshot_json(
    snapshot: Snapshot,
    *,
    tags: list[str],
    results: list[ArchiveResult],
    usernames: dict[str, str],
    with_results: bool,
) -> dict[str, Any]:
    size = sum(r.output_size for r in results)
    body: dict[str, Any] = {
        "TYPE": "core.models.Snapshot",
        "id": snapshot.id,
        "created_by_id": snapshot.created_by_id,
        "created_by_username": usernames.get(snapshot.created_by_id, ""),
        "created_at": iso(snapshot.created_at),
        "modified_at": iso(snapshot.modified_at),
        "status": snapshot.status,
        "retry_at": iso(snapshot.retry_at),
        "bookmarked_at": iso(snapshot.bookmarked_at),
        "downloaded_at": iso(snapshot.downloaded_at),
        "url": snapshot.url,
        "tags": tags,
        "title": snapshot.title,
        "timestamp": snapshot.timestamp,
        "archive_path": f"archive/{snapshot.timestamp}",
        "archive_size": size,
        "output_size": size,
        "num_archiveresults": len(results),
        "crawl_id": snapshot.crawl_id,
        "depth": snapshot.depth,
        "last_error": snapshot.last_error,
        "archiveresults": None,
    }
    if with_results:
        body["archiveresults"] = [
            result_json(r, snapshot, tags, usernames)
            for r in sorted(results, key=lambda r: r.plugin)
        ]
    return body


def tag_json(tag: Tag, *, num_snapshots: int, usernames: dict[str, str]) -> dict[str, Any]:
    return {
        "TYPE": "core.models.Tag",
        "id": tag.id,
        "created_at": iso(tag.created_at),
        "modified_at": iso(tag.modified_at),
        "created_by_id": tag.created_by_id,
        "created_by_username": usernames.get(tag.created_by_id, ""),
        "name": tag.name,
        "slug": tag.name.lower().replace(" ", "-"),
        "num_snapshots": num_snapshots,
    }
