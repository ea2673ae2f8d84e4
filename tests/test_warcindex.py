"""The CDXJ index of a WARC: lookups by URL (exact, fuzzy query, POST) and ranged reads."""

from __future__ import annotations

import io
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.blobs import LocalBlobStore
from crawler.warcindex import IndexCache, build_index, open_record


def _warc(records: list[tuple[str, str, int, bytes, str]]) -> bytes:
    """A WARC of (method, url, status, body, mime) exchanges, request before response."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    for method, url, status, body, mime in records:
        response = writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=StatusAndHeaders(
                f"{status} OK",
                [("Content-Type", mime), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            ),
        )
        post = b'{"q": "tide"}' if method == "POST" else b""
        request = writer.create_warc_record(
            url,
            "request",
            payload=io.BytesIO(post),
            length=len(post),
            http_headers=StatusAndHeaders(
                f"{method} /{url.split('/', 3)[-1]} HTTP/1.1",
                [("Host", "example.org"), ("Content-Type", "application/json")],
                is_http_request=True,
            ),
            warc_headers_dict={
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID")
            },
        )
        writer.write_record(response)
        writer.write_record(request)
    return out.getvalue()


def test_lookup_exact_fuzzy_and_ranged_read(tmp_path: Path) -> None:
    # Given a WARC with a page, a cache-busted JSON request, a redirect and a POST
    data = _warc(
        [
            ("GET", "http://example.org/", 200, b"<html>home</html>", "text/html"),
            ("GET", "http://example.org/api?v=2&_=1712345", 200, b'{"a": 1}', "application/json"),
            ("GET", "http://example.org/old", 301, b"", "text/html"),
            ("POST", "http://example.org/search", 200, b'{"hits": 3}', "application/json"),
        ]
    )
    blobs = LocalBlobStore(tmp_path / "blobs")
    ref = blobs.put_bytes(data)
    # When it is indexed through the cache
    index = IndexCache(blobs).get(ref.sha256)
    # Then every response is found by its URL, and reading its range gives its body
    home = index.lookup("http://example.org/")
    assert home is not None and home.status == 200 and home.mime == "text/html"
    with open_record(blobs, ref.sha256, home) as record:
        assert record.content_stream().read() == b"<html>home</html>"
    # And a query that differs only in a cache-busting parameter still finds the JSON
    fuzzy = index.lookup("http://example.org/api?v=2&_=999")
    assert fuzzy is not None and fuzzy.url.endswith("_=1712345")
    # And the redirect keeps its status, an unknown path finds nothing
    old = index.lookup("http://example.org/old")
    assert old is not None and old.status == 301
    assert index.lookup("http://example.org/missing") is None
    # And the POST is indexed as a POST, not served to a GET
    post = index.lookup("http://example.org/search", method="POST")
    assert post is not None and post.method == "POST"
    with open_record(blobs, ref.sha256, post) as record:
        assert record.content_stream().read() == b'{"hits": 3}'
    assert index.lookup("http://example.org/search") is None


def test_index_of_a_plain_stream_matches_the_cache(tmp_path: Path) -> None:
    # Given the same WARC indexed directly and through the cache
    data = _warc([("GET", "http://example.org/a.css", 200, b"a{}", "text/css")])
    blobs = LocalBlobStore(tmp_path / "blobs")
    ref = blobs.put_bytes(data)
    # Then both give the same single entry, with a sha1 payload digest
    direct = build_index(io.BytesIO(data))
    cached = IndexCache(blobs).get(ref.sha256)
    assert [e.urlkey for e in direct.entries] == [e.urlkey for e in cached.entries]
    assert len(direct) == 1 and direct.entries[0].digest.startswith("sha1:")
