"""No input makes Amber answer 500, and every answer matches the OpenAPI schema.

schemathesis generates requests for every operation of every dialect from
`/openapi.json` and sends them to a real `amber serve` (no workers: nothing is
captured). A bounded number of examples keeps it inside the suite's time. The
regression cases below are the ones a long `st run` found, each pinned down.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from api.errors import AnswerUnhandled, install_error_handlers
from tests.conftest import ADMIN_TOKEN, amber_env
from tests.services import AmberServer

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("AMBER_FUZZ_EXAMPLES", "8"))
HUGE = str(2**63)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AmberServer]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    started = AmberServer(env=amber_env(data_dir), args=("--no-workers",)).start(timeout=180)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def http(server: AmberServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as client:
        yield client


def send(http: httpx.Client, case: Any) -> httpx.Response:
    """The case over httpx (the requests transport trips on urllib3-future's pools)."""
    kwargs = case.as_transport_kwargs(base_url=str(http.base_url).rstrip("/"), headers=AUTH)
    headers = dict(kwargs.get("headers") or {})
    if cookies := kwargs.get("cookies"):
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["content"] = json.dumps(kwargs["json"]).encode("utf-8", "surrogatepass")
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(kwargs.get("data"), dict):
        body["data"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body["content"] = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return http.request(
        kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers, **body
    )


def fuzz(operation: Any, mode: GenerationMode, http: httpx.Client) -> str | None:
    """Run `EXAMPLES` generated cases of one operation; the first failure, described."""
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if failures:
            return
        response = send(http, case)
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseException as exc:  # a FailureGroup: every kind of check failure is reported
            failures.append(
                f"{operation.label} [{mode}] {case.as_curl_command()}\n"
                f"  -> {response.status_code} {response.text[:300]}\n  {exc!s:.600}"
            )

    try:
        run()
    except Unsatisfiable:  # nothing to negate: an operation without parameters or body
        assert mode == GenerationMode.NEGATIVE, operation.label
    return failures[0] if failures else None


def modes_for(operation: Any) -> tuple[GenerationMode, ...]:
    """Invalid input only where a client chooses it freely: the query string and the body.

    Negating path parameters alone is slow to generate (most strings are valid ids)
    and only ever finds 404s; their positive cases still run.
    """
    raw = operation.definition.raw
    free = "requestBody" in raw or any(p.get("in") == "query" for p in raw.get("parameters", []))
    return (
        (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if free else (GenerationMode.POSITIVE,)
    )


@pytest.mark.timeout(900)  # bounded by EXAMPLES; the margin is for a loaded machine
def test_every_operation_answers_within_its_schema(server: AmberServer, http: httpx.Client) -> None:
    """Every operation of every dialect: no 500, and status and body as the schema says."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) > 60
    dialects = {tag for op in operations for tag in op.definition.raw.get("tags", [])}
    assert {"archive", "dashboards", "content", "sheets", "notes"} <= dialects
    failures, took = [], []
    for operation in operations:
        for mode in modes_for(operation):
            started = time.monotonic()
            if failure := fuzz(operation, mode, http):
                failures.append(failure)
            took.append((time.monotonic() - started, f"{operation.label} [{mode}]"))
    print("\nslowest:", *sorted(took, reverse=True)[:8], sep="\n  ")
    assert not failures, f"{len(failures)} failing operation(s):\n" + "\n".join(failures)


# -- the causes a long fuzzing run found, one case each --------------------------------


PAGED = [
    ("GET", f"/api/v1/core/snapshots?offset={HUGE}"),
    ("GET", f"/api/v1/core/snapshots?page={HUGE}"),
    ("GET", f"/api/v1/core/archiveresults?offset={HUGE}"),
    ("GET", f"/api/v1/core/tags?page={HUGE}"),
    ("GET", f"/api/v1/crawls/crawls?offset={HUGE}"),
    ("GET", f"/api/notes?offset={HUGE}"),
    ("GET", f"/spaces/s/environments/master/entries?skip={HUGE}"),
    ("GET", f"/v1/sheets/us_sh_x/records?pageNumber={HUGE}"),
]


@pytest.mark.parametrize(("method", "path"), PAGED)
def test_huge_paging_numbers_are_bad_input(http: httpx.Client, method: str, path: str) -> None:
    answer = http.request(method, path)
    assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text)


def _conn_reused(http: httpx.Client) -> None:
    """The kept-alive connection still answers after an error (it was not reset)."""
    assert http.get("/api/v1/core/snapshots?limit=1").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "shape"),
    [
        # large numbers in bodies and headers
        (
            "POST",
            "/api/v1/crawls/crawls",
            {"json": {"urls": "http://a.example/", "max_urls": 2**63}},
            "detail",
        ),
        ("POST", "/api/snapshots", {"json": {"dashboard": {}, "expires": 10**12}}, "message"),
        (
            "PUT",
            "/spaces/s/environments/master/entries/e1",
            {"json": {"fields": {}}, "headers": {"X-Contentful-Version": HUGE}},
            "sys",
        ),
        # Grafana org headers isdigit() takes but int() cannot read, or too large
        ("GET", "/api/dashboard/snapshots", {"headers": {"X-Grafana-Org-Id": "\u00b2"}}, "message"),
        ("GET", "/api/dashboard/snapshots", {"headers": {"X-Grafana-Org-Id": HUGE}}, "message"),
        (
            "GET",
            "/api/dashboard/snapshots",
            {"headers": {"X-Grafana-Org-Id": "9" * 4400}},
            "message",
        ),
        # lone surrogates in URLs
        ("POST", "/api/v1/cli/add", {"raw": '{"urls": ["http://a.example/\\ud800"]}'}, "detail"),
        (
            "POST",
            "/api/v1/core/snapshots",
            {"raw": '{"urls": ["http://a.example/\\ud800"]}'},
            "detail",
        ),
        (
            "POST",
            "/api/v1/crawls/crawls",
            {"raw": '{"urls": "http://a.example/\\udfff"}'},
            "detail",
        ),
        (
            "POST",
            "/api/v1/cli/schedule",
            {"raw": '{"urls": ["http://a.example/\\ud800"], "every": "1d"}'},
            "detail",
        ),
        # an unknown workspace for an admin's tag
        ("POST", "/api/v1/core/tags", {"json": {"name": "x", "workspace_id": "nope"}}, "detail"),
    ],
)
def test_bad_input_is_a_4xx_in_the_dialects_shape(
    http: httpx.Client, method: str, path: str, kwargs: dict[str, Any], shape: str
) -> None:
    if "raw" in kwargs:
        kwargs = {
            "content": kwargs["raw"].encode(),
            "headers": {"Content-Type": "application/json"},
        }
    if "headers" in kwargs:
        # raw bytes, as a client may send them: "\u00b2" goes out as the one byte 0xb2
        headers = {k: v.encode("latin-1", "replace") for k, v in kwargs.pop("headers").items()}
        kwargs["headers"] = headers
    answer = http.request(method, path, **kwargs)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert shape in answer.json(), answer.text
    _conn_reused(http)


def test_contentful_nan_and_overflowing_numbers_are_refused(
    http: httpx.Client, server: AmberServer
) -> None:
    space = http.get("/spaces").json()["items"][0]["sys"]["id"]
    base = f"/spaces/{space}/environments/master"
    ctype = http.put(
        f"{base}/content_types/num",
        json={"name": "Num", "fields": [{"id": "n", "name": "N", "type": "Number"}]},
    )
    assert ctype.status_code in (200, 201), ctype.text
    for literal in ("NaN", "1e400", "-Infinity"):
        raw = '{"fields": {"n": {"en-US": ' + literal + "}}}"
        answer = http.post(
            f"{base}/entries",
            content=raw.encode(),
            headers={"Content-Type": "application/json", "X-Contentful-Content-Type": "num"},
        )
        assert 400 <= answer.status_code < 500, (literal, answer.status_code, answer.text)
        assert answer.json()["sys"]["type"] == "Error"
    _conn_reused(http)


def test_deep_dashboards_are_refused_at_write_time(http: httpx.Client) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(500):
        node["panels"] = {}
        node = node["panels"]
    raw = json.dumps({"dashboard": deep})
    answer = http.post(
        "/api/snapshots", content=raw.encode(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400 and "nested" in answer.json()["message"]
    # a dashboard of a sane depth still round-trips
    ok = http.post("/api/snapshots", json={"dashboard": {"panels": [{"id": 1}]}})
    assert ok.status_code == 200, ok.text
    assert http.get(f"/api/snapshots/{ok.json()['key']}").status_code == 200


def test_an_unexpected_error_is_answered_in_the_shape_and_not_re_raised() -> None:
    """No 500 is known any more, so provoke one on a small app with the same middleware.

    Starlette's own catch-all answers and re-raises, and uvicorn then resets the
    kept-alive connection; `AnswerUnhandled` answers and stops the exception there
    (a TestClient that re-raises server errors proves nothing escaped).
    """
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/v1/boom", tags=["archive"])
    def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/api/dashboards/boom", tags=["dashboards"])
    def boom_grafana() -> None:
        raise RuntimeError("boom")

    app.add_middleware(AnswerUnhandled)
    with TestClient(app, raise_server_exceptions=True) as client:
        archive = client.get("/api/v1/boom")
        assert archive.status_code == 500 and archive.json() == {"detail": "Internal server error"}
        grafana = client.get("/api/dashboards/boom")
        assert grafana.status_code == 500 and grafana.json() == {"message": "Internal server error"}


def test_kept_alive_connection_survives_bad_input(server: AmberServer) -> None:
    """Two requests on one raw socket: the second is answered, the first did not reset it."""
    request = (
        f"GET /api/v1/core/snapshots?offset={HUGE} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        reader = sock.makefile("rb")
        for _ in range(2):
            sock.sendall(request)
            # Read exactly one answer (status, headers, Content-Length body): the head and
            # the body may arrive in separate packets.
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 422"), status[:200]
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            assert b"offset" in reader.read(length)
