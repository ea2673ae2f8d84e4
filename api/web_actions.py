"""What the web UI changes: a snapshot's actions, bulk actions on a selection, tags.

Every route here is a POST from one of Amber's own forms: it needs a signed-in
session and the session's CSRF token (api.web_auth.check_csrf), and answers
with a redirect back to a page (post/redirect/get), so it works without JS.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from api.deps import SessionDep, StateDep, WebSessionDep
from api.errors import WEB
from api.state import AppState
from api.web_auth import check_csrf, local_target, page, to_login
from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler import tags as tag_rules
from crawler.auth import Principal
from crawler.errors import InvalidInput, Unauthorized
from crawler.models import Snapshot
from crawler.users import SignedIn

router = APIRouter(tags=[WEB], include_in_schema=False)
MAX_SELECTED = 500
BULK_ACTIONS = ("tag", "untag", "rearchive", "export", "delete")


def _back(to: str) -> RedirectResponse:
    return RedirectResponse(local_target(to), status_code=303)


async def _signed_post(request: Request, state: AppState, signed: SignedIn | None) -> SignedIn:
    if signed is None:
        raise Unauthorized("Sign in first")
    await check_csrf(request, state, signed)
    return signed


def rearchive_urls(
    session: Session, principal: Principal, rows: list[Snapshot], state: AppState
) -> list[str]:
    """A new capture of each URL (its tags carry over); the old captures stay in the timeline."""
    outcome = snaps.add_urls(
        session,
        principal=principal,
        entries=[snaps.UrlEntry(url=row.url) for row in rows],
        update=True,
        redeliver_after=state.settings.redeliver_seconds,
        workspace_id=rows[0].workspace_id if rows else None,
    )
    return outcome.queued_ids


@router.post("/snapshot/{snapshot_id}/rearchive", response_model=None)
async def rearchive(
    snapshot_id: str, request: Request, session: SessionDep, state: StateDep, signed: WebSessionDep
) -> Response:
    me = await _signed_post(request, state, signed)
    snapshot = snaps.get_snapshot(session, me.principal, snapshot_id)
    queued = rearchive_urls(session, me.principal, [snapshot], state)
    session.commit()
    state.dispatch(queued)
    return _back(f"/snapshot/{queued[0]}" if queued else f"/snapshot/{snapshot.id}")


@router.post("/snapshot/{snapshot_id}/retry", response_model=None)
async def retry_failed(
    snapshot_id: str, request: Request, session: SessionDep, state: StateDep, signed: WebSessionDep
) -> Response:
    """Queue the snapshot again: the worker runs only the outputs not yet done."""
    me = await _signed_post(request, state, signed)
    snapshot = snaps.get_snapshot(session, me.principal, snapshot_id)
    moved = states.requeue(session, [snapshot.id], redeliver_after=state.settings.redeliver_seconds)
    session.commit()
    if moved:
        state.dispatch([snapshot.id])
    return _back(f"/snapshot/{snapshot.id}")


@router.post("/snapshot/{snapshot_id}/edit", response_model=None)
async def edit(
    snapshot_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    signed: WebSessionDep,
    title: Annotated[str, Form(max_length=1000)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    me = await _signed_post(request, state, signed)
    snapshot = snaps.get_snapshot(session, me.principal, snapshot_id)
    names = [tag_rules.clean_name(n) for n in tags.split(",") if n.strip()]
    snapshot.title = title.strip() or None
    session.add(snapshot)
    snaps.set_snapshot_tags(session, snapshot, names, user_id=me.principal.user_id)
    session.commit()
    return _back(f"/snapshot/{snapshot.id}")


@router.post("/snapshot/{snapshot_id}/delete", response_model=None)
async def delete(
    snapshot_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    signed: WebSessionDep,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    me = await _signed_post(request, state, signed)
    snapshot = snaps.get_snapshot(session, me.principal, snapshot_id)
    if confirm != "yes":
        raise InvalidInput("tick the box to confirm the deletion")
    snaps.delete_snapshot(session, snapshot)
    session.commit()
    return _back("/")


@router.get("/compare", response_model=None)
def compare(
    a: Annotated[str, Query(max_length=64)], b: Annotated[str, Query(max_length=64)]
) -> Response:
    """The snapshot page's "compare with…" form leads to the diff page (older first)."""
    return RedirectResponse(f"/diff/{a}/{b}", status_code=303)


@router.post("/bulk", response_model=None)
async def bulk(
    request: Request,
    session: SessionDep,
    state: StateDep,
    signed: WebSessionDep,
    action: Annotated[str, Form(max_length=20)] = "",
    tag: Annotated[str, Form(max_length=200)] = "",
    back: Annotated[str, Form(max_length=4000)] = "/",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    me = await _signed_post(request, state, signed)
    form = await request.form()
    ids = list(dict.fromkeys(str(v) for v in form.getlist("id") if str(v).strip()))
    if action not in BULK_ACTIONS:
        raise InvalidInput(f"action must be one of: {', '.join(BULK_ACTIONS)}")
    if not ids:
        raise InvalidInput("select at least one snapshot")
    if len(ids) > MAX_SELECTED:
        raise InvalidInput(f"select at most {MAX_SELECTED} snapshots at once")
    rows = [snaps.get_snapshot(session, me.principal, sid) for sid in ids]
    if action == "export":
        return RedirectResponse(
            "/api/v1/core/export.wacz?" + urlencode([("id", r.id) for r in rows]), 303
        )
    if action in ("tag", "untag"):
        name = tag_rules.clean_name(tag)
        for row in rows:
            if action == "tag":
                tag_rules.add_to_snapshot(session, row, [name], user_id=me.principal.user_id)
            else:
                current = snaps.snapshot_tags(session, [row.id])[row.id]
                if name in current:
                    tag_rules.remove_from_snapshot(session, row, name)
    elif action == "rearchive":
        queued = rearchive_urls(session, me.principal, rows, state)
        session.commit()
        state.dispatch(queued)
        return _back(back)
    elif action == "delete":
        if confirm != "yes":
            context = {"rows": rows, "back": local_target(back)}
            return page(request, "bulk_delete.html", context, signed=me)
        for row in rows:
            snaps.delete_snapshot(session, row)
    session.commit()
    return _back(back)


@router.get("/tags", response_model=None)
def tags_page(request: Request, session: SessionDep, signed: WebSessionDep) -> Response:
    if signed is None:
        return to_login(request)
    rows = tag_rules.tag_counts(session, signed.principal)
    return page(request, "tags.html", {"tags": rows}, signed=signed)


@router.post("/tags/{tag_id}", response_model=None)
async def change_tag(
    tag_id: str,
    request: Request,
    session: SessionDep,
    state: StateDep,
    signed: WebSessionDep,
    action: Annotated[str, Form(max_length=20)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    into: Annotated[str, Form(max_length=200)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Rename, merge into another tag, or delete (the snapshots stay)."""
    me = await _signed_post(request, state, signed)
    tag = tag_rules.get_tag(session, me.principal, tag_id)
    if not me.principal.is_workspace_admin(tag.workspace_id) and tag.workspace_id not in (
        me.principal.workspace_ids
    ):
        raise InvalidInput("not your tag")
    if action == "rename":
        tag_rules.rename_tag(session, tag, name)
    elif action == "merge":
        target = tag_rules.get_tag(session, me.principal, tag_rules.clean_name(into))
        tag_rules.merge_tags(session, tag, target)
    elif action == "delete":
        if confirm != "yes":
            raise InvalidInput("tick the box to confirm deleting the tag")
        tag_rules.delete_tag(session, tag)
    else:
        raise InvalidInput("action must be rename, merge or delete")
    session.commit()
    return _back("/tags")
