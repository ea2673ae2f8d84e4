"""Signing in to the web UI over real HTTP: passwords, server-side sessions, CSRF, tokens,
security headers, and the session routes ArchiveBox's clients fall back to (issue 11)."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.conftest import ADMIN_PASSWORD, run_amber, web_sign_in
from tests.services import AmberServer
from tests.site import TestSite

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def test_sessions_csrf_tokens_and_archivebox_session_routes(
    sqlite_server: AmberServer, site: TestSite
) -> None:
    base = sqlite_server.url
    name, password = f"web-{uuid.uuid4().hex[:6]}", "correct horse battery"
    # Given a user made with the CLI, the password read from stdin
    made = run_amber(
        sqlite_server.env, "user", "create", name, "--password-stdin", input_text=password + "\n"
    )
    assert made.returncode == 0, made.stderr
    short = run_amber(
        sqlite_server.env, "user", "password", name, "--password-stdin", input_text="x\n"
    )
    assert short.returncode != 0 and "8-1024" in short.stderr + short.stdout
    with httpx.Client(base_url=base, timeout=30) as browser:
        # When a stranger opens the archive, Then it is sent to sign in, with strict headers
        assert browser.get("/").headers["location"] == "/login"
        form = browser.get("/login")
        assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
        assert form.headers["x-frame-options"] == "DENY"
        assert form.headers["x-content-type-options"] == "nosniff"
        assert form.headers["referrer-policy"] == "same-origin"
        assert 'name="viewport"' in form.text
        anonymous_csrf = csrf_of(form)
        assert browser.cookies["csrftoken"] == anonymous_csrf
        # And the sign-in form itself needs its CSRF token
        creds = {"username": name, "password": password}
        assert browser.post("/login", data=creds).status_code == 403
        # And a wrong password is refused without a session
        wrong = browser.post(
            "/login", data={**creds, "password": "nope", "csrfmiddlewaretoken": anonymous_csrf}
        )
        assert wrong.status_code == 401 and "amber_session" not in browser.cookies
        # When the right password is sent
        ok = browser.post("/login", data={**creds, "csrfmiddlewaretoken": anonymous_csrf})
        assert ok.status_code == 303
        cookie = next(c for c in ok.headers.get_list("set-cookie") if "amber_session=" in c)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        session_id = browser.cookies["amber_session"]
        assert session_id != anonymous_csrf and len(session_id) >= 40
        # Then pages open, and forms need the session's own token (not the old one)
        tokens_page = browser.get("/tokens")
        assert tokens_page.status_code == 200 and name in tokens_page.text
        csrf = csrf_of(tokens_page)
        assert csrf != anonymous_csrf
        assert (
            browser.post("/tokens", data={"csrfmiddlewaretoken": anonymous_csrf}).status_code == 403
        )
        # And a POST from another origin is refused even with the right token
        foreign = browser.post(
            "/tokens", data={"csrfmiddlewaretoken": csrf}, headers={"Origin": site.url("")[:-1]}
        )
        assert foreign.status_code == 403
        # When a token is created in the UI, Then it is shown once and works for the API
        made_token = browser.post("/tokens", data={"csrfmiddlewaretoken": csrf})
        token = re.search(r'id="new-token"[^>]*value="([^"]+)"', made_token.text)
        assert token is not None
        api_headers = {"Authorization": f"Bearer {token.group(1)}"}
        assert browser.get("/api/v1/core/snapshots", headers=api_headers).status_code == 200
        assert token.group(1) not in browser.get("/tokens").text
        token_id = re.search(r"/tokens/([0-9a-f-]+)/revoke", made_token.text)
        assert token_id is not None
        # And revoking it stops it
        revoked = browser.post(
            f"/tokens/{token_id.group(1)}/revoke", data={"csrfmiddlewaretoken": csrf}
        )
        assert revoked.status_code == 303
        check = browser.post("/api/v1/auth/check_api_token", json={"token": token.group(1)})
        assert check.json() == {"success": False, "user_id": None}
        # And the API never takes the session cookie
        assert (
            browser.post("/api/v1/cli/add", json={"urls": [site.url("/final.html")]}).status_code
            == 401
        )

        # When ArchiveBox's extension falls back to POST /add/ (multipart, no token, its Origin)
        page = site.url("/final.html?ext-fallback=1")
        fields = {
            "url": (None, page),
            "tag": (None, "ext"),
            "parser": (None, "auto"),
            "depth": (None, "0"),
        }
        added = browser.post("/add/", files=fields, headers={"Origin": EXTENSION})
        # Then it is stored, and the answer has the stdout block the extension looks for
        assert added.status_code == 200 and 'id="stdout"' in added.text
        assert "1 URLs stored" in added.text
        # But the same post from a web page's origin, or with no session, is not
        attacked = browser.post("/add/", files=fields, headers={"Origin": site.url("")[:-1]})
        assert attacked.status_code == 403
        with httpx.Client(base_url=base, timeout=30) as stranger:
            refused = stranger.post("/add/", files=fields, headers={"Origin": EXTENSION})
            assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
            # And the extension's admin links lead to the UI's pages
            for path, target in [
                ("/admin", "/"),
                ("/admin/login/", "/login"),
                ("/admin/api/apitoken/add/", "/tokens"),
            ]:
                assert stranger.get(path).headers["location"] == target
            # And get_api_token trades a password for a token, in ArchiveBox's shape
            got = stranger.post(
                "/api/v1/auth/get_api_token", json={"username": name, "password": password}
            ).json()
            assert got["TYPE"] == "APIToken" and got["token"] and got["expires"]
            assert set(got) == {
                "TYPE",
                "id",
                "abid",
                "created_by_id",
                "token",
                "created",
                "expires",
            }
            bad = stranger.post(
                "/api/v1/auth/get_api_token", json={"username": name, "password": "nope"}
            )
            assert bad.status_code == 200
            assert bad.json() == {"success": False, "errors": ["Invalid credentials"]}
            listed = stranger.get(
                "/api/v1/core/snapshots",
                params={"url": page},
                headers={"Authorization": f"Bearer {got['token']}"},
            ).json()
            assert listed["count"] == 1 and listed["items"][0]["tags"] == ["ext"]

        # When signing out, Then the server forgets the session: the old cookie is dead
        assert browser.post("/logout", data={"csrfmiddlewaretoken": csrf}).status_code == 303
    with httpx.Client(base_url=base, timeout=30, cookies={"amber_session": session_id}) as replay:
        assert replay.get("/").headers["location"] == "/login"
    # And behind an HTTPS proxy the cookies are Secure (so sent here by hand, over http)
    tls = {"X-Forwarded-Proto": "https"}
    form = httpx.get(f"{base}/login", headers=tls)
    assert "Secure" in form.headers["set-cookie"]
    tls_csrf = csrf_of(form)
    signed = httpx.post(
        f"{base}/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": tls_csrf},
        headers={**tls, "Cookie": f"csrftoken={tls_csrf}"},
    )
    assert signed.status_code == 303
    assert any(
        "amber_session=" in c and "Secure" in c for c in signed.headers.get_list("set-cookie")
    )
    # And the shared sign-in helper works as a browser does
    with web_sign_in(base) as admin:
        assert admin.get("/tags").status_code == 200
