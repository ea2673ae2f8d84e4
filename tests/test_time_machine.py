"""Replay inside Amber, Memento and the URL forms, driven through real Chromium.

One private test site and one `amber serve` for the module: pages are captured
first, then replayed while the site still runs (its request counter must not
move) and finally with the site stopped (the replay must look like the capture).
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import requests
from memento_client import MementoClient
from PIL import Image, ImageChops
from playwright.sync_api import Browser, Page, sync_playwright

from crawler.settings import load_settings
from extractors.engine.browser import CHROMIUM_FLAGS
from tests.conftest import ADMIN_PASSWORD, ADMIN_TOKEN, amber_env, web_sign_in
from tests.services import AmberServer
from tests.site import JSON_MESSAGE, PDF_BYTES, TestSite

ARTEFACTS = Path(__file__).resolve().parent.parent / "data" / "test-artefacts"


@dataclass
class Archive:
    site: TestSite
    server: AmberServer
    api: httpx.Client
    ids: dict[str, str] = field(default_factory=dict)

    def snapshot(self, name: str) -> dict:
        return self.api.get(f"/api/v1/core/snapshot/{self.ids[name]}").json()


def _add(api: httpx.Client, url: str, **extra: object) -> str:
    answer = api.post("/api/v1/cli/add", json={"urls": [url], **extra})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["snapshot_ids"][0])


def _wait(api: httpx.Client, snapshot_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/api/v1/core/snapshot/{snapshot_id}").json()
        if body["status"] in ("succeeded", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.3)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    site = TestSite().start()
    server = AmberServer(env=amber_env(tmp_path_factory.mktemp("time-machine"))).start()
    api = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
    )
    archive = Archive(site, server, api)
    pages = {
        "index": site.url("/"),
        "rich": site.url("/page.html"),
        "hostile": site.url(f"/hostile.html?amber={server.url}"),
        "pdf": site.url("/doc.pdf"),
        "refused": "http://127.0.0.2:9/refused.html",
    }
    for name, url in pages.items():
        archive.ids[name] = _add(api, url, tag="tm")
    for name in pages:
        _wait(api, archive.ids[name])
    try:
        yield archive
    finally:
        api.close()
        server.stop()
        site.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=load_settings().chromium_executable(), args=list(CHROMIUM_FLAGS)
        )
        yield launched
        launched.close()


def _signed_in(browser: Browser, archive: Archive, **options: object) -> Page:
    context = browser.new_context(**options)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{archive.server.url}/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{archive.server.url}/")
    return page


def _frame_src(page: Page) -> str:
    return str(page.get_attribute("iframe#replay", "src"))


def test_replay_in_amber_never_touches_the_live_site(browser: Browser, archive: Archive) -> None:
    # Given the rich page archived, and the live site still up with its request counter
    url = archive.site.url("/page.html")
    page = _signed_in(browser, archive)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    hits_before = sum(archive.site.hits.values())
    # When the capture is opened through Amber's Wayback-style URL
    page.goto(f"{archive.server.url}/web/{url}")
    assert re.search(r"/web/\d{14}/", page.url)
    frame = page.frame_locator("iframe#replay")
    # Then the page, its CSS, images, iframe and the JSON its script fetched all replay
    frame.locator("#data").filter(has_text=JSON_MESSAGE).wait_for(timeout=30_000)
    color = frame.locator("#data").evaluate("e => getComputedStyle(e).color")
    assert color == "rgb(0, 128, 0)"
    assert frame.locator("#hero").evaluate("img => img.naturalWidth") == 40
    assert frame.frame_locator("iframe").locator("#framed").inner_text() == "inside the iframe"
    # And the frame is on the replay origin, never on Amber's own
    assert _frame_src(page).startswith(archive.server.replay_url + "/")
    # And not one request reached the live site, nor any host but Amber's two origins
    page.wait_for_timeout(500)
    assert sum(archive.site.hits.values()) == hits_before
    strangers = [
        u
        for u in requested
        if not u.startswith((archive.server.url + "/", archive.server.replay_url + "/"))
    ]
    assert strangers == [], strangers
    assert any(u.startswith(archive.server.replay_url + "/_amber/replay.js") for u in requested)
    page.context.close()


def test_archived_scripts_cannot_reach_amber(browser: Browser, archive: Archive) -> None:
    # Given a captured page whose script attacks whoever replays it
    url = archive.snapshot("hostile")["url"]
    page = _signed_in(browser, archive)
    cookie = next(c for c in page.context.cookies() if c["name"] == "amber_session")
    # When it is replayed in Amber's frame
    page.goto(f"{archive.server.url}/web/{url}")
    top = page.url
    out = page.frame_locator("iframe#replay").locator("#out")
    out.filter(has_text="cookie").wait_for(timeout=30_000)
    result = json.loads(out.inner_text())
    # Then it cannot read Amber's session cookie, nor the top window
    assert cookie["value"] not in result["cookie"]
    assert result["topCookie"].startswith("error:")
    assert result["topHref"].startswith("error:")
    # And it cannot call the API or read Amber's pages with the reader's cookie: the shim
    # keeps its requests in the archive (404), and a pristine fetch is blocked by policy
    for name in ("api", "ui"):
        assert result[name].startswith(("error:", "status:404:")), result[name]
        assert "items" not in result[name] and "Sign out" not in result[name]
    assert result["rawApi"].startswith("error:"), result["rawApi"]
    assert ADMIN_TOKEN not in json.dumps(result)
    # And it cannot navigate the top window away
    page.wait_for_timeout(500)
    assert page.url == top
    page.context.close()


def test_links_lead_to_the_nearest_capture_of_each_page(browser: Browser, archive: Archive) -> None:
    # Given the index page and the rich page it links to, each its own snapshot
    page = _signed_in(browser, archive)
    page.goto(f"{archive.server.url}/web/{archive.site.url('/')}")
    frame = page.frame_locator("iframe#replay")
    # When the link is followed inside the replay
    frame.locator("a").click()
    # Then the rich page's own capture replays
    frame.locator("#data").filter(has_text=JSON_MESSAGE).wait_for(timeout=30_000)
    urls = [f.url for f in page.frames]
    assert any(f"/{archive.ids['rich']}/mp_/" in u for u in urls), urls
    # And Amber's address bar follows the page shown in the frame
    page.wait_for_function("() => location.pathname.endsWith('/page.html')")
    page.context.close()


def test_memento_timegate_timemaps_and_url_forms(archive: Archive) -> None:
    api, url = archive.api, archive.site.url("/page.html")
    first = archive.snapshot("rich")
    # Given a second capture of the same URL, a few seconds later
    time.sleep(1.1)
    second_id = _add(api, url, update=True)
    second = _wait(api, second_id)
    assert second["status"] == "succeeded"
    # Then the re-capture kept the URL's tags, and ?url= is its timeline, newest first
    assert second["tags"] == first["tags"] == ["tm"]
    listed = api.get("/api/v1/core/snapshots", params={"url": url}).json()["items"]
    assert [s["id"] for s in listed] == [second_id, first["id"]]

    # When the official Memento client asks for a time just after the first capture
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    client = MementoClient(
        timegate_uri=f"{archive.server.url}/web/", check_native_timegate=False, session=session
    )
    first_at = datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    info = client.get_memento_info(url, (first_at + timedelta(seconds=0.5)).replace(tzinfo=None))
    # Then the closest memento is the first capture, and first/last span both
    closest = info["mementos"]["closest"]
    assert closest["uri"][0].startswith(f"{archive.server.url}/web/")
    memento = api.head(closest["uri"][0])
    assert memento.status_code == 200
    assert memento.headers["memento-datetime"]
    assert 'rel="original"' in memento.headers["link"]
    assert 'rel="timegate"' in memento.headers["link"]
    assert 'rel="timemap"' in memento.headers["link"]
    assert info["mementos"]["first"]["uri"] != info["mementos"]["last"]["uri"]

    # And the TimeGate itself honours Accept-Datetime and says it varies on it
    gate = api.get(
        f"/web/{url}",
        headers={"Accept-Datetime": "Thu, 01 Jan 1970 00:00:00 GMT"},
        follow_redirects=False,
    )
    assert gate.status_code == 302
    assert "accept-datetime" in [v.strip().lower() for v in gate.headers["vary"].split(",")]
    oldest = api.get(gate.headers["location"], follow_redirects=False)
    assert oldest.status_code == 200
    newest = api.get(f"/web/{url}", follow_redirects=False).headers["location"]
    assert newest != gate.headers["location"]
    bad = api.get(f"/web/{url}", headers={"Accept-Datetime": "yesterday"})
    assert bad.status_code == 422

    # And both TimeMaps list the two mementos
    link_map = api.get(f"/web/timemap/link/{url}")
    assert link_map.headers["content-type"].startswith("application/link-format")
    assert link_map.text.count('memento"; datetime=') == 2
    json_map = api.get(f"/web/timemap/json/{url}").json()
    assert len(json_map["mementos"]["list"]) == 2
    assert json_map["original_uri"] == url

    # And /archive/<url> (ArchiveBox's "View on server") opens the newest snapshot's page
    view = api.get(f"/archive/{url}", follow_redirects=False)
    assert view.status_code == 302 and view.headers["location"] == f"/snapshot/{second_id}"
    assert api.get("/archive/http://127.0.0.1:1/never").status_code == 404
    # And /web/*/<url> is the timeline page, newest first
    timeline = api.get(f"/web/*/{url}", follow_redirects=True)
    assert timeline.status_code == 200
    assert timeline.text.index(second_id) < timeline.text.index(first["id"])


def test_pdf_replays_as_its_bytes_and_a_failure_shows_its_reason(archive: Archive) -> None:
    api = archive.api
    # Given an archived PDF URL and a URL whose capture was refused
    pdf = archive.snapshot("pdf")
    refused = archive.snapshot("refused")
    assert pdf["status"] == "succeeded" and refused["status"] == "failed"
    # When the PDF's memento is read as recorded
    gate = api.get(f"/web/{pdf['url']}", follow_redirects=False)
    raw = api.get(gate.headers["location"].replace("/http", "id_/http", 1))
    # Then it is the original bytes with their content type, sandboxed on Amber's origin
    assert raw.content == PDF_BYTES
    assert raw.headers["content-type"] == "application/pdf"
    assert raw.headers["content-security-policy"].startswith("sandbox")
    # And the failed URL's page says why, instead of a dead replay
    failed = api.get(f"/web/{refused['url']}")
    assert failed.status_code == 404
    assert "failed" in failed.json()["message"] and "127.0.0.2" in failed.json()["message"]
    with web_sign_in(archive.server.url) as browser_like:
        page = browser_like.get(f"/web/{refused['url']}", headers={"Accept": "text/html"})
    assert page.status_code == 404 and refused["id"] in page.text


def test_replay_needs_a_reader_unless_public(archive: Archive, tmp_path: Path) -> None:
    url = archive.site.url("/page.html")
    # Given no credentials, a browser is sent to sign in and a script gets a 401
    anonymous = httpx.get(
        f"{archive.server.url}/web/{url}", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert httpx.get(f"{archive.server.url}/web/{url}").status_code == 401
    # And a forged or expired replay capability opens nothing on the replay origin
    sid = archive.ids["rich"]
    forged = httpx.get(f"{archive.server.replay_url}/someone.1.AAAA/{sid}/mp_/{url}")
    assert forged.status_code == 401 and "Rich page" not in forged.text
    # But an API token works there too, as a Memento client would send it
    direct = httpx.get(
        f"{archive.server.replay_url}/_/{sid}/mp_/{url}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert direct.status_code == 200 and "Rich page" in direct.text
    assert "default-src 'self'" in direct.headers["content-security-policy"]
    # When a second server on the same store makes replay public
    public = AmberServer(
        env={**archive.server.env, "AMBER_PUBLIC_REPLAY": "true"}, args=("--no-workers",)
    ).start()
    try:
        gate = httpx.get(f"{public.url}/web/{url}", follow_redirects=False)
        # Then anyone may replay, with no sign-in
        assert gate.status_code == 302
        frame_page = httpx.get(gate.headers["location"])
        src = re.search(r'src="([^"]+/mp_/[^"]+)"', frame_page.text)
        assert src is not None
        replayed = httpx.get(src.group(1).replace("&amp;", "&"))
        assert replayed.status_code == 200 and "Rich page" in replayed.text
    finally:
        public.stop()


def _lan_address() -> str | None:
    """This machine's first non-loopback IPv4 address (traffic to it stays on the machine)."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else str(address)


def test_replay_works_on_a_lan_address_over_plain_http(browser: Browser, archive: Archive) -> None:
    # Given Amber listening on every interface, reached by a LAN address over plain HTTP
    address = _lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    server = AmberServer(
        env={**archive.server.env, "AMBER_BASE_URL": ""}, args=("--no-workers",), host="0.0.0.0"
    ).start()
    base = f"http://{address}:{server.port}"
    try:
        page = browser.new_context().new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{base}/")
        # When a capture is opened there
        page.goto(f"{base}/web/{archive.site.url('/page.html')}")
        frame = page.frame_locator("iframe#replay")
        # Then the replay origin is that same address on the replay port, and the page
        # replays without a secure context (no service worker needed)
        frame.locator("#data").filter(has_text=JSON_MESSAGE).wait_for(timeout=30_000)
        assert _frame_src(page).startswith(f"http://{address}:{server.replay_port}/")
        assert frame.locator("body").evaluate("() => window.isSecureContext") is False
        page.context.close()
    finally:
        server.stop()


def _similarity(a: Image.Image, b: Image.Image) -> float:
    """Share of pixels (over the larger canvas) whose channels differ by at most 16."""
    width, height = max(a.width, b.width), max(a.height, b.height)
    canvas_a = Image.new("RGB", (width, height), "white")
    canvas_b = Image.new("RGB", (width, height), "white")
    canvas_a.paste(a.convert("RGB"))
    canvas_b.paste(b.convert("RGB"))
    diff = (
        ImageChops.difference(canvas_a, canvas_b).convert("L").point(lambda v: 255 if v > 16 else 0)
    )
    changed = diff.histogram()[255]
    return 1 - changed / (width * height)


def test_replay_with_the_site_stopped_looks_like_the_capture(
    browser: Browser, archive: Archive
) -> None:
    # Given the rich page's capture and its screenshot, and the site stopped
    snapshot = archive.snapshot("rich")
    shot = archive.api.get(f"/archive/{snapshot['timestamp']}/screenshot.png")
    captured = Image.open(io.BytesIO(shot.content))
    archive.site.stop()
    # When the replay origin's page is opened at the capture's viewport and scrolled through
    page = _signed_in(browser, archive, viewport={"width": captured.width, "height": 800})
    page.goto(f"{archive.server.url}/web/{snapshot['url']}")
    src = _frame_src(page)
    page.goto(src)
    page.locator("#data").filter(has_text=JSON_MESSAGE).wait_for(timeout=30_000)
    page.evaluate(
        "async () => { for (let y = 0; y < document.body.scrollHeight; y += 600) {"
        " window.scrollTo(0, y); await new Promise(r => setTimeout(r, 50)); }"
        " window.scrollTo(0, 0); }"
    )
    page.wait_for_load_state("networkidle")
    replayed = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    replayed.save(ARTEFACTS / "replay-rich-page.png")
    # Then it matches the capture's own screenshot pixel for pixel, nearly everywhere
    similarity = _similarity(captured, replayed)
    print(f"replay vs capture screenshot similarity: {similarity:.4f}")
    assert similarity >= 0.95, similarity
    page.context.close()
