"""Real Chromium capturing the local test site; every output is read back and checked."""

from __future__ import annotations

import gzip
import io
import ipaddress
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import pytest
from PIL import Image
from pypdf import PdfReader
from warcio.archiveiterator import ArchiveIterator

from crawler.errors import CaptureError, CaptureTimeout, FetchRefused, PageTooLarge
from crawler.settings import load_settings
from extractors.engine.browser import BrowserService
from extractors.engine.page import CaptureOutcome, CaptureRequest
from extractors.registry import EXTRACTORS
from tests.services import QUICK_SETTLE, VENV_BIN, free_port
from tests.site import (
    ATTACHMENT_BYTES,
    CP1252_TITLE,
    CSS,
    ICON_PNG,
    JSON_MESSAGE,
    LAZY_PNG,
    PDF_BYTES,
    SCROLLED_PNG,
    UNKNOWN_BYTES,
    TestSite,
)

ALLOWED = (ipaddress.ip_network("127.0.0.1/32"),)
PLUGINS = tuple(EXTRACTORS)


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserService]:
    service = BrowserService(
        executable_path=load_settings().chromium_executable(), extractors=EXTRACTORS
    )
    service.start()
    yield service
    service.stop()


def capture(
    browser: BrowserService,
    url: str,
    workdir: Path,
    *,
    timeout: float = 15,
    max_bytes: int = 50_000_000,
) -> CaptureOutcome:
    return browser.capture(
        CaptureRequest(
            url=url,
            plugins=PLUGINS,
            workdir=workdir,
            timeout=timeout,
            max_bytes=max_bytes,
            allowed_networks=ALLOWED,
            settle=QUICK_SETTLE,
        )
    )


class WarcRecord(TypedDict):
    type: str
    uri: str
    status: str | None
    protocol: str | None
    headers: dict[str, str]
    body: bytes
    rec_headers: dict[str, str]


def read_warc(outcome: CaptureOutcome) -> list[WarcRecord]:
    path = next(
        f.local_path for f in outcome.outputs["warc"].files if f.archive_path.endswith("gz")
    )
    records: list[WarcRecord] = []
    with path.open("rb") as handle:
        for record in ArchiveIterator(handle):
            records.append(
                {
                    "type": record.rec_type,
                    "uri": record.rec_headers.get_header("WARC-Target-URI") or "",
                    "status": record.http_headers.get_statuscode() if record.http_headers else None,
                    "protocol": record.http_headers.protocol if record.http_headers else None,
                    "headers": dict(record.http_headers.headers) if record.http_headers else {},
                    "body": record.content_stream().read(),
                    "rec_headers": dict(record.rec_headers.headers),
                }
            )
    return records


def output_file(outcome: CaptureOutcome, plugin: str) -> Path:
    return outcome.outputs[plugin].files[0].local_path


@pytest.fixture(scope="module")
def rich(browser: BrowserService, site: TestSite, tmp_path_factory: pytest.TempPathFactory):
    return capture(browser, site.url("/page.html"), tmp_path_factory.mktemp("rich"))


def test_rich_page_produces_every_output(rich: CaptureOutcome) -> None:
    # Given the rich test page captured once
    # Then every extractor succeeded
    assert {name: out.status for name, out in rich.outputs.items()} == dict.fromkeys(
        PLUGINS, "succeeded"
    )
    assert rich.status_code == 200


def test_warc_has_every_subresource_with_request_and_response(
    rich: CaptureOutcome, site: TestSite
) -> None:
    # Given the WARC of the rich page
    records = read_warc(rich)
    # Then it starts with warcinfo and pairs a request with a response for each resource
    assert records[0]["type"] == "warcinfo"
    responses = {r["uri"]: r for r in records if r["type"] == "response"}
    requests = {r["uri"] for r in records if r["type"] == "request"}
    expected = [
        "/page.html",
        "/static/style.css",
        "/static/app.js",
        "/api/data.json",
        "/static/red.png",
        "/frame.html",
        "/static/lazy.png",
        "/static/scrolled.png",
        "/static/icon.png",
    ]
    for path in expected:
        assert site.url(path) in responses, f"no response record for {path}"
        assert site.url(path) in requests, f"no request record for {path}"
    # And the JSON that JS fetched and the lazy image below the fold are there byte for byte
    assert json.loads(responses[site.url("/api/data.json")]["body"]) == {"message": JSON_MESSAGE}
    assert responses[site.url("/static/lazy.png")]["body"] == LAZY_PNG
    # And so is the image a script loads only once it is scrolled into view
    assert responses[site.url("/static/scrolled.png")]["body"] == SCROLLED_PNG
    # And the raw status line and server headers are kept
    page = responses[site.url("/page.html")]
    assert page["protocol"] == "HTTP/1.1" and page["status"] == "200"
    assert page["headers"]["X-Test-Header"] == "amber"


def test_requests_carry_a_desktop_user_agent(rich: CaptureOutcome) -> None:
    # Given the WARC's request records, Then the browser did not announce itself as headless
    agents = {r["headers"].get("User-Agent", "") for r in read_warc(rich) if r["type"] == "request"}
    agents.discard("")
    assert agents and all("Chrome/" in a and "Headless" not in a for a in agents)


def test_gzip_body_is_stored_decoded_with_consistent_headers(
    rich: CaptureOutcome, site: TestSite
) -> None:
    # Given the stylesheet the server sent gzip-encoded
    css = next(
        r for r in read_warc(rich) if r["type"] == "response" and r["uri"].endswith("style.css")
    )
    headers = css["headers"]
    # Then the stored body is decoded, Content-Encoding is gone and Content-Length fits
    assert css["body"] == CSS
    assert "Content-Encoding" not in headers
    assert headers["X-Archive-Orig-Content-Encoding"] == "gzip"
    assert int(headers["Content-Length"]) == len(CSS)


def test_warc_passes_warcio_check(rich: CaptureOutcome) -> None:
    # Given the WARC file, When warcio checks digests, Then it passes
    path = output_file(rich, "warc")
    done = subprocess.run(
        [str(VENV_BIN / "warcio"), "check", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    with gzip.open(path, "rb") as handle:
        assert handle.read(8) == b"WARC/1.1"


def test_dom_has_js_written_text_and_iframe(rich: CaptureOutcome) -> None:
    # Given the DOM output, Then it has the text JS fetched and wrote after load
    html = output_file(rich, "dom").read_text()
    assert f"Fetched: {JSON_MESSAGE}" in html
    assert "<iframe" in html


def test_screenshot_is_a_full_page_png(rich: CaptureOutcome) -> None:
    # Given the screenshot, When decoded, Then it is the full page (taller than the spacer)
    image = Image.open(output_file(rich, "screenshot"))
    assert image.format == "PNG"
    assert image.width == 1280
    assert image.height > 3000


def test_pdf_opens_and_has_the_page_text(rich: CaptureOutcome) -> None:
    reader = PdfReader(output_file(rich, "pdf"))
    assert len(reader.pages) >= 1
    text = "".join(page.extract_text() or "" for page in reader.pages)
    assert "Rich page" in text


def test_title_text_favicon_headers(rich: CaptureOutcome) -> None:
    assert rich.outputs["title"].output_str == "Amber Rich Page"
    assert "lighthouses" in output_file(rich, "text").read_text()
    assert output_file(rich, "favicon").read_bytes() == ICON_PNG
    headers = json.loads(output_file(rich, "headers").read_text())
    assert headers["status"] == 200
    assert headers["headers"]["X-Test-Header"] == "amber"


def test_redirect_chain_hops_are_separate_records(
    browser: BrowserService, site: TestSite, tmp_path: Path
) -> None:
    # Given a 302 -> 301 -> 307 -> 200 chain
    outcome = capture(browser, site.url("/redirect/1"), tmp_path)
    # Then each hop is its own response record with its Location
    responses = [r for r in read_warc(outcome) if r["type"] == "response"]
    chain = [(r["uri"], r["status"]) for r in responses[:4]]
    assert chain == [
        (site.url("/redirect/1"), "302"),
        (site.url("/redirect/2"), "301"),
        (site.url("/redirect/3"), "307"),
        (site.url("/final.html"), "200"),
    ]
    assert responses[0]["headers"]["Location"] == "/redirect/2"
    headers = json.loads(output_file(outcome, "headers").read_text())
    assert [hop["status"] for hop in headers["redirects"]] == [302, 301, 307]
    assert outcome.final_url == site.url("/final.html")


def test_windows_1252_title_is_decoded(
    browser: BrowserService, site: TestSite, tmp_path: Path
) -> None:
    outcome = capture(browser, site.url("/cp1252.html"), tmp_path)
    assert outcome.outputs["title"].output_str == CP1252_TITLE


def test_pdf_url_is_stored_as_is(browser: BrowserService, site: TestSite, tmp_path: Path) -> None:
    # Given a URL that serves a PDF, When captured
    outcome = capture(browser, site.url("/doc.pdf"), tmp_path)
    # Then the original bytes are kept and page extractors are skipped
    warc = outcome.outputs["warc"]
    original = next(f for f in warc.files if f.archive_path.startswith("original/"))
    assert original.local_path.read_bytes() == PDF_BYTES
    assert original.mimetype == "application/pdf"
    for plugin in ("dom", "screenshot", "pdf", "title", "favicon", "singlefile"):
        assert outcome.outputs[plugin].status == "skipped"
    # And its text is extracted from the document itself (for search)
    assert output_file(outcome, "text").read_text() == "Amber test PDF"
    response = next(r for r in read_warc(outcome) if r["type"] == "response")
    assert response["body"] == PDF_BYTES


@pytest.mark.parametrize(
    ("path", "body", "mimetype"),
    [
        ("/attachment", ATTACHMENT_BYTES, "text/html"),
        ("/blob.unknown", UNKNOWN_BYTES, "application/x-amber-unknown"),
    ],
)
def test_downloads_are_stored_as_is(
    browser: BrowserService, site: TestSite, tmp_path: Path, path: str, body: bytes, mimetype: str
) -> None:
    # Given a page sent as an attachment, or with a type no browser shows, When captured
    outcome = capture(browser, site.url(path), tmp_path)
    # Then it is kept as a download, like a PDF URL: the original bytes, page extractors skipped
    warc = outcome.outputs["warc"]
    assert warc.status == "succeeded", warc.error
    original = next(f for f in warc.files if f.archive_path.startswith("original/"))
    assert original.local_path.read_bytes() == body
    assert original.mimetype.startswith(mimetype)
    for plugin in ("dom", "screenshot", "pdf"):
        assert outcome.outputs[plugin].status == "skipped"
    # (a text document's own text is kept and indexed; an unknown type has none)
    text = outcome.outputs["text"]
    if mimetype.startswith("text/"):
        assert text.status == "succeeded"
        assert "sent as an attachment" in text.files[0].local_path.read_text()
    else:
        assert text.status == "skipped"
    response = next(r for r in read_warc(outcome) if r["type"] == "response")
    assert response["body"] == body


def test_dialogs_are_dismissed(browser: BrowserService, site: TestSite, tmp_path: Path) -> None:
    outcome = capture(browser, site.url("/dialogs.html"), tmp_path)
    assert "after dialogs" in output_file(outcome, "dom").read_text()


def test_refused_subresource_is_blocked_and_noted(
    browser: BrowserService, site: TestSite, tmp_path: Path
) -> None:
    # Given a page that pulls an image from 127.0.0.2 (outside the allowed networks)
    outcome = capture(browser, site.url("/private-sub.html"), tmp_path)
    # Then the request never reached any server, and the WARC notes it
    assert site.hits.get("/static/forbidden.png") is None
    assert any("127.0.0.2" in url for url in outcome.blocked)
    records = read_warc(outcome)
    meta = [r for r in records if r["type"] == "metadata"]
    assert meta and "127.0.0.2" in meta[0]["body"].decode()
    assert not any("forbidden.png" in (r["uri"] or "") for r in records if r["type"] == "response")


def test_refused_main_url(browser: BrowserService, site: TestSite, tmp_path: Path) -> None:
    with pytest.raises(FetchRefused):
        capture(browser, f"http://127.0.0.2:{site.port}/page.html", tmp_path)


def test_redirect_to_a_refused_address_is_not_followed(
    browser: BrowserService, site: TestSite, tmp_path: Path
) -> None:
    # Given an allowed page that redirects to 127.0.0.2 (outside the allow-list)
    # When it is captured, Then the capture is refused at the hop, with the guard's reason
    with pytest.raises(FetchRefused) as caught:
        capture(browser, site.url("/redirect-private"), tmp_path)
    assert "127.0.0.2" in caught.value.message
    assert "AMBER_ALLOWED_NETWORKS" in caught.value.message


def test_unreachable_port_is_a_transient_connection_refused(
    browser: BrowserService, tmp_path: Path
) -> None:
    # Given an allowed address where nothing listens
    url = f"http://127.0.0.1:{free_port()}/nothing"
    # Then the failure names Chromium's own error code and is retried later, not refused
    with pytest.raises(CaptureError) as caught:
        capture(browser, url, tmp_path)
    assert not isinstance(caught.value, FetchRefused)
    assert "ERR_CONNECTION_REFUSED" in caught.value.message
    assert caught.value.transient


@pytest.mark.parametrize(
    ("path", "error", "budget"),
    [("/hang", CaptureTimeout, 4), ("/stream", CaptureTimeout, 4), ("/loop", CaptureError, 10)],
)
def test_bad_pages_fail_within_budget_and_browser_lives_on(
    browser: BrowserService,
    site: TestSite,
    tmp_path: Path,
    path: str,
    error: type[Exception],
    budget: float,
) -> None:
    import time

    # Given a page that hangs, streams forever or redirects in a loop
    started = time.monotonic()
    with pytest.raises(error) as caught:
        capture(browser, site.url(path), tmp_path / "bad", timeout=budget)
    # Then it fails with a reason within its budget
    assert time.monotonic() - started < budget + 5
    assert str(caught.value)
    # And the next capture works normally
    outcome = capture(browser, site.url("/final.html"), tmp_path / "next")
    assert outcome.outputs["title"].output_str == "Final Destination"


def test_byte_budget(browser: BrowserService, site: TestSite, tmp_path: Path) -> None:
    with pytest.raises(PageTooLarge):
        capture(browser, site.url("/big.html"), tmp_path, max_bytes=200_000)


def test_browser_crash_is_recovered(
    browser: BrowserService, site: TestSite, tmp_path: Path
) -> None:
    # Given Chromium dies
    restarts = browser.restarts
    browser.kill_browser()
    # When the next capture runs, Then a new browser is launched and the capture works
    outcome = capture(browser, site.url("/final.html"), tmp_path)
    assert outcome.outputs["title"].status == "succeeded"
    assert browser.restarts == restarts + 1


def test_png_is_decodable_bytes(rich: CaptureOutcome) -> None:
    data = output_file(rich, "screenshot").read_bytes()
    assert Image.open(io.BytesIO(data)).size[0] == 1280
