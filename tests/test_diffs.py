"""Diffs of real captures: a page captured, changed on the test site and captured again,
compared through `amber serve` (JSON, the visual diff PNG, and the UI page in Chromium),
plus bad input: unknown ids, another tenant's snapshot, snapshots without the parts."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

from crawler.diffs.screenshot import BOX_COLOUR
from crawler.settings import load_settings
from extractors.engine.browser import CHROMIUM_FLAGS
from tests.conftest import ADMIN_PASSWORD, ADMIN_TOKEN, TokenFactory, web_sign_in
from tests.services import AmberServer
from tests.site import BANNER_BOX, TestSite

WORD = re.compile(r"\w+")


def client_for(server: AmberServer, token: str = ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    )


def wait_done(client: httpx.Client, snapshot_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/core/snapshot/{snapshot_id}").json()
        if body["status"] in ("succeeded", "failed", "sealed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"snapshot {snapshot_id} did not finish")


def capture(client: httpx.Client, url: str, *, update: bool = True) -> dict[str, Any]:
    added = client.post("/api/v1/cli/add", json={"urls": [url], "update": update})
    assert added.status_code == 200, added.text
    return wait_done(client, added.json()["snapshot_ids"][0])


def capture_change(client: httpx.Client, site: TestSite, key: str) -> tuple[str, str]:
    """Capture /changing/<key>/page.html as version 1, switch the site to version 2, again."""
    url = site.url(f"/changing/{key}/page.html")
    site.versions[key] = 1
    first = capture(client, url)
    site.versions[key] = 2
    second = capture(client, url)
    assert first["status"] == second["status"] == "succeeded", (first, second)
    return first["id"], second["id"]


def words(ops: list[dict[str, str]], kind: str) -> list[str]:
    return [w for op in ops if op["op"] == kind for w in WORD.findall(op["text"])]


def test_diff_of_a_page_captured_changed_and_captured_again(
    api_server: AmberServer, site: TestSite, store_kind: str
) -> None:
    key = f"api-{store_kind}"
    with client_for(api_server) as client:
        # Given a page captured, changed (two words, the banner's colour, one image swapped)
        # and captured again
        before, after = capture_change(client, site, key)
        # When the diff is asked for, naming the second snapshot by its timestamp
        after_ts = client.get(f"/api/v1/core/snapshot/{after}").json()["timestamp"]
        response = client.get(f"/api/v1/core/snapshots/{before}/diff/{after_ts}")
        image = client.get(f"/api/v1/core/snapshots/{before}/diff/{after}/screenshot.png")
    assert response.status_code == 200, response.text
    diff = response.json()
    assert diff["a"]["id"] == before and diff["b"]["id"] == after and diff["same_url"]

    # Then the text diff marks exactly the changed words
    text = diff["text"]
    assert text["available"] and text["changed"]
    assert words(text["ops"], "delete") == ["dawn", "island"]
    assert words(text["ops"], "insert") == ["noon", "mainland"]
    assert text["words_deleted"] == 2 and text["words_inserted"] == 2
    assert 0 < text["share_changed"] < 0.1
    assert "[-dawn-]{+noon+}" in text["excerpt"]
    rebuilt_a = "".join(op["text"] for op in text["ops"] if op["op"] != "insert")
    rebuilt_b = "".join(op["text"] for op in text["ops"] if op["op"] != "delete")
    assert len(rebuilt_a) == text["chars_a"] and len(rebuilt_b) == text["chars_b"]
    assert "ferries leave for the island" in rebuilt_a and "for the mainland" in rebuilt_b

    # And the screenshots differ, with a box around the banner whose colour changed
    shot = diff["screenshot"]
    assert shot["available"] and 0 < shot["share_changed"] < 0.2
    x, y, width, height = BANNER_BOX
    around = [
        b
        for b in shot["boxes"]
        if b["x"] <= x
        and b["y"] <= y
        and b["x"] + b["width"] >= x + width
        and b["y"] + b["height"] >= y + height
    ]
    assert around, shot["boxes"]
    assert around[0]["width"] * around[0]["height"] <= 3 * width * height
    # And the visual diff PNG is the new screenshot with that box drawn on it
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(image.content)).convert("RGB")
    assert picture.size == (shot["width"], shot["height"])
    left_edge = (around[0]["x"] - 1, around[0]["y"] + around[0]["height"] // 2)
    assert picture.getpixel(left_edge) == BOX_COLOUR
    assert picture.getpixel((x + width // 2, y + height // 2)) == (220, 30, 30)

    # And the resources list the swapped image and the changed banner by digest
    resources = diff["resources"]
    assert resources["available"]
    base = site.url(f"/changing/{key}/")
    # (the browser's own /favicon.ico probe may come and go between captures)
    added = {r["url"] for r in resources["added"]} - {site.url("/favicon.ico")}
    removed = {r["url"] for r in resources["removed"]} - {site.url("/favicon.ico")}
    assert added == {base + "v2.png"} and removed == {base + "v1.png"}
    changed = {r["url"]: r for r in resources["changed"]}
    assert set(changed) == {base + "banner.png", base + "page.html"}
    assert changed[base + "banner.png"]["digest_a"] != changed[base + "banner.png"]["digest_b"]
    kept = resources["unchanged"] + len(resources["changed"])
    assert resources["total_a"] == kept + len(resources["removed"])
    assert resources["total_b"] == kept + len(resources["added"])


@pytest.fixture(scope="module")
def pair(sqlite_server: AmberServer, site: TestSite) -> Iterator[tuple[str, str]]:
    """One changed page captured twice on the single-store server."""
    with client_for(sqlite_server) as client:
        yield capture_change(client, site, "ui")


def test_the_diff_page_shows_insertions_in_chromium(
    sqlite_server: AmberServer, pair: tuple[str, str]
) -> None:
    before, after = pair
    page_url = f"{sqlite_server.url}/diff/{before}/{after}"
    # Given a browser that is not signed in: the page sends it to the sign-in page, which
    # brings it back to the diff (the same `next` as every other page)
    anonymous = httpx.get(page_url, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/login?next=%2Fdiff%2F{before}%2F{after}"
    with httpx.Client(base_url=sqlite_server.url, timeout=30) as browser_like:
        form = browser_like.get(anonymous.headers["location"]).text
        csrf = form.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        back = form.split('name="next" value="', 1)[1].split('"', 1)[0]
        signed_in = browser_like.post(
            "/login",
            data={
                "username": "admin",
                "password": ADMIN_PASSWORD,
                "next": back,
                "csrfmiddlewaretoken": csrf,
            },
        )
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == f"/diff/{before}/{after}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=load_settings().chromium_executable(), args=list(CHROMIUM_FLAGS)
        )
        try:
            # When a signed-in browser opens the diff page
            context = browser.new_context()
            with web_sign_in(sqlite_server.url) as signed:
                cookie = signed.cookies["amber_session"]
            context.add_cookies(
                [{"name": "amber_session", "value": cookie, "domain": "127.0.0.1", "path": "/"}]
            )
            page = context.new_page()
            answer = page.goto(page_url)
            assert answer is not None and answer.status == 200
            page.wait_for_load_state("load")
            inserted = page.locator(".difftext ins").all_inner_texts()
            deleted = page.locator(".difftext del").all_inner_texts()
            summary = page.locator("#text .summary").inner_text()
            shots = page.locator("#screenshot img.shot")
            for index in range(shots.count()):  # they load lazily, once scrolled to
                shots.nth(index).scroll_into_view_if_needed()
            page.wait_for_function(
                "[...document.querySelectorAll('#screenshot img')].every((i) => i.complete)"
            )
            loaded = shots.evaluate_all("(imgs) => imgs.map((i) => i.naturalWidth)")
            diff_src = page.locator("img.visualdiff").get_attribute("src")
            resource_rows = page.locator("table.resources tr").all_inner_texts()
        finally:
            browser.close()
    # Then it marks the inserted and deleted words, and says how much changed
    assert [w.strip() for w in inserted] == ["noon", "mainland"]
    assert [w.strip() for w in deleted] == ["dawn", "island"]
    assert "2 words inserted" in summary and "2 words deleted" in summary
    # And it shows both screenshots and the boxed visual diff (all three images loaded)
    assert len(loaded) == 3 and all(width and width > 0 for width in loaded), loaded
    assert diff_src == f"/api/v1/core/snapshots/{before}/diff/{after}/screenshot.png"
    # And the resource table lists the added, removed and changed URLs
    joined = "\n".join(resource_rows)
    assert "added" in joined and "v2.png" in joined
    assert "removed" in joined and "v1.png" in joined
    assert "changed" in joined and "banner.png" in joined


def test_unknown_and_foreign_snapshots_are_not_found(
    sqlite_server: AmberServer, sqlite_token: TokenFactory, pair: tuple[str, str]
) -> None:
    before, after = pair
    stranger = sqlite_token("diff-stranger")
    with client_for(sqlite_server) as admin, client_for(sqlite_server, stranger) as other:
        # When an unknown id, or another tenant's snapshots, are asked for
        responses = [
            admin.get(f"/api/v1/core/snapshots/{before}/diff/no-such-snapshot"),
            admin.get(f"/api/v1/core/snapshots/0000/diff/{after}"),
            admin.get(f"/api/v1/core/snapshots/{before}/diff/no-such/screenshot.png"),
            other.get(f"/api/v1/core/snapshots/{before}/diff/{after}"),
            other.get(f"/api/v1/core/snapshots/{before}/diff/{after}/screenshot.png"),
            other.get(f"/diff/{before}/{after}"),
        ]
        anonymous = httpx.get(f"{sqlite_server.url}/api/v1/core/snapshots/{before}/diff/{after}")
    # Then each is a 404 in the ArchiveBox shape, like an unknown id; no token is a 401
    assert [r.status_code for r in responses] == [404] * 6
    assert all(r.json()["succeeded"] is False for r in responses)
    assert "no-such-snapshot" in responses[0].json()["message"]
    assert anonymous.status_code == 401 and "detail" in anonymous.json()


def test_parts_that_cannot_be_compared_say_why(
    sqlite_server: AmberServer, site: TestSite, pair: tuple[str, str]
) -> None:
    before, _after = pair
    with client_for(sqlite_server) as client:
        # Given a PDF (text, but no screenshot), a failed capture and one never captured
        pdf = capture(client, site.url("/doc.pdf"))
        failed = capture(client, f"http://127.0.0.2:{site.port}/refused.html")
        queued = client.post(
            "/api/v1/cli/add", json={"urls": [site.url("/p/9601")], "index_only": True}
        ).json()["snapshot_ids"][0]
        # When each is compared with a good capture
        with_pdf = client.get(f"/api/v1/core/snapshots/{before}/diff/{pdf['id']}")
        with_failed = client.get(f"/api/v1/core/snapshots/{failed['id']}/diff/{before}")
        with_queued = client.get(f"/api/v1/core/snapshots/{before}/diff/{queued}")
        pdf_image = client.get(f"/api/v1/core/snapshots/{before}/diff/{pdf['id']}/screenshot.png")
    assert pdf["status"] == "succeeded" and failed["status"] == "failed"
    # Then each answers 200 with the parts it could not compute marked, and why
    assert [r.status_code for r in (with_pdf, with_failed, with_queued)] == [200, 200, 200]
    body = with_pdf.json()
    # (a PDF's own text is extracted, so its text compares with the page's)
    assert body["text"]["available"] is True
    assert body["screenshot"]["available"] is False
    assert "not HTML" in body["screenshot"]["reason"]
    assert body["resources"]["available"] is True  # both have a WARC
    assert not body["same_url"]
    failed_body = with_failed.json()
    for part in ("text", "screenshot", "resources"):
        assert failed_body[part]["available"] is False
        assert f"snapshot {failed['id']} failed" in failed_body[part]["reason"]
    queued_body = with_queued.json()
    assert all(
        "not been captured yet" in queued_body[p]["reason"]
        for p in ("text", "screenshot", "resources")
    )
    # And the visual diff of a pair without two screenshots is a 404 saying so
    assert pdf_image.status_code == 404 and "screenshot" in pdf_image.json()["message"]
