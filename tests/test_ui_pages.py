"""The fleet page, the other kinds' browsers, fonts for every script, and accessibility.

One `amber serve` (the shared SQLite one) for the module. Two users fill
dashboards, notes, sheets and CMS entries through their own dialect APIs; the
pages must show each user only their own, and a sheet restore must need the
form's CSRF token. The Japanese/Arabic/emoji page is captured once and its
screenshot and PDF are checked for real glyphs. axe-core (vendored under
tests/vendor, a test tool only) then runs in real Chromium on every main page.
"""

from __future__ import annotations

import io
import re
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser, sync_playwright
from pypdf import PdfReader

from crawler.settings import load_settings
from extractors.engine.browser import CHROMIUM_FLAGS
from tests import conftest
from tests.conftest import ADMIN_TOKEN, _token_factory, run_amber
from tests.services import AmberServer
from tests.site import GLYPH_BOXES, GLYPHS, SCRIPTS_TEXT, TestSite

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARTEFACTS = Path(__file__).resolve().parent.parent / "data" / "test-artefacts"
SHEET = {
    "name": "Stock",
    "slug": "stock",
    "fields": [
        {"key": "item", "type": "string", "label": "Item"},
        {"key": "count", "type": "number", "label": "Count"},
    ],
}
POST_TYPE = {
    "name": "Post",
    "displayField": "title",
    "fields": [{"id": "title", "name": "Title", "type": "Symbol", "required": True}],
}


def api_client(server: AmberServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    )


@dataclass
class Account:
    """A user with an API token; `password` is set when the UI signs in with one."""

    name: str
    token: str
    password: str = ""


def _login_form(server: AmberServer, account: Account, client: httpx.Client) -> dict[str, str]:
    """What the sign-in form wants: a token (cookie sign-in) or a name and password."""
    form = client.get("/login").text
    if 'name="token"' in form or "name='token'" in form:
        return {"token": account.token}
    if not account.password:
        account.password = f"pw-{account.name}-0123456789"
        done = run_amber(
            server.env,
            "user",
            "password",
            account.name,
            "--password-stdin",
            input_text=account.password + "\n",
        )
        assert done.returncode == 0, done.stderr
    fields = {"username": account.name, "password": account.password}
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    return {**fields, "csrfmiddlewaretoken": csrf[1]} if csrf else fields


@contextmanager
def ui_client(server: AmberServer, account: Account) -> Iterator[httpx.Client]:
    """A browser-like client signed in through the UI's own sign-in form."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        signed = client.post("/login", data={**_login_form(server, account, client), "next": "/"})
        assert signed.status_code == 303, signed.text
        yield client


def wait_done(api: httpx.Client, snapshot_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = api.get(f"/api/v1/core/snapshot/{snapshot_id}").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.3)


@dataclass
class Kinds:
    """What one user made in each dialect."""

    account: Account
    dashboard_key: str = ""
    note_id: str = ""
    sheet_id: str = ""
    snapshot_id: str = ""
    space_id: str = ""
    entry_id: str = "ui-entry"
    record_ids: list[str] = field(default_factory=list)


def make_kinds(server: AmberServer, account: Account, tag: str) -> Kinds:
    kinds = Kinds(account)
    with api_client(server, account.token) as http:
        made = http.post(
            "/api/snapshots",
            json={
                "dashboard": {
                    "title": f"Ops {tag}",
                    "panels": [{"title": "Latency", "type": "graph"}],
                },
                "name": f"Ops board {tag}",
            },
        )
        assert made.status_code == 200, made.text
        kinds.dashboard_key = made.json()["key"]

        workspace = next(
            w["id"] for w in http.get("/api/workspace").json()["data"] if w["isDefault"]
        )
        note = http.post(
            "/api/notes", json={"workspaceId": workspace, "title": f"Diary {tag}", "content": "v1"}
        )
        assert note.status_code == 201, note.text
        kinds.note_id = note.json()["data"]["id"]
        assert (
            http.put(f"/api/notes/{kinds.note_id}", json={"content": "v2 now"}).status_code == 200
        )

        book = http.post("/v1/workbooks", json={"name": f"Book {tag}", "sheets": [SHEET]})
        assert book.status_code == 200, book.text
        kinds.sheet_id = book.json()["data"]["sheets"][0]["id"]
        rows = [{"item": {"value": "bolts"}, "count": {"value": 5}}]
        added = http.post(f"/v1/sheets/{kinds.sheet_id}/records", json=rows)
        kinds.record_ids = [r["id"] for r in added.json()["data"]["records"]]
        snap = http.post(
            "/v1/snapshots", json={"sheetId": kinds.sheet_id, "label": f"before {tag}"}
        )
        kinds.snapshot_id = snap.json()["data"]["id"]
        # after the snapshot: one record changed, one added
        http.put(
            f"/v1/sheets/{kinds.sheet_id}/records",
            json=[{"id": kinds.record_ids[0], "values": {"count": {"value": 99}}}],
        )
        http.post(f"/v1/sheets/{kinds.sheet_id}/records", json=[{"item": {"value": "nuts"}}])

        kinds.space_id = http.get("/spaces").json()["items"][0]["sys"]["id"]
        env = f"/spaces/{kinds.space_id}/environments/master"
        assert http.put(f"{env}/content_types/post", json=POST_TYPE).status_code in (200, 201)
        http.put(f"{env}/content_types/post/published", headers={"X-Contentful-Version": "1"})
        entry = http.put(
            f"{env}/entries/{kinds.entry_id}",
            json={"fields": {"title": {"en-US": f"Hello {tag}"}}},
            headers={"X-Contentful-Content-Type": "post"},
        )
        assert entry.status_code == 201, entry.text
        published = http.put(
            f"{env}/entries/{kinds.entry_id}/published", headers={"X-Contentful-Version": "1"}
        )
        assert published.status_code == 200, published.text
    return kinds


@dataclass
class Setup:
    server: AmberServer
    alice: Kinds
    bob: Kinds
    scripts: dict[str, Any]
    rich: dict[str, Any]


@pytest.fixture(scope="module")
def setup(sqlite_server: AmberServer, site: TestSite) -> Setup:
    sqlite_token = _token_factory(sqlite_server)
    with api_client(sqlite_server, ADMIN_TOKEN) as admin:
        ids = [
            admin.post("/api/v1/cli/add", json={"urls": [site.url(path)]}).json()["snapshot_ids"][0]
            for path in ("/scripts.html", "/page.html?ui-pages")
        ]
        alice = make_kinds(sqlite_server, Account("ui_alice", sqlite_token("ui_alice")), "A")
        bob = make_kinds(sqlite_server, Account("ui_bob", sqlite_token("ui_bob")), "B")
        scripts, rich = (wait_done(admin, i) for i in ids)
    return Setup(sqlite_server, alice, bob, scripts, rich)


# --- fonts for every script ----------------------------------------------------------


def _crop(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    x, y, width, height = box
    return image.crop((x, y, x + width, y + height)).convert("RGB")


def _pixels(cell: Image.Image) -> Iterator[tuple[int, int, int]]:
    data = cell.tobytes()
    return zip(data[0::3], data[1::3], data[2::3], strict=True)


def _ink(cell: Image.Image) -> int:
    """Pixels that are not near-white."""
    return sum(1 for r, g, b in _pixels(cell) if min(r, g, b) < 160)


def _colourful(cell: Image.Image) -> int:
    return sum(1 for r, g, b in _pixels(cell) if max(r, g, b) - min(r, g, b) > 80)


def test_japanese_arabic_and_emoji_are_drawn_as_glyphs_not_boxes(setup: Setup) -> None:
    # Given the scripts page captured by a real worker
    snap = setup.scripts
    assert snap["status"] == "succeeded", snap.get("last_error")
    with api_client(setup.server, ADMIN_TOKEN) as http:
        png = http.get(f"/archive/{snap['timestamp']}/screenshot.png")
        pdf = http.get(f"/archive/{snap['timestamp']}/output.pdf")
    assert png.status_code == 200 and pdf.status_code == 200
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "scripts-screenshot.png").write_bytes(png.content)
    image = Image.open(io.BytesIO(png.content))
    for script, chars in GLYPHS.items():
        cells = [_crop(image, box) for box in GLYPH_BOXES[script]]
        # Then every character left ink where it is drawn
        for char, cell in zip(chars, cells, strict=True):
            assert _ink(cell) > 60, f"{script} {char!r}: nothing drawn"
        # and no two characters look alike: "tofu" boxes of missing glyphs are all the same
        for (a, cell_a), (b, cell_b) in combinations(zip(chars, cells, strict=True), 2):
            changed = (
                ImageChops.difference(cell_a, cell_b)
                .convert("L")
                .point(lambda v: 255 if v > 64 else 0)
            )
            differing = sum(1 for v in changed.tobytes() if v)
            assert differing > 80, f"{script}: {a!r} and {b!r} render alike (missing font?)"
    # And emoji are in colour (a monochrome fallback glyph is not the emoji font)
    for char, box in zip(GLYPHS["emoji"], GLYPH_BOXES["emoji"], strict=True):
        assert _colourful(_crop(image, box)) > 200, f"{char!r} is not a colour emoji"

    # And the PDF carries the text itself (NFKC: PDF text may use compatibility forms)
    text = unicodedata.normalize(
        "NFKC", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    )
    assert SCRIPTS_TEXT["ja"] in text
    assert SCRIPTS_TEXT["emoji"] in text
    assert all(letter in text for letter in GLYPHS["ar"]), text
    assert "\x00" not in text


# --- the fleet page ------------------------------------------------------------------


def _metric(text: str, name: str, label: str, value: str) -> float:
    pattern = rf'^{name}\{{[^}}]*{label}="{re.escape(value)}"[^}}]*\}} (\S+)$'
    return sum(float(m) for m in re.findall(pattern, text, flags=re.M))


def test_fleet_page_shows_what_metrics_exports(setup: Setup) -> None:
    with (
        api_client(setup.server, ADMIN_TOKEN) as api,
        ui_client(setup.server, setup.alice.account) as ui,
    ):
        # Given the fleet at rest (metrics read before and after the page agree)
        for _ in range(5):
            before = api.get("/metrics").text
            page = ui.get("/fleet")
            after = api.get("/metrics").text
            if (
                before.split("amber_worker_last_heartbeat")[0]
                == after.split("amber_worker_last_heartbeat")[0]
            ):
                break
        assert page.status_code == 200
        html = page.text
        # Then queue depth by state is the same as amber_queue_depth
        for status in ("queued", "started", "succeeded", "failed"):
            expected = int(_metric(after, "amber_queue_depth", "status", status))
            assert re.search(rf'id="queue-{status}">{expected}<', html), (status, expected)
        # And the embedded worker is listed as alive, with its captures counted
        workers = api.get("/api/v1/workers").json()
        assert workers["alive"] >= 1
        for worker in workers["items"]:
            assert worker["id"] in html
        assert f"{workers['alive']} alive" in html
        assert re.search(r'id="per-minute">\d+\.\d\d<', html)
        # And failures by reason appear when a worker reported any
        reasons = set(re.findall(r'amber_capture_failures_total\{[^}]*reason="([^"]+)"', after))
        for reason in reasons:
            assert reason in html
        # And the page needs signing in
        anonymous = httpx.get(f"{setup.server.url}/fleet")
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


# --- the other kinds -----------------------------------------------------------------


def test_kinds_pages_list_only_your_own_and_restore_needs_the_form(setup: Setup) -> None:
    alice, bob = setup.alice, setup.bob
    with ui_client(setup.server, alice.account) as ui:
        # Given Alice signed in: her items are listed, Bob's are not
        listings = {
            "/kinds/dashboards": ("Ops board A", "Ops board B"),
            "/kinds/notes": ("Diary A", "Diary B"),
            "/kinds/sheets": ("Book A", "Book B"),
            "/kinds/content": ("Hello A", "Hello B"),
        }
        assert all(path in ui.get("/kinds").text for path in listings)
        for path, (mine, theirs) in listings.items():
            page = ui.get(path)
            assert page.status_code == 200 and mine in page.text and theirs not in page.text, path
        # And each item opens with its snapshots
        board = ui.get(f"/kinds/dashboards/{alice.dashboard_key}").text
        assert "Latency" in board and "Ops A" in board
        note = ui.get(f"/kinds/notes/{alice.note_id}").text
        assert "v2 now" in note and "Version 1" in note  # the content before the change
        entry = ui.get(f"/kinds/content/{alice.space_id}/{alice.entry_id}").text
        assert "Hello A" in entry and "Publish 1" in entry
        sheet = ui.get(f"/kinds/sheets/{alice.sheet_id}").text
        assert "before A" in sheet and "nuts" in sheet and "99" in sheet
        # But Bob's items are not found, whatever the URL
        for path in (
            f"/kinds/dashboards/{bob.dashboard_key}",
            f"/kinds/notes/{bob.note_id}",
            f"/kinds/sheets/{bob.sheet_id}",
            f"/kinds/sheets/snapshots/{bob.snapshot_id}",
            f"/kinds/content/{bob.space_id}/{bob.entry_id}",
        ):
            assert ui.get(path).status_code == 404, path

        # When Alice opens her snapshot: it says what changed, and restore asks first
        snapshot = ui.get(f"/kinds/sheets/snapshots/{alice.snapshot_id}").text
        assert "1 records created" in snapshot and "1 records changed" in snapshot
        action = f"/kinds/sheets/snapshots/{alice.snapshot_id}/restore"
        assert action not in snapshot and "?confirm=1" in snapshot
        confirm = ui.get(f"/kinds/sheets/snapshots/{alice.snapshot_id}", params={"confirm": "1"})
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirm.text)
        assert token, confirm.text
        assert action in confirm.text
        # Then a post without the form's token (another site's form) is refused and changes nothing
        forged = ui.post(action, data={}, headers={"Origin": "http://evil.example"})
        assert forged.status_code == 403
        assert ui.post(action, data={"csrfmiddlewaretoken": "0" * 64}).status_code == 403
        # and Bob cannot restore Alice's snapshot, even with his own valid token
        with ui_client(setup.server, bob.account) as bob_ui:
            bob_confirm = bob_ui.get(f"/kinds/sheets/snapshots/{bob.snapshot_id}?confirm=1").text
            bob_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', bob_confirm)
            assert bob_token
            assert (
                bob_ui.post(action, data={"csrfmiddlewaretoken": bob_token[1]}).status_code == 404
            )
        # And with the token, the sheet is back as the snapshot kept it
        done = ui.post(action, data={"csrfmiddlewaretoken": token[1]})
        assert done.status_code == 303 and done.headers["location"].startswith(
            f"/kinds/sheets/{alice.sheet_id}"
        )
    with api_client(setup.server, alice.account.token) as http:
        records = http.get(f"/v1/sheets/{alice.sheet_id}/records").json()["data"]["records"]
    assert [(r["id"], r["values"]["count"]["value"]) for r in records] == [(alice.record_ids[0], 5)]


# --- accessibility -------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=load_settings().chromium_executable(), args=list(CHROMIUM_FLAGS)
        )
        yield launched
        launched.close()


def _axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2.x A/AA violations on the loaded page
    (axe is injected into every page of the context: `_context`)."""
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations'], runOnly: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def _context(browser: Browser) -> Any:
    """A browser context that loads axe into every page. axe is injected as a script,
    which the pages' CSP rightly forbids: bypassed here only."""
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    context.add_init_script(path=str(AXE))
    return context


def _sign_in(browser: Browser, server: AmberServer, account: Account) -> Any:
    page = _context(browser).new_page()
    url = server.url
    page.goto(f"{url}/login")
    with httpx.Client(base_url=url) as probe:
        fields = _login_form(server, account, probe)
    for name in ("token", "username", "password"):
        if name in fields:
            page.fill(f"input[name={name}]", fields[name])
    page.click("main button[type=submit], main button")
    page.wait_for_url(f"{url}/")
    return page


def test_main_pages_have_no_serious_accessibility_violations(
    setup: Setup, browser: Browser
) -> None:
    alice, url = setup.alice, setup.server.url
    scripts, rich = setup.scripts, setup.rich
    archive_pages = [
        "/",
        f"/snapshot/{scripts['id']}",
        f"/timeline?url={quote(scripts['url'], safe='')}",
        f"/diff/{rich['id']}/{scripts['id']}",
        "/fleet",
    ]
    kinds_pages = [
        "/kinds",
        "/kinds/dashboards",
        f"/kinds/dashboards/{alice.dashboard_key}",
        "/kinds/notes",
        f"/kinds/notes/{alice.note_id}",
        "/kinds/sheets",
        f"/kinds/sheets/{alice.sheet_id}",
        f"/kinds/sheets/snapshots/{alice.snapshot_id}?confirm=1",
        "/kinds/content",
        f"/kinds/content/{alice.space_id}/{alice.entry_id}",
    ]
    # screenshots kept as test artefacts (data/test-artefacts/ui-*.png)
    saved = {"/fleet": "fleet", kinds_pages[-3]: "sheet-restore", kinds_pages[-1]: "entry"}
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[dict[str, Any]]] = {}
    # Given the sign-in page, signed out
    anonymous = _context(browser)
    login = anonymous.new_page()
    login.goto(f"{url}/login")
    found["/login"] = _axe(login)
    anonymous.close()
    # When the admin opens the archive's pages, and Alice her other kinds
    # (the admin's password, when the UI has passwords, is the one conftest seeds)
    admin = Account("admin", ADMIN_TOKEN, getattr(conftest, "ADMIN_PASSWORD", ""))
    for account, paths in ((admin, archive_pages), (alice.account, kinds_pages)):
        page = _sign_in(browser, setup.server, account)
        for path in paths:
            answer = page.goto(url + path)
            assert answer is not None and answer.status == 200, path
            found[path] = _axe(page)
            if path in saved:
                page.screenshot(path=str(ARTEFACTS / f"ui-{saved[path]}.png"), full_page=True)
        # and the last page again at phone size
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(url + paths[-1])
        found[f"{paths[-1]} at 390x844"] = _axe(page)
        page.screenshot(path=str(ARTEFACTS / f"ui-phone-{len(found)}.png"), full_page=True)
        page.context.close()
    # Then no page has a serious or critical violation
    bad = {path: v for path, v in found.items() if v}
    assert not bad, "\n".join(f"{path}: {v}" for path, v in bad.items())
