"""Replay: pywb (in its own venv, `.pywb-venv`, made by scripts/setup) serves a captured page.

pywb pins redis==2.10.6, so it cannot share Amber's venv. The test site is
stopped before replay, so everything pywb returns comes from the WARC.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crawler.settings import load_settings
from extractors.engine.browser import BrowserService
from extractors.engine.page import CaptureRequest
from extractors.registry import EXTRACTORS
from tests.conftest import IN_CI
from tests.services import QUICK_SETTLE, pywb_collection, pywb_installed
from tests.site import CSS, JSON_MESSAGE, LAZY_PNG, RED_PNG, TestSite


@pytest.fixture(scope="module")
def captured_warc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, TestSite]]:
    # A private site, so it can be stopped before replay without disturbing other tests.
    site = TestSite().start()
    browser = BrowserService(
        executable_path=load_settings().chromium_executable(), extractors=EXTRACTORS
    )
    workdir = tmp_path_factory.mktemp("replay-capture")
    try:
        outcome = browser.capture(
            CaptureRequest(
                url=site.url("/page.html"),
                plugins=("favicon", "warc"),
                workdir=workdir,
                timeout=20,
                max_bytes=50_000_000,
                allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),),
                settle=QUICK_SETTLE,
            )
        )
    finally:
        browser.stop()
        site.stop()
    yield outcome.outputs["warc"].files[0].local_path, site


@pytest.fixture(scope="module")
def pywb(captured_warc: tuple[Path, TestSite], tmp_path_factory: pytest.TempPathFactory):
    if not pywb_installed():
        # Locally a missing pywb skips; under CI it must not hide a broken setup.
        missing = "pywb is not installed in .pywb-venv (scripts/setup --test installs it)"
        if IN_CI:
            pytest.fail(missing)
        pytest.skip(missing)
    warc, _site = captured_warc
    with pywb_collection(tmp_path_factory.mktemp("pywb"), "amber", [warc]) as base:
        yield base


def fetch(base: str, modifier: str, url: str) -> httpx.Response:
    response = httpx.get(f"{base}/2030{modifier}/{url}", timeout=30, follow_redirects=True)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    return response


def test_pywb_replays_page_css_images_and_fetched_json(
    pywb: str, captured_warc: tuple[Path, TestSite]
) -> None:
    _warc, site = captured_warc
    # Given the WARC in a pywb collection and the live site stopped
    # When the page and its resources are replayed
    page = fetch(pywb, "mp_", site.url("/page.html"))
    # Then the page comes back, rewritten to point into the archive
    assert "Rich page" in page.text
    assert "/amber/" in page.text
    # And CSS, images, the lazy image and the JSON that JS fetched replay byte for byte
    assert fetch(pywb, "id_", site.url("/static/style.css")).content == CSS
    assert fetch(pywb, "id_", site.url("/static/red.png")).content == RED_PNG
    assert fetch(pywb, "id_", site.url("/static/lazy.png")).content == LAZY_PNG
    data = fetch(pywb, "id_", site.url("/api/data.json"))
    assert json.loads(data.content) == {"message": JSON_MESSAGE}
    assert "inside the iframe" in fetch(pywb, "mp_", site.url("/frame.html")).text
