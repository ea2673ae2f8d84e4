"""ArchiveBox's own clients against `amber serve`: the browser extension's requests, the
`archivebox-api` Python package, the CLI routes' filters, `core/any`, and the API's
self-description (OpenAPI vs. the live routes, Swagger UI, CORS).

The extension's requests are copied from its `src/lib/archivebox.ts` (the stored version
that sends `cli/remove`): same paths, headers and bodies.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from archivebox_api.api_client import Api

from api.app import ROUTERS
from tests.conftest import ADMIN_TOKEN, TokenFactory, amber_env, web_sign_in
from tests.services import AmberServer
from tests.site import TestSite

EXT_ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
ALLOWED_ORIGIN = "https://reader.example"
CLI_ANSWER = {"success", "errors", "result", "result_format", "stdout", "stderr"}


def ext_api_headers(key: str) -> dict[str, str]:
    """The extension's `apiHeaders(apiKey)`, as a browser sends them with `mode: 'cors'`."""
    return {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {key}",
        "X-ArchiveBox-API-Key": key,
        "x-archivebox-api-key": key,
        "Origin": EXT_ORIGIN,
    }


def wait_status(
    client: httpx.Client, snapshot_id: str, want: set[str], timeout: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/core/snapshot/{snapshot_id}").json()
        if body["status"] in want:
            return body
        time.sleep(0.3)
    raise AssertionError(f"snapshot {snapshot_id} never reached {want}")


def test_extension_requests_replayed(
    api_server: AmberServer, make_token: TokenFactory, site: TestSite
) -> None:
    key = make_token(f"ext-{uuid.uuid4().hex[:8]}")
    page = site.url(f"/page.html?ext={uuid.uuid4().hex[:8]}")
    base = api_server.url
    with httpx.Client(base_url=base, timeout=30) as http:
        # Given the options page's "Test" of the server URL: GET /api/ (fetch follows redirects)
        probe = http.get("/api/", headers={"Origin": EXT_ORIGIN}, follow_redirects=True)
        # Then it lands on the API docs page, which counts as an ArchiveBox server
        assert probe.status_code == 200 and "swagger-ui" in probe.text
        assert [r.headers["location"] for r in probe.history] == ["/api/v1/docs"]

        # When it tests the key: POST check_api_token {token}, no auth header
        check = {"Content-Type": "application/json", "Origin": EXT_ORIGIN}
        good = http.post("/api/v1/auth/check_api_token", headers=check, json={"token": key})
        # Then a good key gives ArchiveBox's answer with the user id the extension reads
        assert good.status_code == 200 and good.json()["success"] is True
        assert isinstance(good.json()["user_id"], str) and good.json()["user_id"]
        # And a wrong key is ArchiveBox's shape, shown as "Invalid API key response"
        wrong = http.post("/api/v1/auth/check_api_token", headers=check, json={"token": "nope"})
        assert wrong.status_code == 200 and wrong.json() == {"success": False, "user_id": None}
        assert http.post("/api/v1/auth/check_api_token", headers=check, json={}).status_code == 422

        # When the popup archives a page (addToArchiveBox with an API key)
        local_id = str(uuid.uuid4())
        add_body = {
            "urls": [page],
            "tag": "ext,reading",
            "formattedTags": "ext,reading",
            "depth": 0,
            "snapshot_ids": [local_id],
            "update": False,
            "update_all": False,
        }
        added = http.post("/api/v1/cli/add", headers=ext_api_headers(key), json=add_body)
        # Then ArchiveBox's answer holds the nested result the extension returns
        assert added.status_code == 200, added.text
        answer = added.json()
        assert set(answer) >= CLI_ANSWER
        assert answer["success"] is True and answer["errors"] == []
        result = answer["result"]
        assert result["queued_urls"] == [page] and result["num_snapshots"] == 1
        (snapshot_id,) = result["snapshot_ids"]
        # And a wrong key is a 401 with a reason, not a 404
        refused = http.post("/api/v1/cli/add", headers=ext_api_headers("wrong"), json=add_body)
        assert refused.status_code == 401 and refused.json() == {"detail": "Invalid API token"}

        # When "View on server" opens {server}/archive/{url} in the signed-in browser
        with web_sign_in(str(http.base_url)) as signed_in:
            view = signed_in.get(f"/archive/{page}")
        # Then it leads to that URL's newest snapshot page (its query string kept)
        assert view.status_code == 302 and view.headers["location"] == f"/snapshot/{snapshot_id}"

        # When a newer extension looks the submission up (findSubmittedSnapshot)
        lookup = http.get(
            "/api/v1/core/snapshots",
            params={"url": page, "with_archiveresults": "false", "limit": "200", "offset": "0"},
            headers=ext_api_headers(key),
        )
        assert lookup.status_code == 200
        assert [s["id"] for s in lookup.json()["items"]] == [snapshot_id]
        assert lookup.json()["count"] == 1

        # When "Remove from server" is used with a wrong key, Then a 401 is shown
        remove_body = {"filter_patterns": [page], "filter_type": "exact", "delete": True}
        bad_remove = http.post(
            "/api/v1/cli/remove", headers=ext_api_headers("wrong"), json=remove_body
        )
        assert bad_remove.status_code == 401
        # When it is used with the key, Then ArchiveBox's answer says it is gone, and it is
        removed = http.post("/api/v1/cli/remove", headers=ext_api_headers(key), json=remove_body)
        assert removed.status_code == 200, removed.text
        gone = removed.json()
        assert gone["success"] is True and gone["errors"] == []
        assert gone["result"]["removed_snapshot_ids"] == [snapshot_id]
        missing = http.get(f"/api/v1/core/snapshot/{snapshot_id}", headers=ext_api_headers(key))
        assert missing.status_code == 404
        # And removing again finds nothing, which is no error either
        again = http.post("/api/v1/cli/remove", headers=ext_api_headers(key), json=remove_body)
        assert again.json()["success"] is True and again.json()["result"]["removed_count"] == 0


def test_python_client_add_list_update_get_remove(
    api_server: AmberServer, make_token: TokenFactory, site: TestSite
) -> None:
    # Given the archivebox-api package (PyPI) pointed at amber serve with a token
    token = make_token(f"py-{uuid.uuid4().hex[:8]}")
    run = uuid.uuid4().hex[:8]
    page = site.url(f"/page.html?py={run}")
    client = Api(url=api_server.url, token=token)
    # When it adds a URL without capturing it
    added = client.cli_add(urls=[page], tag=f"py-{run}", index_only=True)
    assert added.status_code == 200, added.text
    (snapshot_id,) = added.json()["result"]["snapshot_ids"]
    # Then `cli list` (0.8's name) finds it by exact URL, as JSON
    listed = client.cli_list(filter_patterns=[page], filter_type="exact")
    assert listed.status_code == 200, listed.text
    assert listed.json()["result_format"] == "json"
    assert [s["id"] for s in listed.json()["result"]] == [snapshot_id]
    # When `cli update` re-archives it (the client's defaults: status unarchived, resume 0)
    updated = client.cli_update(filter_patterns=[page], filter_type="exact")
    assert updated.status_code == 200, updated.text
    assert updated.json()["result"]["snapshot_ids"] == [snapshot_id]
    # Then it is captured
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        done = wait_status(http, snapshot_id, {"succeeded", "failed"})
    assert done["status"] == "succeeded", done["last_error"]
    # And the client reads it back by id, and through core/any (a redirect it follows)
    assert client.get_snapshot(snapshot_id).json()["url"] == page
    anything = client.get_any(snapshot_id)
    assert anything.status_code == 200 and anything.json()["id"] == snapshot_id
    # And its archive results filter by 0.8's names (extractor) and by snapshot URL
    shots = client.get_archiveresults(snapshot_url=f"py={run}", extractor="screenshot").json()
    assert [r["plugin"] for r in shots["items"]] == ["screenshot"]
    assert shots["items"][0]["snapshot_id"] == snapshot_id
    tagged = client.get_archiveresults(snapshot_tag=f"PY-{run}", status="succeeded").json()
    assert tagged["count"] == done["num_archiveresults"]
    titled = client.get_archiveresults(snapshot_id=snapshot_id, output="amber rich").json()
    assert [r["plugin"] for r in titled["items"]] == ["title"]
    assert client.get_archiveresults(snapshot_id=snapshot_id, cmd="wget").json()["count"] == 0
    # When `cli remove` removes it, Then it is gone
    removed = client.cli_remove(filter_patterns=[page], filter_type="exact")
    assert removed.json()["result"]["removed_snapshot_ids"] == [snapshot_id]
    assert client.get_snapshot(snapshot_id).status_code == 404


@pytest.fixture
def picked(api_server: AmberServer, make_token: TokenFactory) -> Iterator[dict[str, Any]]:
    """A user with five index-only snapshots to select among."""
    run = uuid.uuid4().hex[:8]
    token = make_token(f"pick-{run}")
    urls = {
        "alpha": f"https://alpha-{run}.example.com/News/today",
        "beta": f"http://beta-{run}.example.org/archive?q=1",
        "gamma": f"https://www.gamma-{run}.example.net/",
        "long": f"https://long-{run}.example.com/{'a' * 3000}!",
        "files": f"https://files-{run}.example.com/pub/x.txt",
    }
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        ids = {}
        for name, url in urls.items():
            body = {"urls": [url], "index_only": True, "tag": f"t-{name}"}
            ids[name] = http.post("/api/v1/cli/add", json=body).json()["snapshot_ids"][0]
        yield {"http": http, "urls": urls, "ids": ids, "run": run}


def search(http: httpx.Client, **body: Any) -> Any:
    answer = http.post("/api/v1/cli/search", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def picked_names(found: Any, picked: dict[str, Any]) -> set[str]:
    by_id = {sid: name for name, sid in picked["ids"].items()}
    return {by_id[item["id"]] for item in found["result"] if item["id"] in by_id}


def test_cli_filter_types(picked: dict[str, Any]) -> None:
    http, urls, run = picked["http"], picked["urls"], picked["run"]
    cases = {
        ("exact", urls["beta"]): {"beta"},
        ("substring", f"ALPHA-{run}.EXAMPLE"): {"alpha"},
        ("regex", rf"^https://(alpha|www\.GAMMA)-{run}\."): {"alpha", "gamma"},
        ("domain", f"files-{run}.example.com"): {"files"},
        ("domain", f"BETA-{run}.example.org"): {"beta"},
        ("tag", "t-gamma"): {"gamma"},
        ("substring", run): set(urls),
    }
    for (filter_type, pattern), want in cases.items():
        found = search(http, filter_patterns=[pattern], filter_type=filter_type)
        assert picked_names(found, picked) == want, (filter_type, pattern)
    # Given a timestamp, Then exactly that snapshot
    beta = http.get(f"/api/v1/core/snapshot/{picked['ids']['beta']}").json()
    found = search(http, filter_patterns=[beta["timestamp"]], filter_type="timestamp")
    assert picked_names(found, picked) == {"beta"}
    # Several patterns are OR-ed; status, after/before and sort narrow and order
    both = search(
        http, filter_patterns=[urls["alpha"], urls["gamma"]], filter_type="exact", sort="-url"
    )
    assert [i["url"] for i in both["result"]] == [urls["gamma"], urls["alpha"]]
    assert search(http, filter_patterns=[run], status="archived")["result"] == []
    assert picked_names(search(http, filter_patterns=[run], status="unarchived"), picked) == set(
        urls
    )
    assert search(http, filter_patterns=[run], after=time.time() + 3600)["result"] == []
    assert search(http, filter_patterns=[run], before=1000)["result"] == []
    # And the other output formats are ArchiveBox's
    as_csv = search(
        http, filter_patterns=[urls["beta"]], filter_type="exact", as_json=False, with_headers=True
    )
    assert as_csv["result_format"] == "csv"
    assert as_csv["result"] == f"timestamp,url\n{beta['timestamp']},{urls['beta']}"
    as_txt = search(
        http, filter_patterns=[urls["beta"]], filter_type="exact", as_json=False, as_csv=False
    )
    assert (as_txt["result_format"], as_txt["result"]) == ("txt", urls["beta"])
    # And `limit` cuts the list, saying so on stderr
    cut = search(http, filter_patterns=[run], limit=2)
    assert len(cut["result"]) == 2 and "5 snapshots matched" in cut["stderr"]


def test_cli_regexes_are_bounded(picked: dict[str, Any]) -> None:
    http, run = picked["http"], picked["run"]
    # Given a pattern that backtracks exponentially in a backtracking engine, over a 3 kB URL
    started = time.monotonic()
    found = search(http, filter_patterns=[r"(a+)+$"], filter_type="regex")
    # Then it answers at once, correctly (the URL ends in "!", so nothing matches)
    assert time.monotonic() - started < 5
    assert picked_names(found, picked) == set()
    assert picked_names(search(http, filter_patterns=[r"(a+)+!$"], filter_type="regex"), picked)
    # And what RE2 cannot run in linear time, or cannot parse, is a 422 naming the pattern
    for pattern in (r"(alpha)\1", r"(?=alpha)", "(", "a{1000}{1000}"):
        answer = http.post(
            "/api/v1/cli/search", json={"filter_patterns": [pattern], "filter_type": "regex"}
        )
        assert answer.status_code == 422, pattern
        assert repr(pattern) in answer.json()["detail"]
    # And unknown filter types and ArchiveBox's on-disk statuses are refused, not ignored
    for body in (
        {"filter_patterns": [run], "filter_type": "fuzzy"},
        {"filter_patterns": [run], "status": "orphaned"},
        {"filter_patterns": [run], "sort": "password"},
    ):
        answer = http.post("/api/v1/cli/search", json=body)
        assert answer.status_code == 422 and answer.json()["detail"], body


def test_cli_update_and_remove_stay_in_the_tenant(
    picked: dict[str, Any], api_server: AmberServer, make_token: TokenFactory
) -> None:
    http, urls, run = picked["http"], picked["urls"], picked["run"]
    # Given another user, When they remove and update by the same patterns
    other = {"Authorization": f"Bearer {make_token(f'other-{run}')}"}
    body = {"filter_patterns": [run], "filter_type": "substring"}
    removed = httpx.post(f"{api_server.url}/api/v1/cli/remove", json=body, headers=other)
    updated = httpx.post(f"{api_server.url}/api/v1/cli/update", json=body, headers=other)
    # Then nothing of the first user's is touched
    assert removed.json()["result"]["removed_count"] == 0
    assert updated.json()["result"]["matched_count"] == 0
    assert len(search(http, filter_patterns=[run])["result"]) == len(urls)
    # When the owner updates by tag, Then that snapshot is queued for capture
    mine = http.post(
        "/api/v1/cli/update", json={"filter_patterns": ["t-files"], "filter_type": "tag"}
    ).json()
    assert set(mine) >= CLI_ANSWER and mine["result"]["snapshot_ids"] == [picked["ids"]["files"]]
    assert http.get(f"/api/v1/core/snapshot/{picked['ids']['files']}").json()["retry_at"]
    assert http.post("/api/v1/cli/update", json={"continuous": True}).status_code == 422
    # When the owner removes by domain, Then only that one goes
    gone = http.post(
        "/api/v1/cli/remove",
        json={"filter_patterns": [f"alpha-{run}.example.com"], "filter_type": "domain"},
    ).json()
    assert gone["result"]["removed_snapshot_ids"] == [picked["ids"]["alpha"]]
    assert len(search(http, filter_patterns=[run])["result"]) == len(urls) - 1


def test_unknown_list_filters_are_422(admin_client: httpx.Client) -> None:
    for path, params, unknown in (
        ("/api/v1/core/snapshots", {"abid": "x"}, ["abid"]),
        ("/api/v1/core/snapshots", {"tag": "news", "tags": "news"}, ["tags"]),
        (
            "/api/v1/core/archiveresults",
            {"extractor": "pdf", "snapshot_urls": "x"},
            ["snapshot_urls"],
        ),
        ("/api/v1/core/tags", {"name": "x", "q": "y"}, ["name", "q"]),
        ("/api/v1/crawls/crawls", {"state": "queued"}, ["state"]),
        ("/api/v1/cli/schedule", {"every": "day"}, ["every"]),
        ("/api/v1/core/changes", {"nope": "1"}, ["nope"]),
        ("/api/v1/workers", {"nope": "1"}, ["nope"]),
    ):
        answer = admin_client.get(path, params=params)
        # Then each unknown parameter is named, never silently ignored
        assert answer.status_code == 422, (path, answer.text)
        detail = answer.json()["detail"]
        assert detail.startswith("Unknown filter parameter") and all(n in detail for n in unknown)
    # And the known ones, with the token as a parameter, still answer
    ok = admin_client.get(
        "/api/v1/core/archiveresults",
        params={"snapshot_url": "x", "snapshot_tag": "x", "output_str": "x", "api_key": "x"},
    )
    assert ok.status_code == 200 and ok.json()["count"] == 0


def test_core_any_redirects_to_the_object(
    api_server: AmberServer, make_token: TokenFactory
) -> None:
    run = uuid.uuid4().hex[:8]
    token = make_token(f"any-{run}")
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        snapshot_id = http.post(
            "/api/v1/cli/add",
            json={"urls": [f"https://any-{run}.example.com/"], "index_only": True, "tag": run},
        ).json()["snapshot_ids"][0]
        crawl_id = http.post(
            "/api/v1/crawls/crawls",
            json={"urls": [f"https://crawl-{run}.example.com/"], "config": {"scope": "page"}},
        ).json()["id"]
        tag_id = http.get(f"/api/v1/core/tag/{run}").json()["id"]
        # When any id is asked for, Then it redirects to its own route, query kept
        for ref, where in (
            (snapshot_id, f"/api/v1/core/snapshot/{snapshot_id}?with_archiveresults=false"),
            (tag_id, f"/api/v1/core/tag/{tag_id}?with_archiveresults=false"),
            (crawl_id, f"/api/v1/crawls/crawl/{crawl_id}?with_archiveresults=false"),
        ):
            answer = http.get(f"/api/v1/core/any/{ref}?with_archiveresults=false")
            assert answer.status_code == 302 and answer.headers["location"] == where
            assert http.get(where).status_code == 200
        # And an unknown id, or another tenant's, is ArchiveBox's 404
        missing = http.get("/api/v1/core/any/no-such-object")
        assert missing.status_code == 404 and missing.json()["succeeded"] is False
        other = {"Authorization": f"Bearer {make_token(f'any-other-{run}')}"}
        assert http.get(f"/api/v1/core/any/{snapshot_id}", headers=other).status_code == 404


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AmberServer]:
    """Its own `amber serve` with CORS allowed for one origin; the route check writes to it."""
    env = amber_env(tmp_path_factory.mktemp("serve-cors"), AMBER_CORS_ORIGINS=ALLOWED_ORIGIN)
    server = AmberServer(env=env).start()
    yield server
    server.stop()


# Routes left out of /openapi.json on purpose, and why.
HIDDEN = {
    "/openapi.json": "the OpenAPI document itself",
    "/api/v1/openapi.json": "ArchiveBox's part of the OpenAPI document",
    "/docs": "Swagger UI page",
    "/api/v1/docs": "Swagger UI page",
    "/api/": "redirect to the Swagger UI page, as in ArchiveBox",
    "/": "web UI page (HTML)",
    "/login": "web UI page (HTML form)",
    "/logout": "web UI page",
    "/snapshot/{snapshot_id}": "web UI page (HTML)",
    "/timeline": "web UI page (HTML)",
    "/diff/{a}/{b}": "web UI page (HTML)",
    **{
        path: "web UI page or form (HTML, session and CSRF; docs/web-ui.md)"
        for path in (
            "/tokens",
            "/tokens/{token_id}/revoke",
            "/snapshot/{snapshot_id}/rearchive",
            "/snapshot/{snapshot_id}/retry",
            "/snapshot/{snapshot_id}/edit",
            "/snapshot/{snapshot_id}/delete",
            "/compare",
            "/bulk",
            "/tags",
            "/tags/{tag_id}",
            "/add",
            "/add/",
            "/import",
            "/imports/{job_id}",
            "/imports/{job_id}/events",
            "/fleet",
            "/kinds",
            "/kinds/dashboards",
            "/kinds/dashboards/{key}",
            "/kinds/notes",
            "/kinds/notes/{note_id}",
            "/kinds/content",
            "/kinds/content/{space_id}/{entry_id}",
            "/kinds/sheets",
            "/kinds/sheets/{sheet_id}",
            "/kinds/sheets/snapshots/{snapshot_id}",
            "/kinds/sheets/snapshots/{snapshot_id}/restore",
        )
    },
    **{
        path: "ArchiveBox's admin link, redirected to the matching UI page"
        for path in (
            "/admin",
            "/admin/",
            "/admin/login/",
            "/admin/core/snapshot/",
            "/admin/api/apitoken/",
            "/admin/api/apitoken/add/",
        )
    },
    "/web/{rest}": "Wayback-style replay URLs (HTML pages and redirects)",
    "/dashboard/snapshot/{key}": "Grafana's snapshot page (HTML)",
    "/dashboard/snapshot/{key}/": "Grafana's trailing-slash spelling",
    "/api/snapshots/": "Grafana's trailing-slash spelling",
    "/api/dashboard/snapshots/": "Grafana's trailing-slash spelling",
    "/api/snapshots/{key}/": "Grafana's trailing-slash spelling",
    "/api/snapshots-delete/{deleteKey}/": "Grafana's trailing-slash spelling",
    "/api/snapshot/shared-options/": "Grafana's trailing-slash spelling",
    "/api/user/orgs/": "Grafana's trailing-slash spelling",
}


def live_routes() -> list[tuple[str, str, bool]]:
    """(path as OpenAPI spells it, method, documented?) for every route of the app."""
    from fastapi.routing import APIRoute

    out = [("/openapi.json", "GET", False)]
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            path = route.path
            while ":" in path:  # {path:path} -> {path}
                start = path.index(":")
                path = path[:start] + path[path.index("}", start) :]
            for method in (route.methods or set()) - {"HEAD"}:
                out.append((path, method, route.include_in_schema))
    return out


def unrouted(answer: httpx.Response) -> bool:
    """No route matched: a 405, or the router's 404 ("Not found"); a handler's 404 says more."""
    return answer.status_code == 405 or (answer.status_code == 404 and '"Not found"' in answer.text)


def test_openapi_describes_exactly_the_live_routes(open_server: AmberServer) -> None:
    doc = httpx.get(f"{open_server.url}/openapi.json").json()
    documented = {(p, m.upper()) for p, item in doc["paths"].items() for m in item}
    routes = live_routes()
    # Then every route is documented, or hidden on purpose with a reason
    for path, method, in_schema in routes:
        if in_schema:
            assert (path, method) in documented, (path, method)
        else:
            assert HIDDEN.get(path), f"{method} {path} is neither documented nor explained"
    # And every documented path answers its documented method on the live server
    assert documented <= {(p, m) for p, m, in_schema in routes if in_schema}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=open_server.url, headers=headers, timeout=60) as http:
        for path, method in sorted(documented):
            concrete = path.replace("{path}", "index.html")
            while "{" in concrete:
                start = concrete.index("{")
                concrete = concrete[:start] + "x0" + concrete[concrete.index("}", start) + 1 :]
            answer = http.request(method, concrete)
            assert not unrouted(answer), (method, path, answer.status_code, answer.text[:200])
            assert answer.status_code < 500, (method, path, answer.text[:300])
        # And an unknown path is told apart by the same rule (the check can fail)
        assert unrouted(http.get("/api/v1/core/no-such-route"))
        assert unrouted(http.delete("/api/v1/cli/add"))


def test_archivebox_openapi_and_docs_pages(open_server: AmberServer) -> None:
    base = open_server.url
    # Given the iOS/macOS app's first contact, without a token and without following redirects
    doc = httpx.get(f"{base}/api/v1/openapi.json")
    assert doc.status_code == 200
    schema = doc.json()
    # Then it is ArchiveBox's document, with the two paths the app looks for
    assert "archivebox" in schema["info"]["title"].lower()
    assert "/api/v1/cli/add" in schema["paths"]
    assert "/api/v1/auth/check_api_token" in schema["paths"]
    assert schema["paths"]["/api/v1/auth/check_api_token"]["post"]["security"] == []
    # And it holds the /api/v1 routes of /openapi.json, nothing else
    full = httpx.get(f"{base}/openapi.json").json()
    assert set(schema["paths"]) == {p for p in full["paths"] if p.startswith("/api/v1/")}
    assert set(schema["components"]["securitySchemes"]) == {
        "APIKeyHeader",
        "HttpBearer",
        "APIKeyQuery",
    }
    # And both Swagger UI pages load their assets from Amber itself, license included
    for page, source in (("/api/v1/docs", "/api/v1/openapi.json"), ("/docs", "/openapi.json")):
        html = httpx.get(f"{base}{page}").text
        assert "/static/swagger-ui/swagger-ui-bundle.js" in html and source in html
        assert "cdn." not in html and "https://" not in html.split("<body>")[0]
    bundle = httpx.get(f"{base}/static/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text[:200_000]
    assert httpx.get(f"{base}/static/swagger-ui/swagger-ui.css").status_code == 200
    assert "Apache License" in httpx.get(f"{base}/static/swagger-ui/LICENSE").text


def test_cors_preflights(open_server: AmberServer, sqlite_server: AmberServer) -> None:
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-archivebox-api-key",
    }
    add = "/api/v1/cli/add"
    # Given an allowed origin, When a page's preflight asks, Then ArchiveBox's answer
    allowed = httpx.options(f"{open_server.url}{add}", headers={"Origin": ALLOWED_ORIGIN, **ask})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    granted = allowed.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "x-archivebox-api-key"} <= {
        h.strip() for h in granted.split(",")
    }
    assert allowed.headers["access-control-max-age"] == "600"
    # And the real request's answer carries the origin too
    real = httpx.get(
        f"{open_server.url}/api/v1/core/tags",
        headers={"Origin": ALLOWED_ORIGIN, "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert real.status_code == 200
    assert real.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    # Given another origin, Then the preflight is refused and nothing is granted
    other = httpx.options(f"{open_server.url}{add}", headers={"Origin": EXT_ORIGIN, **ask})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    # Given the default settings, Then CORS is off: no origin is granted anything
    off = httpx.options(f"{sqlite_server.url}{add}", headers={"Origin": ALLOWED_ORIGIN, **ask})
    assert off.status_code == 400 and "access-control-allow-origin" not in off.headers
    plain = httpx.get(
        f"{sqlite_server.url}/api/v1/core/tags",
        headers={"Origin": ALLOWED_ORIGIN, "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers
