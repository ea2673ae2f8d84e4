"""WACZ export and import speed and memory (a benchmark, not a test).

1. Fills a fresh embedded store with N captured-looking snapshots (a WARC each:
   the page, a stylesheet and a 60 kB image, plus the page's text), and one
   snapshot whose WARC holds a single large record (default 100 MB).
2. Exports them all as one WACZ with `build_wacz` and prints MB/s and the peak
   memory of the process, against baselines measured in the same run: copying
   the same WARC bytes into a plain stored zip (no index, no pages), and
   indexing them alone with cdxj-indexer.
3. Imports the WACZ into another fresh store with `import_archive` (text from
   pages.jsonl) and prints pages/s; then imports the N bare WARCs one by one
   (text extracted with trafilatura) and prints pages/s.

    .venv/bin/python bench/wacz.py [--snapshots N] [--big-mb M]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy.engine import Engine  # noqa: E402

from crawler import db  # noqa: E402
from crawler.auth import Principal, ensure_user, principal_for_user  # noqa: E402
from crawler.blobs import BlobStore, LocalBlobStore  # noqa: E402
from crawler.clock import utcnow  # noqa: E402
from crawler.models import ArchiveResult, ResultStatus, Snapshot, SnapshotStatus  # noqa: E402
from crawler.snapshot_query import SnapshotFilters  # noqa: E402
from crawler.wacz.export import build_wacz  # noqa: E402
from crawler.wacz.importer import import_archive  # noqa: E402
from crawler.wacz.selection import plan_export  # noqa: E402
from crawler.warcindex import build_index  # noqa: E402

IMAGE = os.urandom(60_000)
CSS = b"body { font-family: serif; } " * 40


def _response(writer: WARCWriter, url: str, body: bytes, mime: str) -> None:
    headers = StatusAndHeaders(
        "200 OK", [("Content-Type", mime), ("Content-Length", str(len(body)))], "HTTP/1.1"
    )
    record = writer.create_warc_record(
        url, "response", payload=io.BytesIO(body), length=len(body), http_headers=headers
    )
    writer.write_record(record)


def make_warc(path: Path, n: int) -> str:
    url = f"http://bench.example/article/{n}"
    words = " ".join(f"word{(n * 7 + i) % 997}" for i in range(400))
    html = (
        f"<html><head><title>Article {n}</title><link rel=stylesheet href=/s.css></head>"
        f"<body><article><h1>Article {n}</h1><p>{words}</p></article>"
        f"<img src=/img/{n}.png></body></html>"
    ).encode()
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        writer.write_record(
            writer.create_warcinfo_record(path.name, {"json-metadata": f'{{"seed": "{url}"}}'})
        )
        _response(writer, url, html, "text/html; charset=utf-8")
        _response(writer, "http://bench.example/s.css", CSS, "text/css")
        _response(writer, f"http://bench.example/img/{n}.png", IMAGE, "image/png")
    return url


def make_big_warc(path: Path, megabytes: int) -> str:
    """One record of `megabytes` random bytes (a video, say), written in chunks."""
    url = "http://bench.example/video.mp4"
    size = megabytes * 1024 * 1024

    class Random(io.RawIOBase):
        left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            n = min(len(buffer), self.left, 1024 * 1024)
            buffer[:n] = os.urandom(n)
            self.left -= n
            return n

    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        headers = StatusAndHeaders(
            "200 OK", [("Content-Type", "video/mp4"), ("Content-Length", str(size))], "HTTP/1.1"
        )
        record = writer.create_warc_record(
            url,
            "response",
            payload=io.BufferedReader(Random()),
            length=size,
            http_headers=headers,
        )
        writer.write_record(record)
    return url


def add_snapshot(
    session: object,
    blobs: BlobStore,
    principal: Principal,
    warc: Path,
    url: str,
    *,
    text: str,
    stamp: int,
) -> None:
    now = utcnow()
    snapshot = Snapshot(
        workspace_id=principal.default_workspace_id,
        created_by_id=principal.user_id,
        url=url,
        normalized_url=url,
        title=url.rsplit("/", 1)[-1],
        timestamp=f"{1_700_000_000 + stamp}.000000",
        status=SnapshotStatus.succeeded,
        downloaded_at=now,
    )
    session.add(snapshot)  # type: ignore[attr-defined]
    session.flush()  # type: ignore[attr-defined]
    ref = blobs.put_file(warc)
    text_ref = blobs.put_bytes(text.encode())
    for plugin, name, file_ref, mime in (
        ("warc", "warc/capture.warc.gz", ref, "application/warc"),
        ("text", "text.txt", text_ref, "text/plain"),
    ):
        files = {name: {"sha256": file_ref.sha256, "size": file_ref.size, "mimetype": mime}}
        session.add(  # type: ignore[attr-defined]
            ArchiveResult(
                snapshot_id=snapshot.id,
                created_by_id=principal.user_id,
                status=ResultStatus.succeeded,
                plugin=plugin,
                output_files=files,
                sha256=file_ref.sha256,
            )
        )


def fresh_store(root: Path) -> tuple[Engine, LocalBlobStore, Principal]:
    url = f"sqlite:///{root / 'amber.sqlite3'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, "bench", admin=True))
    return engine, LocalBlobStore(root / "blobs"), principal


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--snapshots", type=int, default=300)
    parser.add_argument("--big-mb", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-wacz-"))
    warcs = root / "warcs"
    warcs.mkdir()
    engine, blobs, principal = fresh_store(root / "store")
    started = time.perf_counter()
    paths: list[tuple[Path, str]] = []
    with db.session_scope(engine) as session:  # type: ignore[arg-type]
        for n in range(args.snapshots):
            path = warcs / f"{n}.warc.gz"
            url = make_warc(path, n)
            paths.append((path, url))
            add_snapshot(session, blobs, principal, path, url, text=f"Article {n}", stamp=n)
        big = warcs / "big.warc.gz"
        big_url = make_big_warc(big, args.big_mb)
        add_snapshot(session, blobs, principal, big, big_url, text="video", stamp=-1)
    total_bytes = sum(p.stat().st_size for p, _ in paths) + big.stat().st_size
    print(
        f"store: {args.snapshots + 1} snapshots, WARCs {total_bytes / 1e6:.1f} MB, "
        f"filled in {time.perf_counter() - started:.1f}s"
    )
    base_rss = peak_mb()

    # Baselines: the same bytes into a plain stored zip; indexing them alone.
    every = [p for p, _ in paths] + [big]
    started = time.perf_counter()
    with zipfile.ZipFile(root / "plain.zip", "w") as plain:
        for path in every:
            plain.write(path, f"archive/{path.name}", compress_type=zipfile.ZIP_STORED)
    copy_s = time.perf_counter() - started
    started = time.perf_counter()
    records = 0
    for path in every:
        with path.open("rb") as stream:
            records += len(build_index(stream))
    index_s = time.perf_counter() - started

    from sqlmodel import Session

    with Session(engine) as session:  # type: ignore[arg-type]
        plan = plan_export(session, principal, blobs=blobs, filters=SnapshotFilters())
    out = root / "export.wacz"
    started = time.perf_counter()
    with out.open("wb") as handle:
        for _step in build_wacz(plan, blobs, handle, scratch=root / "tmp"):
            pass
    export_s = time.perf_counter() - started
    export_rss = peak_mb()
    mb = total_bytes / 1e6
    print()
    print("| step | seconds | MB/s | note |")
    print("| --- | --- | --- | --- |")
    print(f"| baseline: WARCs into a stored zip | {copy_s:.2f} | {mb / copy_s:.0f} | |")
    print(
        f"| baseline: cdxj-indexer alone | {index_s:.2f} | {mb / index_s:.0f} | {records} records |"
    )
    print(
        f"| `build_wacz` (index + pages + zip) | {export_s:.2f} | {mb / export_s:.0f} | "
        f"peak RSS {export_rss:.0f} MB (before export {base_rss:.0f} MB) |"
    )

    engine2, blobs2, principal2 = fresh_store(root / "fresh")
    started = time.perf_counter()
    summary = import_archive(
        out, engine=engine2, blobs=blobs2, principal=principal2, scratch=root / "tmp"
    )
    wacz_s = time.perf_counter() - started
    print(
        f"| import of that WACZ (text from pages.jsonl) | {wacz_s:.2f} | {mb / wacz_s:.0f} | "
        f"{summary.imported} pages, {summary.imported / wacz_s:.0f} pages/s |"
    )
    engine3, blobs3, principal3 = fresh_store(root / "bare")
    started = time.perf_counter()
    count = 0
    for path, _url in paths:
        count += import_archive(
            path, engine=engine3, blobs=blobs3, principal=principal3, scratch=root / "tmp"
        ).imported
    bare_s = time.perf_counter() - started
    print(
        f"| import of {len(paths)} bare WARCs (trafilatura) | {bare_s:.2f} | | "
        f"{count} pages, {count / bare_s:.1f} pages/s |"
    )
    print(f"\npeak RSS of the whole run: {peak_mb():.0f} MB; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
