"""The web UI over real HTTP: sign in with a token, browse, search, open a snapshot."""

from __future__ import annotations

import time

import httpx

from tests.conftest import ADMIN_TOKEN
from tests.services import AmberServer
from tests.site import TestSite


def test_sign_in_browse_search_and_open(sqlite_server: AmberServer, site: TestSite) -> None:
    api = httpx.Client(
        base_url=sqlite_server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    )
    sid = api.post("/api/v1/cli/add", json={"urls": [site.url("/page.html?web=1")]}).json()[
        "snapshot_ids"
    ][0]
    deadline = time.monotonic() + 60
    while api.get(f"/api/v1/core/snapshot/{sid}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    with httpx.Client(base_url=sqlite_server.url, timeout=30) as browser:
        # Given no cookie, When the archive is opened, Then it asks to sign in
        assert browser.get("/").headers["location"] == "/login"
        # And the old /web/ UI links redirect to the new places
        assert browser.get("/web/").headers["location"] == "/"
        assert browser.get("/web/login").headers["location"] == "/login"
        assert browser.get(f"/web/snapshot/{sid}").headers["location"] == f"/snapshot/{sid}"
        bad = browser.post("/login", data={"token": "wrong"})
        assert "not valid" in bad.text and "amber_token" not in browser.cookies
        # When signing in with a real token
        ok = browser.post("/login", data={"token": ADMIN_TOKEN})
        assert ok.status_code == 303 and browser.cookies.get("amber_token") == ADMIN_TOKEN
        # Then the list shows the snapshot and search finds it
        listing = browser.get("/")
        assert "Amber Rich Page" in listing.text
        found = browser.get("/", params={"q": "rich"})
        assert f"/snapshot/{sid}" in found.text
        page = browser.get(f"/snapshot/{sid}")
        assert page.status_code == 200 and "screenshot.png" in page.text
        # And archived files open with the cookie (GET only), sandboxed
        timestamp = api.get(f"/api/v1/core/snapshot/{sid}").json()["timestamp"]
        archived = browser.get(f"/archive/{timestamp}/dom.html")
        assert archived.status_code == 200 and "Rich page" in archived.text
        assert archived.headers["content-security-policy"] == "sandbox"
        # But the cookie does not authenticate API calls that change state
        denied = browser.post("/api/v1/cli/add", json={"urls": [site.url("/final.html?csrf")]})
        assert denied.status_code == 401
        assert browser.get("/snapshot/does-not-exist").status_code == 404
