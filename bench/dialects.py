"""Snapshot throughput per dialect over HTTP, and a 100,000-record Flatfile sheet.

    .venv/bin/python bench/dialects.py [--seconds S] [--records N]

Starts its own ``amber serve --no-workers`` on SQLite in a temp dir. For each of
the four snapshot dialects it measures requests per second, one request at a
time over one keep-alive connection, for snapshot create and snapshot get:

- Grafana:    POST /api/snapshots               + GET /api/snapshots/{key}
- Sidvy:      POST /api/snapshot                + GET /api/snapshot?noteId=
- Contentful: PUT .../entries/{id}/published    + GET .../entries/{id}/snapshots/{sid}
- Flatfile:   POST /v1/snapshots (100 records)  + GET /v1/snapshots/{id}

The baseline, measured on the same server in the same run, is the cheapest
authenticated call there is: GET /api/v1/core/tags. Then it fills a Flatfile
sheet with N records (default 100,000), snapshots it, changes 10% of the
records each way (update, delete, insert), and times snapshot, summarise
(GET ?includeSummary=true) and restore against the 5 s goal.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.services import AmberServer  # noqa: E402

TOKEN = "bench-admin-token-" + secrets.token_hex(8)
GOAL_SECONDS = 5.0
BATCH = 10_000  # records per insert/update request
DELETE_BATCH = 400  # ids per DELETE query string (URL length)
FIELDS = [
    {"key": "name", "type": "string", "label": "Name"},
    {"key": "email", "type": "string", "label": "Email"},
    {"key": "age", "type": "number", "label": "Age"},
    {"key": "active", "type": "boolean", "label": "Active"},
]


@dataclass
class Rate:
    name: str
    requests: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def measure(name: str, call: Callable[[], httpx.Response], seconds: float) -> Rate:
    """Call repeatedly for about `seconds` (after two warm-up calls); every answer must be 2xx."""
    for _ in range(2):
        call().raise_for_status()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        response = call()
        if response.status_code >= 300:
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")
        count += 1
    return Rate(name, count, elapsed)


def ok(response: httpx.Response) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text[:300]}"
        )
    return response.json()


def grafana(http: httpx.Client, seconds: float) -> tuple[Rate, Rate]:
    dashboard = {"title": "Bench", "panels": [{"id": i, "type": "graph"} for i in range(5)]}
    keys: list[str] = []

    def create() -> httpx.Response:
        response = http.post("/api/snapshots", json={"dashboard": dashboard, "name": "bench"})
        if response.status_code < 300:
            keys.append(response.json()["key"])
        return response

    made = measure("grafana create", create, seconds)
    next_key = cycle(keys)
    got = measure("grafana get", lambda: http.get(f"/api/snapshots/{next(next_key)}"), seconds)
    return made, got


def sidvy(http: httpx.Client, workspace: str, seconds: float) -> tuple[Rate, Rate]:
    note = ok(http.post("/api/notes", json={"workspaceId": workspace, "title": "Bench"}))
    note_id = note["data"]["id"]
    body = {"noteId": note_id, "workspaceId": workspace, "content": "# Bench\n" + "text " * 100}
    made = measure("sidvy create", lambda: http.post("/api/snapshot", json=body), seconds)
    got = measure(
        "sidvy get", lambda: http.get("/api/snapshot", params={"noteId": note_id}), seconds
    )
    return made, got


def contentful(http: httpx.Client, workspace: str, seconds: float) -> tuple[Rate, Rate]:
    env = f"/spaces/{workspace}/environments/master"
    content_type = {
        "name": "Bench",
        "displayField": "title",
        "fields": [
            {"id": "title", "name": "Title", "type": "Symbol"},
            {"id": "body", "name": "Body", "type": "Text"},
        ],
    }
    ok(http.put(f"{env}/content_types/bench", json=content_type))
    ok(http.put(f"{env}/content_types/bench/published", headers={"X-Contentful-Version": "1"}))
    entry = ok(
        http.post(
            f"{env}/entries",
            json={"fields": {"title": {"en-US": "Bench"}, "body": {"en-US": "text " * 100}}},
            headers={"X-Contentful-Content-Type": "bench"},
        )
    )
    entry_id, version = entry["sys"]["id"], entry["sys"]["version"]

    def publish() -> httpx.Response:
        nonlocal version
        response = http.put(
            f"{env}/entries/{entry_id}/published", headers={"X-Contentful-Version": str(version)}
        )
        if response.status_code < 300:
            version = response.json()["sys"]["version"]
        return response

    made = measure("contentful publish", publish, seconds)
    listing = ok(http.get(f"{env}/entries/{entry_id}/snapshots", params={"limit": 1000}))
    ids = cycle([item["sys"]["id"] for item in listing["items"]])
    got = measure(
        "contentful get",
        lambda: http.get(f"{env}/entries/{entry_id}/snapshots/{next(ids)}"),
        seconds,
    )
    return made, got


def new_sheet(http: httpx.Client, name: str) -> str:
    config = {"name": name, "slug": name.lower(), "fields": FIELDS}
    workbook = ok(http.post("/v1/workbooks", json={"name": name, "sheets": [config]}))
    return str(workbook["data"]["sheets"][0]["id"])


def person(i: int) -> dict[str, Any]:
    return {
        "name": {"value": f"Person {i}"},
        "email": {"value": f"person{i}@example.com"},
        "age": {"value": 20 + i % 60},
        "active": {"value": i % 3 == 0},
    }


def insert(http: httpx.Client, sheet_id: str, start: int, count: int) -> list[str]:
    ids: list[str] = []
    for offset in range(start, start + count, BATCH):
        rows = [person(i) for i in range(offset, min(offset + BATCH, start + count))]
        answer = ok(http.post(f"/v1/sheets/{sheet_id}/records", json=rows))
        ids += [r["id"] for r in answer["data"]["records"]]
    return ids


def flatfile(http: httpx.Client, seconds: float) -> tuple[Rate, Rate]:
    sheet_id = new_sheet(http, "Small")
    insert(http, sheet_id, 0, 100)
    snapshots: list[str] = []

    def create() -> httpx.Response:
        response = http.post("/v1/snapshots", json={"sheetId": sheet_id})
        if response.status_code < 300:
            snapshots.append(response.json()["data"]["id"])
        return response

    made = measure("flatfile create", create, seconds)
    ids = cycle(snapshots)
    got = measure("flatfile get", lambda: http.get(f"/v1/snapshots/{next(ids)}"), seconds)
    return made, got


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def large_sheet(http: httpx.Client, records: int) -> list[tuple[str, float]]:
    sheet_id = new_sheet(http, "Large")
    fill, ids = timed(lambda: insert(http, sheet_id, 0, records))
    print(f"  filled {records:,} records in {fill:.1f} s ({records / fill:,.0f} records/s)")

    snap_s, snap = timed(lambda: ok(http.post("/v1/snapshots", json={"sheetId": sheet_id})))
    snapshot_id = snap["data"]["id"]

    tenth = records // 10
    start = time.perf_counter()
    for offset in range(0, tenth, BATCH):
        batch = ids[offset : min(offset + BATCH, tenth)]
        ok(
            http.put(
                f"/v1/sheets/{sheet_id}/records",
                json=[{"id": i, "values": {"age": {"value": 99}}} for i in batch],
            )
        )
    doomed = ids[tenth : 2 * tenth]
    for offset in range(0, len(doomed), DELETE_BATCH):
        ok(
            http.delete(
                f"/v1/sheets/{sheet_id}/records",
                params={"ids": ",".join(doomed[offset : offset + DELETE_BATCH])},
            )
        )
    insert(http, sheet_id, records, tenth)
    print(
        f"  changed {tenth:,} records each way (update, delete, insert) in "
        f"{time.perf_counter() - start:.1f} s"
    )

    summary_s, summary = timed(
        lambda: ok(http.get(f"/v1/snapshots/{snapshot_id}", params={"includeSummary": "true"}))
    )
    totals = {
        k: summary["data"]["summary"][k]["total"]
        for k in ("createdSince", "updatedSince", "deletedSince")
    }
    expected = {"createdSince": tenth, "updatedSince": tenth, "deletedSince": tenth}
    if totals != expected:
        raise RuntimeError(f"summary totals {totals}, expected {expected}")

    restore_s, _ = timed(lambda: ok(http.post(f"/v1/snapshots/{snapshot_id}/restore")))
    after = ok(http.get(f"/v1/sheets/{sheet_id}/records", params={"pageSize": 10_000}))
    back = [r["id"] for r in after["data"]["records"]]
    if after["data"]["counts"]["total"] != records or back != ids[: len(back)]:
        raise RuntimeError("restore did not give back the snapshot's records")
    return [("snapshot", snap_s), ("summarise", summary_s), ("restore", restore_s)]


def report(baseline: Rate, rows: dict[str, tuple[Rate, Rate]]) -> None:
    base = baseline.per_second
    print(f"\nbaseline GET /api/v1/core/tags: {base:8.1f} req/s (one connection, sequential)")
    print(f"\n{'dialect':<12}{'create req/s':>14}{'vs base':>9}{'get req/s':>12}{'vs base':>9}")
    for name, (made, got) in rows.items():
        create, get = made.per_second, got.per_second
        print(f"{name:<12}{create:>14.1f}{create / base:>8.2f}x{get:>12.1f}{get / base:>8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--records", type=int, default=100_000, help="large sheet size")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="amber-bench-dialects-"))
    env = {
        "AMBER_DATA_DIR": str(data_dir),
        "AMBER_ADMIN_TOKEN": TOKEN,
        "AMBER_MAX_BODY_BYTES": str(64 * 1024 * 1024),
    }
    server = AmberServer(env=env, args=("--no-workers",)).start()
    print(f"amber serve --no-workers on SQLite at {server.url} (data in {data_dir})")
    try:
        with httpx.Client(
            base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            workspace = ok(http.get("/spaces"))["items"][0]["sys"]["id"]
            baseline = measure("baseline", lambda: http.get("/api/v1/core/tags"), args.seconds)
            rows = {
                "Grafana": grafana(http, args.seconds),
                "Sidvy": sidvy(http, workspace, args.seconds),
                "Contentful": contentful(http, workspace, args.seconds),
                "Flatfile": flatfile(http, args.seconds),
            }
            report(baseline, rows)
            print(f"\nFlatfile sheet of {args.records:,} records (goal: each < {GOAL_SECONDS} s)")
            for step, seconds in large_sheet(http, args.records):
                verdict = "under goal" if seconds < GOAL_SECONDS else "OVER GOAL"
                print(f"  {step:<10}{seconds:>7.2f} s  {verdict}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
