"""Diffs between two captures: JSON in the ArchiveBox dialect, the visual diff PNG, the UI page.

`GET /api/v1/core/snapshots/{a}/diff/{b}` says how `a` became `b`: text, screenshot
and resources, each `available: false` with a reason when it cannot be computed.
Snapshots are named as everywhere else in the API (id, id prefix or timestamp);
another tenant's snapshot is not found, like an unknown one. The PNG and the
page are GETs that a browser loads, so they also take the UI's sign-in cookie.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session

from api.deps import ArchivePrincipalDep, BrowserPrincipalDep, SessionDep, StateDep
from api.errors import ARCHIVE, WEB
from api.templating import render
from api.web import optional_principal
from api.web_auth import to_login
from crawler import snapshots as snaps
from crawler.auth import Principal
from crawler.clock import iso
from crawler.diffs import SnapshotDiff, Unavailable, compare_snapshots
from crawler.diffs.compare import screenshot_pair, visual_diff_png
from crawler.diffs.resources import ResourceChange, ResourceDiff
from crawler.diffs.screenshot import ImageDiff
from crawler.diffs.text import TextDiff
from crawler.models import Snapshot
from crawler.warcindex import IndexEntry

router = APIRouter()
API = "/api/v1/core/snapshots/{a}/diff/{b}"
WebPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def image_path(a: Snapshot, b: Snapshot) -> str:
    return API.format(a=a.id, b=b.id) + "/screenshot.png"


def _side(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "url": snapshot.url,
        "title": snapshot.title,
        "timestamp": snapshot.timestamp,
        "status": snapshot.status,
        "created_at": iso(snapshot.created_at),
        "downloaded_at": iso(snapshot.downloaded_at),
    }


def _unavailable(part: Unavailable) -> dict[str, Any]:
    return {"available": False, "reason": part.reason}


def text_json(part: TextDiff | Unavailable) -> dict[str, Any]:
    if isinstance(part, Unavailable):
        return _unavailable(part)
    return {
        "available": True,
        "changed": part.changed,
        "share_changed": round(part.share_changed, 6),
        "chars_a": part.chars_a,
        "chars_b": part.chars_b,
        "chars_inserted": part.chars_inserted,
        "chars_deleted": part.chars_deleted,
        "words_inserted": part.words_inserted,
        "words_deleted": part.words_deleted,
        "excerpt": part.excerpt(),
        "ops": [{"op": op.op, "text": op.text} for op in part.ops],
    }


def screenshot_json(part: ImageDiff | Unavailable, image_url: str) -> dict[str, Any]:
    if isinstance(part, Unavailable):
        return _unavailable(part)
    width, height = part.size
    return {
        "available": True,
        "width": width,
        "height": height,
        "size_a": {"width": part.size_a[0], "height": part.size_a[1]},
        "size_b": {"width": part.size_b[0], "height": part.size_b[1]},
        "changed_pixels": part.changed_pixels,
        "share_changed": round(part.share_changed, 6),
        "cell": part.cell,
        "tolerance": part.tolerance,
        "boxes": [
            {"x": box.x, "y": box.y, "width": box.width, "height": box.height} for box in part.boxes
        ],
        "boxes_truncated": part.boxes_truncated,
        "image_url": image_url,
    }


def _entry(entry: IndexEntry) -> dict[str, Any]:
    return {"status": entry.status, "mime": entry.mime, "digest": entry.digest}


def _resource(change: ResourceChange) -> dict[str, Any]:
    item: dict[str, Any] = {"url": change.url, "method": change.method}
    if change.before is not None and change.after is not None:
        item.update(
            mime=change.after.mime,
            status_a=change.before.status,
            status_b=change.after.status,
            digest_a=change.before.digest,
            digest_b=change.after.digest,
        )
    else:
        item.update(_entry(change.after or change.before))  # type: ignore[arg-type]
    return item


def resources_json(part: ResourceDiff | Unavailable) -> dict[str, Any]:
    if isinstance(part, Unavailable):
        return _unavailable(part)
    return {
        "available": True,
        "total_a": part.total_a,
        "total_b": part.total_b,
        "unchanged": part.unchanged,
        "added": [_resource(c) for c in part.added],
        "removed": [_resource(c) for c in part.removed],
        "changed": [_resource(c) for c in part.changed],
    }


def diff_json(diff: SnapshotDiff) -> dict[str, Any]:
    return {
        "TYPE": "amber.SnapshotDiff",
        "a": _side(diff.a),
        "b": _side(diff.b),
        "same_url": diff.a.normalized_url == diff.b.normalized_url,
        "text": text_json(diff.text),
        "screenshot": screenshot_json(diff.screenshot, image_path(diff.a, diff.b)),
        "resources": resources_json(diff.resources),
        "elapsed_ms": diff.elapsed_ms,
    }


def _pair(session: Session, principal: Principal, a: str, b: str) -> tuple[Snapshot, Snapshot]:
    return snaps.get_snapshot(session, principal, a), snaps.get_snapshot(session, principal, b)


def _compare(state: StateDep, session: Session, principal: Principal, a: str, b: str) -> Any:
    first, second = _pair(session, principal, a, b)
    diff = compare_snapshots(
        session, state.blobs, first, second, text_timeout=state.settings.diff_timeout
    )
    return diff_json(diff)


@router.get(API, tags=[ARCHIVE])
def snapshot_diff(
    a: str, b: str, session: SessionDep, principal: ArchivePrincipalDep, state: StateDep
) -> dict[str, Any]:
    """How snapshot `a` became snapshot `b`: text, screenshot and resources."""
    return dict(_compare(state, session, principal, a, b))


@router.get(API + "/screenshot.png", tags=[ARCHIVE], response_model=None)
def snapshot_diff_image(
    a: str, b: str, session: SessionDep, principal: BrowserPrincipalDep, state: StateDep
) -> Response:
    """`b`'s screenshot with the regions that changed since `a` boxed."""
    first, second = _pair(session, principal, a, b)
    sha_a, sha_b = screenshot_pair(session, first, second)
    return Response(
        visual_diff_png(state.blobs, sha_a, sha_b),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/diff/{a}/{b}", tags=[WEB], include_in_schema=False, response_model=None)
def diff_page(
    a: str,
    b: str,
    request: Request,
    session: SessionDep,
    principal: WebPrincipal,
    state: StateDep,
) -> Response:
    if principal is None:
        return to_login(request)
    diff = _compare(state, session, principal, a, b)
    return render(request, "diff.html", {"diff": diff, "user": principal.username})
