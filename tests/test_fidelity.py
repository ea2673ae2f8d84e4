"""Capture fidelity (issue 16): what a page does after `load` is in the WARC, the DOM and the text.

One page per hard feature (tests/site_fidelity.py), all captured once, side by
side on one browser, with the engine's default settle options; the site is then
stopped and the WARCs are read back with warcio and replayed in pywb.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.settings import load_settings
from extractors.engine.browser import BrowserService
from extractors.engine.page import CaptureOutcome, CaptureRequest, SettleOptions
from extractors.registry import EXTRACTORS
from tests.services import pywb_collection, pywb_installed
from tests.site import TestSite
from tests.site_fidelity import (
    BLOB_PNG,
    LAZY_PNGS,
    MARKERS,
    PAGES,
    RESPONSIVE,
    SEARCH_BODY,
    SSE_EVENTS,
    SW_JS,
    WAV_BYTES,
    fidelity_routes,
)

# localhost is the cross-origin iframe's host; it may resolve to ::1.
ALLOWED = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


@dataclass(slots=True)
class Record:
    type: str
    uri: str
    status: str | None
    body: bytes
    headers: dict[str, str]


@dataclass(slots=True)
class Captured:
    site: TestSite
    outcomes: dict[str, CaptureOutcome]
    records: dict[str, list[Record]]

    def warc_path(self, name: str) -> Path:
        files = self.outcomes[name].outputs["warc"].files
        return next(f.local_path for f in files if f.archive_path.endswith("gz"))

    def output(self, name: str, plugin: str) -> str:
        return self.outcomes[name].outputs[plugin].files[0].local_path.read_text("utf-8")

    def response(self, name: str, path: str) -> Record:
        url = self.site.url(path)
        found = [r for r in self.records[name] if r.type == "response" and r.uri == url]
        assert found, f"{url} is not in the WARC of {name}"
        return found[-1]


def read_records(path: Path) -> list[Record]:
    with path.open("rb") as handle:
        return [
            Record(
                type=record.rec_type,
                uri=record.rec_headers.get_header("WARC-Target-URI") or "",
                status=record.http_headers.get_statuscode() if record.http_headers else None,
                body=record.content_stream().read(),
                headers=dict(record.rec_headers.headers),
            )
            for record in ArchiveIterator(handle)
        ]


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    # A private site, stopped before anything is read back: replay cannot reach it.
    site = TestSite().start()
    site.extra_routes.update(fidelity_routes())
    browser = BrowserService(
        executable_path=load_settings().chromium_executable(), extractors=EXTRACTORS
    )
    browser.start()
    workdirs = {name: tmp_path_factory.mktemp(name) for name in PAGES}  # mktemp is not thread-safe

    def capture(name: str) -> CaptureOutcome:
        return browser.capture(
            CaptureRequest(
                url=site.url(PAGES[name]),
                plugins=tuple(EXTRACTORS),
                workdir=workdirs[name],
                timeout=90,
                max_bytes=100_000_000,
                allowed_networks=ALLOWED,
                settle=SettleOptions(),  # the defaults, as `amber` runs them
            )
        )

    try:
        with ThreadPoolExecutor(len(PAGES)) as pool:
            outcomes = dict(zip(PAGES, pool.map(capture, PAGES), strict=True))
    finally:
        browser.stop()
        site.stop()
    result = Captured(site=site, outcomes=outcomes, records={})
    result.records = {name: read_records(result.warc_path(name)) for name in PAGES}
    yield result


def test_every_needed_url_is_in_the_warc_whole(captured: Captured) -> None:
    # Given each page captured once with the default settle options
    # Then every extractor succeeded (a site without a favicon skips that one)
    for name, outcome in captured.outcomes.items():
        statuses = {p: o.status for p, o in outcome.outputs.items() if p != "favicon"}
        assert set(statuses.values()) == {"succeeded"}, (name, statuses)
    # And what arrived after load, by timer, scroll or click, is recorded with its body
    expected: dict[tuple[str, str], bytes] = {
        ("delayed", "/fid/late-2.json"): b'{"text": "DELAYED-TWO arrived"}',
        ("delayed", "/fid/late-6.json"): b'{"text": "DELAYED-SIX arrived"}',
        ("serviceworker", "/fid/sw-content"): MARKERS["serviceworker"][0].encode(),
        ("serviceworker", "/fid/sw.js"): SW_JS,
        ("blob", "/fid/blob.png"): BLOB_PNG,
        ("media", "/fid/tone.wav"): WAV_BYTES,
        ("post", "/fid/search"): b'{"results": ["lighthouse charts"]}',
        ("more", "/fid/more.json?page=1"): b'{"item": "MORE-ITEM-1", "last": false}',
        ("more", "/fid/more.json?page=2"): b'{"item": "MORE-ITEM-2", "last": true}',
    }
    expected.update({("lazy", f"/fid/lazy-{i}.png"): png for i, png in enumerate(LAZY_PNGS)})
    # every srcset, <picture> and image-set() candidate, not only this viewport's choice
    expected.update({("responsive", f"/fid/{name}"): png for name, png in RESPONSIVE.items()})
    for (name, path), body in expected.items():
        record = captured.response(name, path)
        assert record.status == "200", (path, record.status)
        assert len(record.body) == len(body) and record.body == body, path
    # And the ranged audio is stored whole, as a 200, never as a 206
    assert all(
        r.status != "206" for records in captured.records.values() for r in records if r.status
    )
    # And the open event stream keeps what arrived, marked truncated
    sse = captured.response("sse", "/fid/sse")
    assert sse.body == b"".join(f"data: {event}\n\n".encode() for event in SSE_EVENTS)
    assert sse.headers["WARC-Truncated"] == "time"
    # And the WebSocket's frames are listed in a metadata record
    socket = next(r for r in captured.records["websocket"] if r.uri.startswith("ws://"))
    assert socket.type == "metadata"
    assert MARKERS["websocket"][0].encode() in socket.body and b"hello server" in socket.body


def test_each_request_record_follows_its_response(captured: Captured) -> None:
    # Given every WARC
    for records in captured.records.values():
        ids = [r.headers.get("WARC-Record-ID") for r in records]
        for index, record in enumerate(records):
            if record.type != "request":
                continue
            # Then the request comes right after its response and points at it
            assert records[index - 1].type == "response"
            assert record.headers["WARC-Concurrent-To"] == ids[index - 1]


def test_dom_and_search_text_hold_delayed_shadow_and_frame_text(captured: Captured) -> None:
    # Given the pages whose text arrives late, over a socket, from a worker, or in a
    # shadow root or a frame
    for name, markers in MARKERS.items():
        page = name if name in PAGES else "shadow"
        dom = captured.output(page, "dom")
        text = captured.output(page, "text")  # the file the search index is fed
        for marker in markers:
            # Then the DOM and the search text hold it
            assert marker in dom, (page, marker)
            assert marker in text, (page, marker)
    dom = captured.output("shadow", "dom")
    # And the shadow root is declarative, the frames carry their documents as srcdoc
    assert '<template shadowrootmode="open">' in dom
    assert "srcdoc=" in dom and "CROSS-ORIGIN-TEXT" in dom.split('id="cross"')[1]
    assert "data-amber-frame" not in dom


@pytest.mark.skipif(not pywb_installed(), reason="pywb is not installed (scripts/setup --test)")
def test_post_and_event_stream_replay_in_pywb(
    captured: Captured, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given the POST and the event-stream captures in a pywb collection, the site stopped
    warcs = [captured.warc_path("post"), captured.warc_path("sse")]
    with pywb_collection(tmp_path_factory.mktemp("pywb"), "fidelity", warcs) as base:
        # When the page's JSON POST is replayed
        search = httpx.post(
            f"{base}/2030id_/{captured.site.url('/fid/search')}",
            content=SEARCH_BODY,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        # Then pywb answers with the recorded response
        assert search.status_code == 200, search.text[:200]
        assert search.json() == {"results": ["lighthouse charts"]}
        # And the event stream replays the events that arrived
        stream = httpx.get(f"{base}/2030id_/{captured.site.url('/fid/sse')}", timeout=30)
        assert stream.status_code == 200
        assert all(event in stream.text for event in SSE_EVENTS)
