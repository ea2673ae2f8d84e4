"""Adding to the archive from the browser: the add form, bookmarks uploads, the bookmarklet.

``POST /add`` and ``POST /add/`` take ArchiveBox's add-form fields (``url``,
``tag``, ``parser``, ``depth``), so ArchiveBox's browser extension can fall back
to them with its login cookies (see api.web_auth for its CSRF rule). An upload
is saved to the data dir and imported by a background thread
(crawler.import_jobs); its page follows the job through server-sent events.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlmodel import Session

from api.archive import AddRequest, add_answer, store_add
from api.deps import SessionDep, StateDep, WebSessionDep
from api.errors import WEB
from api.templating import templates
from api.web_auth import check_csrf, page, to_login
from crawler import import_jobs
from crawler import snapshots as snaps
from crawler.errors import InvalidInput
from crawler.importers import PARSER_NAMES
from crawler.models import ImportJob
from crawler.users import SignedIn

router = APIRouter(tags=[WEB], include_in_schema=False)
EVENT_INTERVAL = 0.4  # seconds between progress events


def _add_context(signed: SignedIn, request: Request, **extra: object) -> dict[str, object]:
    base = str(request.base_url).rstrip("/")
    bookmarklet = (
        "javascript:void(window.open('" + base + "/add?url='+encodeURIComponent(location.href)"
        "+'&title='+encodeURIComponent(document.title)))"
    )
    return {"bookmarklet": bookmarklet, "parsers": PARSER_NAMES, **extra}


@router.get("/add", response_model=None)
def add_form(
    request: Request,
    signed: WebSessionDep,
    url: Annotated[str, Query(max_length=100_000)] = "",
) -> Response:
    if signed is None:
        return to_login(request)
    return page(request, "add.html", _add_context(signed, request, url=url), signed=signed)


@router.post("/add", response_model=None)
@router.post("/add/", response_model=None)
async def add(
    request: Request,
    session: SessionDep,
    state: StateDep,
    signed: WebSessionDep,
    url: Annotated[str, Form(max_length=1_000_000)] = "",
    tag: Annotated[str, Form(max_length=2000)] = "",
    parser: Annotated[str, Form(max_length=20)] = "auto",
    depth: Annotated[str, Form(max_length=2)] = "0",
    update: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if signed is None:
        return to_login(request)  # the extension reads the sign-in form as "log in first"
    await check_csrf(request, state, signed, allow_extension=True)
    try:
        body = AddRequest(
            urls=url,
            tag=tag,
            parser=parser or "auto",
            depth=int(depth or 0),
            update=update in ("on", "true", "1", "yes"),
        )
    except (ValidationError, ValueError) as exc:
        context = _add_context(signed, request, url=url, tag=tag, error=_first_error(exc))
        return page(request, "add.html", context, signed=signed, status_code=400)
    try:
        added = store_add(body, session, signed.principal, state)
    except InvalidInput as exc:
        session.rollback()
        context = _add_context(signed, request, url=url, tag=tag, error=exc.message)
        return page(request, "add.html", context, signed=signed, status_code=400)
    session.commit()
    state.dispatch(added.queued_ids)
    stdout = add_answer(added)["stdout"]  # the API's summary line, "retried" included
    rows = [snaps.get_snapshot(session, signed.principal, sid) for sid in added.snapshot_ids[:200]]
    context = _add_context(
        signed, request, stdout=stdout, added=rows, crawl_id=added.crawl_id, problems=added.problems
    )
    return page(request, "add.html", context, signed=signed)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return "depth must be a number from 0 to 4"


@router.get("/import", response_model=None)
def import_form(request: Request, session: SessionDep, signed: WebSessionDep) -> Response:
    if signed is None:
        return to_login(request)
    jobs = import_jobs.recent_jobs(session, signed.principal)
    return page(request, "import.html", {"jobs": jobs, "parsers": PARSER_NAMES}, signed=signed)


@router.post("/import", response_model=None)
async def import_upload(
    request: Request,
    session: SessionDep,
    state: StateDep,
    signed: WebSessionDep,
    file: Annotated[UploadFile, File()],
    tag: Annotated[str, Form(max_length=2000)] = "",
    parser: Annotated[str, Form(max_length=20)] = "auto",
    update: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if signed is None:
        return to_login(request)
    await check_csrf(request, state, signed)
    if parser not in PARSER_NAMES:
        raise InvalidInput(f"parser must be one of: {', '.join(PARSER_NAMES)}")
    tags = snaps.parse_tags(tag)
    folder = state.settings.data_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    job = import_jobs.create_job(
        session, signed.principal, filename=file.filename or "upload", total_bytes=0
    )
    path = folder / f"{job.id}.upload"
    with path.open("wb") as out:
        await asyncio.to_thread(shutil.copyfileobj, file.file, out, 1 << 20)
    job.total_bytes = path.stat().st_size
    session.add(job)
    session.commit()
    thread = threading.Thread(
        target=import_jobs.run_import,
        name=f"import-{job.id}",
        daemon=True,
        kwargs={
            "engine": state.engine,
            "job_id": job.id,
            "path": path,
            "principal": signed.principal,
            "parser": parser,
            "tags": tags,
            "update": update in ("on", "true", "1", "yes"),
            "redeliver_after": state.settings.redeliver_seconds,
            "dispatch": state.dispatch,
        },
    )
    thread.start()
    return RedirectResponse(f"/imports/{job.id}", status_code=303)


@router.get("/imports/{job_id}", response_model=None)
def import_progress(
    job_id: str, request: Request, session: SessionDep, signed: WebSessionDep
) -> Response:
    if signed is None:
        return to_login(request)
    job = import_jobs.get_job(session, signed.principal, job_id)
    return page(request, "import_progress.html", {"job": job}, signed=signed)


def _fragment(job: ImportJob) -> str:
    html = templates.get_template("import_status.html").render(job=job)
    return "".join(f"data: {line}\n" for line in html.splitlines() or [""])


@router.get("/imports/{job_id}/events", response_model=None)
async def import_events(
    job_id: str, request: Request, session: SessionDep, signed: WebSessionDep
) -> Response:
    """Server-sent events: a ``progress`` event with the status fragment, ``done`` at the end."""
    if signed is None:
        return to_login(request)
    principal = signed.principal
    import_jobs.get_job(session, principal, job_id)
    engine = session.get_bind()

    def read() -> ImportJob:
        with Session(engine, expire_on_commit=False) as fresh:
            return import_jobs.get_job(fresh, principal, job_id)

    async def stream() -> AsyncIterator[str]:
        while True:
            job = await asyncio.to_thread(read)
            yield f"event: progress\n{_fragment(job)}\n"
            if job.status != "running":
                yield "event: done\ndata: done\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_INTERVAL)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
