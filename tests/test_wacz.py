"""WACZ out and in, with real files and real tools.

Real Chromium captures pages of the local test site through `amber serve`; the
site is then stopped. Exports come from the API (streamed) and `amber export`;
py-wacz's `wacz validate` checks them and pywb (its own venv) replays them.
Imports go into fresh stores with `amber import` and are read back through the
API, SQL and `crawler.warcindex`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler import db
from crawler.auth import Principal
from crawler.blobs import LocalBlobStore
from crawler.errors import InvalidInput
from crawler.importers.detect import detect_archive
from crawler.models import ArchiveResult, Snapshot
from crawler.snapshot_query import SnapshotFilters, query_snapshots
from crawler.wacz.importer import import_archive
from crawler.wacz.pages import Page, read_pages
from crawler.wacz.sorting import LineSorter
from crawler.warcindex import IndexCache, open_record
from tests.conftest import ADMIN_TOKEN, amber_env, run_amber
from tests.services import VENV_BIN, AmberServer, PostgresServer, pywb_collection, pywb_installed
from tests.site import CSS, JSON_MESSAGE, LAZY_PNG, RED_PNG, TestSite
from tests.test_api_archive import wait_done
from tests.test_import import open_store

TAG = "wacz-export"


@dataclass
class Archive:
    """A store with three captures by Alice (two tagged), one index-only, and Bob."""

    server: AmberServer
    site: TestSite  # stopped once the captures are done
    alice: dict[str, str]
    bob: dict[str, str]
    rich: dict[str, Any]
    plain: dict[str, Any]
    redirect: dict[str, Any]
    queued_id: str

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers=headers or {}, timeout=60)


def _token(env: dict[str, str], user: str) -> dict[str, str]:
    done = run_amber(env, "token", "create", "--user", user)
    assert done.returncode == 0, done.stderr
    return {"Authorization": f"Bearer {done.stdout.strip().splitlines()[-1]}"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    site = TestSite().start()  # private: it is stopped before anything is exported
    server = AmberServer(env=amber_env(tmp_path_factory.mktemp("wacz-store"))).start()
    try:
        alice, bob = _token(server.env, "alice-wacz"), _token(server.env, "bob-wacz")
        with httpx.Client(base_url=server.url, headers=alice, timeout=60) as client:

            def add(path: str, **extra: object) -> str:
                answer = client.post("/api/v1/cli/add", json={"urls": [site.url(path)], **extra})
                assert answer.status_code == 200, answer.text
                return str(answer.json()["snapshot_ids"][0])

            ids = [add("/page.html", tag=TAG), add("/cp1252.html", tag=TAG), add("/redirect/1")]
            queued_id = add("/final.html?later=1", index_only=True)
            rich, plain, redirect = (wait_done(client, i, timeout=120) for i in ids)
        site.stop()
        assert all(s["status"] == "succeeded" for s in (rich, plain, redirect))
        yield Archive(server, site, alice, bob, rich, plain, redirect, queued_id)
    finally:
        server.stop()


def _download(client: httpx.Client, url: str, target: Path, **params: Any) -> httpx.Response:
    with client.stream("GET", url, params=params) as answer:
        if answer.status_code == 200:
            with target.open("wb") as out:
                for chunk in answer.iter_bytes():
                    out.write(chunk)
        else:
            answer.read()
    return answer


def _validate(path: Path) -> None:
    done = subprocess.run(
        [str(VENV_BIN / "wacz"), "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation succeeded" in done.stdout


def _pages(path: Path) -> list[Page]:
    with zipfile.ZipFile(path) as package, package.open("pages/pages.jsonl") as lines:
        header = json.loads(lines.readline())
        assert header["format"] == "json-pages-1.0"
        found = list(read_pages(lines, unit="pages.jsonl"))
    assert all(isinstance(p, Page) for p in found), found
    return found  # type: ignore[return-value]


# --- export ------------------------------------------------------------------------


def test_snapshot_wacz_validates_and_holds_page_index_and_warc(
    archive: Archive, tmp_path: Path
) -> None:
    rich = archive.rich
    target = tmp_path / "rich.wacz"
    # Given a captured page / When Alice downloads its WACZ from the API (streamed)
    with archive.client(archive.alice) as client:
        answer = _download(client, f"/api/v1/core/snapshot/{rich['id']}/wacz", target)
    # Then it is a WACZ attachment that py-wacz's validator accepts
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/wacz"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="amber-{rich["timestamp"]}.wacz"'
    )
    _validate(target)
    with zipfile.ZipFile(target) as package:
        names = package.namelist()
        warc_name = f"archive/{rich['id']}.warc.gz"
        assert names == [
            warc_name,
            "indexes/index.cdx",
            "pages/pages.jsonl",
            "datapackage.json",
            "datapackage-digest.json",
        ]
        # And the WARC is stored byte for byte (replay reads it by range), not deflated
        assert package.getinfo(warc_name).compress_type == zipfile.ZIP_STORED
        warc_bytes = package.read(warc_name)
        package_json = json.loads(package.read("datapackage.json"))
        index_lines = package.read("indexes/index.cdx").decode().splitlines()
    warc_meta = next(r for r in rich["archiveresults"] if r["plugin"] == "warc")
    assert warc_meta["output_files"] == ["warc/capture.warc.gz"]
    assert hashlib.sha256(warc_bytes).hexdigest() == warc_meta["sha256"]
    assert package_json["mainPageURL"] == rich["url"]
    assert package_json["title"] == "Amber Rich Page"
    # And the page list names the snapshot, with its title and readable text
    [page] = _pages(target)
    assert (page.id, page.url, page.title) == (rich["id"], rich["url"], "Amber Rich Page")
    assert page.text is not None and "lighthouses" in page.text
    assert page.ts is not None and abs(time.time() - page.ts.timestamp()) < 3600
    # And the CDXJ index is sorted and every line points at its own record
    assert index_lines == sorted(index_lines)
    urls = set()
    for line in index_lines:
        _key, _ts, raw = line.split(" ", 2)
        entry = json.loads(raw)
        assert entry["filename"] == f"{rich['id']}.warc.gz"
        start, length = int(entry["offset"]), int(entry["length"])
        record = next(ArchiveIterator(io.BytesIO(warc_bytes[start : start + length])))
        assert record.rec_headers.get_header("WARC-Target-URI") == entry["url"]
        urls.add(entry["url"])
    site = archive.site
    for path in ("/page.html", "/static/style.css", "/static/red.png", "/api/data.json"):
        assert site.url(path) in urls


@contextmanager
def pywb(wacz: Path, root: Path) -> Iterator[str]:
    """pywb serving a collection made from `wacz` (unpacked, with the WACZ's own index)."""
    if not pywb_installed():
        pytest.skip("pywb is not installed in .pywb-venv (scripts/setup --test installs it)")
    with pywb_collection(root, "wacz", [wacz], unpack_wacz=True) as base:
        yield base


def test_export_replays_in_pywb_with_the_site_stopped(archive: Archive, tmp_path: Path) -> None:
    site = archive.site
    target = tmp_path / "tagged.wacz"
    with archive.client(archive.alice) as client:
        assert _download(client, "/api/v1/core/export.wacz", target, tag=TAG).status_code == 200
    # Given the live site is down
    with pytest.raises(httpx.ConnectError):
        httpx.get(site.url("/page.html"), timeout=2)
    # When pywb replays the exported WACZ through its own index
    with pywb(target, tmp_path) as base:

        def replay(modifier: str, path: str) -> httpx.Response:
            answer = httpx.get(
                f"{base}/2030{modifier}/{site.url(path)}", timeout=30, follow_redirects=True
            )
            assert answer.status_code == 200, f"{path}: {answer.status_code}"
            return answer

        # Then the page, its CSS, images and the JSON its script fetched come back
        page = replay("mp_", "/page.html")
        assert "Rich page" in page.text and "/wacz/" in page.text
        assert replay("id_", "/static/style.css").content == CSS
        assert replay("id_", "/static/red.png").content == RED_PNG
        assert replay("id_", "/static/lazy.png").content == LAZY_PNG
        data = replay("id_", "/api/data.json")
        assert json.loads(data.content) == {"message": JSON_MESSAGE}
        # And the second tagged page is in the same collection
        assert "in windows-1252" in replay("mp_", "/cp1252.html").text


def test_selections_export_exactly_the_chosen_snapshots(archive: Archive, tmp_path: Path) -> None:
    rich, plain, redirect = archive.rich, archive.plain, archive.redirect
    with archive.client(archive.alice) as client:
        # When Alice exports by tag / Then exactly the two tagged snapshots are in it
        by_tag = tmp_path / "tag.wacz"
        answer = _download(client, "/api/v1/core/export.wacz", by_tag, tag=TAG)
        assert answer.status_code == 200 and answer.headers["x-amber-snapshots"] == "2"
        assert {p.id for p in _pages(by_tag)} == {rich["id"], plain["id"]}
        # When she names snapshots by id (the index-only one has no WARC)
        by_id = tmp_path / "ids.wacz"
        ids = [rich["id"], redirect["id"], archive.queued_id]
        answer = _download(client, "/api/v1/core/export.wacz", by_id, id=ids)
        # Then those with a WARC are in it, and the one without is counted as left out
        assert answer.status_code == 200 and answer.headers["x-amber-skipped"] == "1"
        pages = {p.id: p for p in _pages(by_id)}
        assert set(pages) == {rich["id"], redirect["id"]}
        assert pages[redirect["id"]].title == "Final Destination"
        with zipfile.ZipFile(by_id) as package:
            assert len([n for n in package.namelist() if n.startswith("archive/")]) == 2
    # When `amber export` runs with the same tag / Then the same two, in a valid WACZ
    cli_file = tmp_path / "cli.wacz"
    done = run_amber(archive.server.env, "export", "--wacz", str(cli_file), "--tag", TAG)
    assert done.returncode == 0, done.stderr
    assert "Writing WACZ" in done.stdout and "2 snapshot(s)" in done.stdout
    _validate(cli_file)
    assert {p.id for p in _pages(cli_file)} == {rich["id"], plain["id"]}
    assert not (tmp_path / "cli.wacz.part").exists()


def test_other_tenants_and_empty_selections_are_refused(archive: Archive) -> None:
    rich_id = archive.rich["id"]
    # Given Bob, who shares nothing with Alice
    with archive.client(archive.bob) as bob:
        # When he asks for her snapshot, alone or in a selection / Then 404, as for no snapshot
        answer = bob.get(f"/api/v1/core/snapshot/{rich_id}/wacz")
        assert answer.status_code == 404 and answer.json()["succeeded"] is False
        assert bob.get("/api/v1/core/export.wacz", params={"id": rich_id}).status_code == 404
        # And her tag selects nothing for him: a clear 422
        empty = bob.get("/api/v1/core/export.wacz", params={"tag": TAG})
        assert empty.status_code == 422 and "nothing to export" in empty.json()["detail"]
    with archive.client(archive.alice) as alice:
        # When Alice asks for a snapshot that was never captured / Then 422 saying why
        queued = alice.get(f"/api/v1/core/snapshot/{archive.queued_id}/wacz")
        assert queued.status_code == 422 and "has no WARC" in queued.json()["detail"]
        both = alice.get("/api/v1/core/export.wacz", params={"id": rich_id, "tag": TAG})
        assert both.status_code == 422 and "not both" in both.json()["detail"]
        assert alice.get("/api/v1/core/export.wacz", params={"tag": "no-such"}).status_code == 422
        assert alice.get("/api/v1/core/snapshot/no-such-id/wacz").status_code == 404
    # And without a token nothing is exported; an admin sees every tenant's snapshots
    with archive.client() as anonymous:
        assert anonymous.get(f"/api/v1/core/snapshot/{rich_id}/wacz").status_code == 401
    with archive.client({"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        assert admin.get(f"/api/v1/core/snapshot/{rich_id}/wacz").status_code == 200


# --- import ------------------------------------------------------------------------


def _results(engine: Engine, snapshot_id: str) -> dict[str, ArchiveResult]:
    with Session(engine) as session:
        rows = session.exec(
            select(ArchiveResult).where(col(ArchiveResult.snapshot_id) == snapshot_id)
        ).all()
    return {r.plugin: r for r in rows}


def test_exported_wacz_imports_into_a_fresh_store(archive: Archive, tmp_path: Path) -> None:
    exported = tmp_path / "tagged.wacz"
    with archive.client(archive.alice) as client:
        assert _download(client, "/api/v1/core/export.wacz", exported, tag=TAG).status_code == 200
    listed = {p.url: p for p in _pages(exported)}
    env = amber_env(tmp_path / "fresh")
    # Given a fresh store / When `amber import` reads the WACZ (the site is down)
    done = run_amber(env, "import", str(exported), "--tag", "imported")
    # Then every page became a snapshot
    assert done.returncode == 0, done.stderr
    assert "Imported 2 page(s)" in done.stdout
    # And importing it again adds nothing, unless --update
    again = run_amber(env, "import", str(exported))
    assert again.returncode == 0 and "Imported 0 page(s)" in again.stdout, again.stderr
    assert "2 duplicate" in again.stdout
    server = AmberServer(env=env).start()
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        ) as client:
            # When the fresh store is searched for words of the page's text
            found = client.get(
                "/api/v1/core/snapshots",
                params={"search": "lighthouses", "with_archiveresults": "true"},
            ).json()
            # Then the imported snapshot answers, with the capture's title, time and tags
            [item] = found["items"]
            rich = archive.rich
            assert (item["url"], item["title"], item["status"]) == (
                rich["url"],
                "Amber Rich Page",
                "succeeded",
            )
            assert item["tags"] == ["imported"]
            page_ts = listed[rich["url"]].ts
            assert page_ts is not None
            assert item["downloaded_at"].startswith(page_ts.strftime("%Y-%m-%dT%H:%M:%S"))
            results = {r["plugin"]: r for r in item["archiveresults"]}
            assert {p: results[p]["status"] for p in ("warc", "title", "text", "dom")} == {
                p: "succeeded" for p in ("warc", "title", "text", "dom")
            }
            # And the archived DOM is served from the fresh store
            dom = client.get(f"/archive/{item['timestamp']}/dom.html")
            assert dom.status_code == 200 and "Rich page" in dom.text
            warc_sha = results["warc"]["sha256"]
            # And the imported page replays in Amber: TimeGate, then the replay origin
            gate = client.get(f"/web/{rich['url']}", follow_redirects=False)
            assert gate.status_code == 302
            assert gate.headers["location"].endswith(f"/web/{page_ts:%Y%m%d%H%M%S}/{rich['url']}")
            prefix = f"{server.replay_url}/_/{item['id']}/mp_/"
            page = client.get(prefix + rich["url"])
            assert page.status_code == 200 and "Rich page" in page.text
            assert "/_amber/replay.js" in page.text
            data = client.get(prefix + archive.site.url("/api/data.json"))
            assert json.loads(data.content) == {"message": JSON_MESSAGE}
    finally:
        server.stop()
    # And the WARC's records are readable through the store's index (nothing was fetched)
    blobs = LocalBlobStore(tmp_path / "fresh" / "blobs")
    index = IndexCache(blobs).get(warc_sha)
    css = index.lookup(archive.site.url("/static/style.css"))
    assert css is not None
    with open_record(blobs, warc_sha, css) as record:
        assert record.content_stream().read() == CSS
    # And --update imports the pages once more
    more = run_amber(env, "import", str(exported), "--update")
    assert more.returncode == 0 and "Imported 2 page(s)" in more.stdout, more.stderr


def test_bare_warc_imports_its_seed_page(archive: Archive, tmp_path: Path) -> None:
    rich = archive.rich
    warc = tmp_path / "capture.warc.gz"
    with archive.client(archive.alice) as client:
        answer = _download(client, f"/archive/{rich['timestamp']}/warc/capture.warc.gz", warc)
        assert answer.status_code == 200
    env = amber_env(tmp_path / "fresh")
    # When Amber's own WARC is imported on its own
    done = run_amber(env, "import", str(warc))
    # Then its seed became the one page, with title and text read from the archived HTML
    assert done.returncode == 0, done.stderr
    assert "Imported 1 page(s)" in done.stdout and "(warc)" in done.stdout
    engine = db.make_engine(f"sqlite:///{tmp_path / 'fresh' / 'amber.sqlite3'}")
    with Session(engine) as session:
        [snapshot] = session.exec(select(Snapshot)).all()
    assert (snapshot.url, snapshot.title) == (rich["url"], "Amber Rich Page")
    blobs = LocalBlobStore(tmp_path / "fresh" / "blobs")
    results = _results(engine, snapshot.id)
    text = blobs.read(results["text"].output_files["text.txt"]["sha256"]).decode()
    assert "lighthouses" in text and results["text"].cmd_version.startswith("trafilatura")
    assert b"Rich page" in blobs.read(results["dom"].output_files["dom.html"]["sha256"])
    # When the same WARC, uncompressed, is imported with --update
    plain = tmp_path / "capture.warc"
    plain.write_bytes(gzip.decompress(warc.read_bytes()))
    again = run_amber(env, "import", str(plain), "--update")
    # Then it is recompressed record by record into a readable blob of its own
    assert again.returncode == 0 and "Imported 1 page(s)" in again.stdout, again.stderr
    with Session(engine) as session:
        newest = session.exec(select(Snapshot).where(col(Snapshot.id) != snapshot.id)).one()
    warc_sha = _results(engine, newest.id)["warc"].sha256
    assert warc_sha is not None
    entry = IndexCache(blobs).get(warc_sha).lookup(rich["url"])
    assert entry is not None and entry.status == 200
    engine.dispose()


def test_redirected_seed_imports_the_final_page(
    archive: Archive, tmp_path: Path, fresh: tuple[Engine, Principal]
) -> None:
    engine, principal = fresh
    redirect = archive.redirect
    warc = tmp_path / "redirect.warc.gz"
    with archive.client(archive.alice) as client:
        answer = _download(client, f"/archive/{redirect['timestamp']}/warc/capture.warc.gz", warc)
        assert answer.status_code == 200
    blobs = LocalBlobStore(tmp_path / "blobs")
    # When a capture that went through three redirects is imported
    summary = import_archive(
        warc, engine=engine, blobs=blobs, principal=principal, scratch=tmp_path / "tmp"
    )
    # Then the page keeps its URL and gets the final page's title and DOM
    [snapshot_id] = summary.snapshot_ids
    with Session(engine) as session:
        snapshot = session.get(Snapshot, snapshot_id)
    assert snapshot is not None
    assert (snapshot.url, snapshot.title) == (redirect["url"], "Final Destination")
    dom = _results(engine, snapshot_id)["dom"].output_files["dom.html"]
    assert b"arrived" in blobs.read(dom["sha256"])


@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Principal]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        url = pg.create_database(f"wacz_{time.time_ns()}")
    engine, principal = open_store(url, "importer", admin=False)
    yield engine, principal
    engine.dispose()


def _site_warc(path: Path, *, zstd_page: bool = False) -> None:
    """A small crawl as Browsertrix would write it: two pages and a stylesheet, no warcinfo
    naming a seed; `zstd_page` adds a page still encoded as the server sent it."""
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        pages = [
            ("http://example.org/tides", "Tide tables", "Spring tides and neap tides explained."),
            ("http://example.org/charts", "Old charts", "Charts of the estuary from 1890."),
        ]
        for url, title, words in pages:
            body = (
                f"<html><head><title>{title}</title></head><body><article>"
                f"<p>{words} " + "The harbour master keeps these records. " * 8 + "</p>"
                "</article></body></html>"
            ).encode()
            headers = [("Content-Type", "text/html; charset=utf-8")]
            writer.write_record(
                writer.create_warc_record(
                    url,
                    "response",
                    payload=io.BytesIO(body),
                    length=len(body),
                    http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
                )
            )
        if zstd_page:
            # warcio cannot decode zstd: the page must not get these bytes as its text
            body = b"(\xb5/\xfd" + bytes(range(200))
            writer.write_record(
                writer.create_warc_record(
                    "http://example.org/encoded",
                    "response",
                    payload=io.BytesIO(body),
                    length=len(body),
                    http_headers=StatusAndHeaders(
                        "200 OK",
                        [("Content-Type", "text/html"), ("Content-Encoding", "zstd")],
                        protocol="HTTP/1.1",
                    ),
                )
            )
        css = b"p { color: navy }"
        writer.write_record(
            writer.create_warc_record(
                "http://example.org/site.css",
                "response",
                payload=io.BytesIO(css),
                length=len(css),
                http_headers=StatusAndHeaders(
                    "200 OK", [("Content-Type", "text/css")], protocol="HTTP/1.1"
                ),
            )
        )


def test_py_wacz_archive_imports_with_its_page_list(
    fresh: tuple[Engine, Principal], tmp_path: Path
) -> None:
    engine, principal = fresh
    warc = tmp_path / "crawl.warc.gz"
    _site_warc(warc)
    wacz = tmp_path / "crawl.wacz"
    # Given a WACZ made by py-wacz (not by Amber), with detected pages and their text
    made = subprocess.run(
        [str(VENV_BIN / "wacz"), "create", "-o", str(wacz), "--detect-pages", "--text", str(warc)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    blobs = LocalBlobStore(tmp_path / "blobs")

    def run(**options: Any) -> Any:
        return import_archive(
            wacz, engine=engine, blobs=blobs, principal=principal, scratch=tmp_path / "t", **options
        )

    # When it is imported with a tag
    summary = run(tags=["harbour"])
    # Then each listed page is a searchable snapshot; the stylesheet is not a page
    assert (summary.kind, summary.imported, summary.problems) == ("wacz", 2, [])
    with Session(engine) as session:
        rows, total = query_snapshots(
            session, principal, SnapshotFilters(search="estuary"), limit=10, offset=0
        )
        assert total == 1 and rows[0].url == "http://example.org/charts"
        assert rows[0].title == "Old charts"
        tagged, _ = query_snapshots(
            session, principal, SnapshotFilters(tag="harbour"), limit=10, offset=0
        )
        assert {r.url for r in tagged} == {"http://example.org/tides", "http://example.org/charts"}
    # And a second import finds only duplicates (which get its tags); --update adds them again
    again = run(tags=["second"])
    assert (again.imported, again.duplicates) == (0, 2)
    with Session(engine) as session:
        _, retagged = query_snapshots(
            session, principal, SnapshotFilters(tag="second"), limit=10, offset=0
        )
    assert retagged == 2
    assert run(update=True).imported == 2


def test_bare_warc_without_a_seed_imports_its_html_documents(
    fresh: tuple[Engine, Principal], tmp_path: Path
) -> None:
    engine, principal = fresh
    warc = tmp_path / "crawl.warc.gz"
    _site_warc(warc, zstd_page=True)
    blobs = LocalBlobStore(tmp_path / "blobs")
    # When a WARC that names no seed is imported on its own
    summary = import_archive(
        warc, engine=engine, blobs=blobs, principal=principal, scratch=tmp_path / "t"
    )
    # Then each HTML document answered with 200 is a page, the stylesheet is not
    assert (summary.kind, summary.imported) == ("warc", 3)
    with Session(engine) as session:
        rows = session.exec(select(Snapshot).order_by(col(Snapshot.url))).all()
        assert [(r.url, r.title) for r in rows] == [
            ("http://example.org/charts", "Old charts"),
            ("http://example.org/encoded", None),
            ("http://example.org/tides", "Tide tables"),
        ]
        # And their text, extracted from the archived HTML, is searchable
        found, total = query_snapshots(
            session, principal, SnapshotFilters(search="estuary"), limit=10, offset=0
        )
        assert total == 1 and found[0].url == "http://example.org/charts"
    # And the page whose encoding cannot be decoded keeps its WARC but gets no text or DOM
    encoded = _results(engine, rows[1].id)
    assert encoded["warc"].status == "succeeded"
    assert (encoded["text"].status, encoded["dom"].status) == ("skipped", "skipped")


def test_broken_archives_fail_cleanly_and_store_nothing(
    fresh: tuple[Engine, Principal], tmp_path: Path
) -> None:
    engine, principal = fresh
    blobs = LocalBlobStore(tmp_path / "blobs")
    warc = tmp_path / "crawl.warc.gz"
    _site_warc(warc)
    not_wacz = tmp_path / "photos.zip"
    with zipfile.ZipFile(not_wacz, "w") as package:
        package.writestr("holiday.txt", "not an archive")
    tampered = tmp_path / "tampered.wacz"
    data = bytearray(warc.read_bytes())
    with zipfile.ZipFile(tampered, "w") as package:
        digest = hashlib.sha256(bytes(data)).hexdigest()
        data[-40] ^= 0xFF
        package.writestr("archive/data.warc.gz", bytes(data))
        resources = [
            {"name": "data.warc.gz", "path": "archive/data.warc.gz", "hash": f"sha256:{digest}"}
        ]
        package.writestr("datapackage.json", json.dumps({"resources": resources}))
    garbage = tmp_path / "garbage.warc.gz"
    garbage.write_bytes(gzip.compress(b"WARC/1.1\r\nthis is not a record\r\n\r\n") + b"\x00junk")
    truncated = tmp_path / "truncated.wacz"
    good = tmp_path / "good.wacz"
    with zipfile.ZipFile(good, "w") as package:
        package.write(warc, "archive/data.warc.gz")
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases = {
        not_wacz: "holds no archive/*.warc.gz",
        tampered: "does not match its hash",
        garbage: "not a readable WARC",
        truncated: "damaged zip",
    }
    for path, message in cases.items():
        # When each is imported / Then a clear error names the problem
        with pytest.raises(InvalidInput, match=re.escape(message)):
            import_archive(
                path, engine=engine, blobs=blobs, principal=principal, scratch=tmp_path / "t"
            )
    # And nothing was stored: no snapshot, no blob
    with Session(engine) as session:
        assert session.exec(select(Snapshot)).all() == []
    assert list(blobs.iter_hashes()) == []


def test_amber_import_of_a_broken_zip_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "archive.wacz"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    env = amber_env(tmp_path / "data")
    # When `amber import` is given a zip that is not a WACZ
    done = run_amber(env, "import", str(broken))
    # Then one red line, exit 2, no traceback
    assert done.returncode == 2
    assert "not a valid WACZ" in done.stderr and "Traceback" not in done.stderr


# --- the pieces --------------------------------------------------------------------


def test_archives_are_recognised_by_content() -> None:
    warc_head = b"WARC/1.1\r\nWARC-Type: warcinfo\r\n"
    assert detect_archive(b"PK\x03\x04rest") == "wacz"
    assert detect_archive(warc_head) == "warc"
    assert detect_archive(gzip.compress(warc_head)[:100]) == "warc"
    assert detect_archive(gzip.compress(b"<html>")) is None
    assert detect_archive(b"<!DOCTYPE NETSCAPE-Bookmark-file-1>") is None


def test_line_sorter_merges_runs_spilled_to_disk(tmp_path: Path) -> None:
    lines = [f"com,example)/{n % 97:03d} {n:014d} {{}}" for n in range(1000)]
    sorter = LineSorter(tmp_path, run_lines=64)
    for line in reversed(lines):
        sorter.add(line)
    assert list(sorter.sorted()) == sorted(lines)
    assert len(list(tmp_path.glob("run-*.txt"))) == 16


def test_page_lists_are_read_leniently() -> None:
    lines = [
        b'{"format": "json-pages-1.0", "id": "pages"}',
        b'{"url": "https://a.example/", "ts": "2024-05-01T12:00:00.123Z", "title": " A "}',
        b'{"url": "https://b.example/", "timestamp": "20240501120000", "text": "words"}',
        b"not json",
        b'{"title": "no url"}',
        b"",
    ]
    found = list(read_pages(lines, unit="pages.jsonl"))
    first, second = found[0], found[1]
    assert isinstance(first, Page) and first.title == "A" and first.ts is not None
    assert isinstance(second, Page) and second.text == "words"
    assert second.ts is not None and second.ts.isoformat() == "2024-05-01T12:00:00+00:00"
    assert [str(p) for p in found[2:]] == [
        "pages.jsonl 4: not valid JSON",
        "pages.jsonl 5: page has no url",
    ]
