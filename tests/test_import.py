# ruff: noqa: E501  (the sample exports keep the long lines browsers write)
"""Bulk import: every format parsed from real-shaped exports, bad input reported by line,
the batched writer's dedup and index-only rules on real SQLite and PostgreSQL stores,
`amber import` / `amber update` end to end, and `POST /api/v1/cli/add` with a parser."""

from __future__ import annotations

import gzip
import io
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from crawler import db
from crawler import snapshot_states as states
from crawler import snapshots as snaps
from crawler.auth import Principal, ensure_user, principal_for_user
from crawler.errors import InvalidInput
from crawler.importers import (
    ImportEntry,
    ParseProblem,
    Source,
    detect_format,
    iter_entries,
    source_from_bytes,
)
from crawler.importers.update import select_for_update
from crawler.importers.writer import BulkWriter, ImportSummary
from crawler.models import Snapshot, SnapshotStatus
from tests.conftest import TokenFactory, amber_env, run_amber, web_sign_in
from tests.services import PostgresServer
from tests.site import TestSite

CHROME = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file.
     It will be read and overwritten.
     DO NOT EDIT! -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks</H1>
<DL><p>
    <DT><H3 ADD_DATE="1700000000" LAST_MODIFIED="1700000001" PERSONAL_TOOLBAR_FOLDER="true">Bookmarks bar</H3>
    <DL><p>
        <DT><A HREF="https://example.com/toolbar" ADD_DATE="1700000100" ICON="data:image/png;base64,iVBORw0KGgo=">On the toolbar</A>
        <DT><H3 ADD_DATE="1700000000" LAST_MODIFIED="0">Recipes</H3>
        <DL><p>
            <DT><A HREF="https://food.example.com/soup?utm_source=newsletter" ADD_DATE="1700000200">Soup &amp; bread</A>
            <DT><H3 ADD_DATE="1700000000">Desserts</H3>
            <DL><p>
                <DT><A HREF="https://food.example.com/cake" ADD_DATE="1700000300">Cake</A>
            </DL><p>
        </DL><p>
    </DL><p>
    <DT><A HREF="javascript:alert(1)" ADD_DATE="1700000400">A bookmarklet</A>
    <DT><A HREF="https://example.com/other" ADD_DATE="1700000500">Other bookmark</A>
</DL><p>
"""

FIREFOX = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'none'; img-src data: *; object-src 'none'"></meta>
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks Menu</H1>
<DL><p>
    <DT><H3 ADD_DATE="1690000000" LAST_MODIFIED="1690000001">Mozilla Firefox</H3>
    <DL><p>
        <DT><A HREF="https://www.mozilla.org/en-US/firefox/central/" ADD_DATE="1690000002" LAST_MODIFIED="1690000003" ICON_URI="fake-favicon-uri:https://www.mozilla.org/en-US/firefox/central/" TAGS="browser,mozilla">Getting Started</A>
    </DL><p>
    <DT><H3 ADD_DATE="1690000000" LAST_MODIFIED="1690000001" PERSONAL_TOOLBAR_FOLDER="true">Bookmarks Toolbar</H3>
    <DL><p>
        <DT><A HREF="place:sort=8&maxResults=10" ADD_DATE="1690000004">Most Visited</A>
        <DT><A HREF="https://news.example.org/" ADD_DATE="1690000005">News</A>
        <DD>A description line Firefox writes after a bookmark
    </DL><p>
    <DT><H3 ADD_DATE="1690000000" UNFILED_BOOKMARKS_FOLDER="true">Other Bookmarks</H3>
    <DL><p>
        <DT><A HREF="https://unfiled.example.org/">Unfiled</A>
    </DL><p>
</DL>
"""

SAFARI = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
	<HTML>
	<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
	<Title>Bookmarks</Title>
	<H1>Bookmarks</H1>
	<DT><H3 FOLDED>Favorites</H3>
	<DL><p>
		<DT><A HREF="https://www.apple.com/">Apple</A>
	</DL><p>
	<DT><H3 FOLDED id="com.apple.ReadingList">Reading List</H3>
	<DL><p>
		<DT><A HREF="https://longread.example.com/story">A long read</A>
	</DL><p>
</HTML>
"""

EDGE = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks</H1>
<DL><p>
    <DT><H3 ADD_DATE="1710000000" LAST_MODIFIED="1710000000" PERSONAL_TOOLBAR_FOLDER="true">Favorites bar</H3>
    <DL><p>
        <DT><H3 ADD_DATE="1710000000" LAST_MODIFIED="1710000000">Work</H3>
        <DL><p>
            <DT><A HREF="https://intranet.example.com/" ADD_DATE="1710000001">Intranet</A>
        </DL><p>
    </DL><p>
</DL><p>
"""

POCKET_HTML = """<!DOCTYPE html>
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<title>Pocket Export</title>
</head>
<body>
<h1>Unread</h1>
<ul>
<li><a href="https://article.example.com/1" time_added="1583445436" tags="read-later,tech">First article</a></li>
<li><a href="https://article.example.com/2" time_added="1583445437" tags="">Second article</a></li>
</ul>

<h1>Read Archive</h1>
<ul>
<li><a href="https://article.example.com/3" time_added="1583445438" tags="old">Third article</a></li>
</ul>
</body>
</html>
"""

POCKET_CSV = """title,url,time_added,tags,status
First article,https://article.example.com/1,1583445436,read-later|tech,unread
"Quoted, with comma",https://article.example.com/2,1583445437,,archive
No URL here,,1583445438,,unread
"""

PINBOARD = [
    {
        "href": "https://pin.example.com/a",
        "description": "Pinned A",
        "extended": "",
        "meta": "m",
        "hash": "h1",
        "time": "2021-03-04T05:06:07Z",
        "shared": "no",
        "toread": "yes",
        "tags": "python web",
    },
    {
        "href": "https://pin.example.com/b",
        "description": "Pinned B",
        "hash": "h2",
        "time": "2021-03-05T05:06:07Z",
        "shared": "yes",
        "toread": "no",
        "tags": "",
    },
]

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Blog</title><link>https://blog.example.com/</link>
<item><title>Post one</title><link>https://blog.example.com/1</link>
<pubDate>Mon, 06 Sep 2021 16:45:00 +0000</pubDate><category>essays</category></item>
<item><title>No link at all</title><description>nothing</description></item>
<item><title>Post two</title><link>https://blog.example.com/2</link></item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom feed</title>
<entry><title>Atom entry</title><link href="https://atom.example.com/e1"/>
<id>urn:uuid:1</id><updated>2022-01-02T03:04:05Z</updated><category term="atom-tag"/></entry>
</feed>
"""

FIREFOX_JSON = {
    "guid": "root________",
    "title": "",
    "root": "placesRoot",
    "children": [
        {
            "guid": "menu________",
            "title": "menu",
            "root": "bookmarksMenuFolder",
            "children": [
                {
                    "title": "Reading",
                    "children": [
                        {
                            "title": "An essay",
                            "uri": "https://essay.example.com/",
                            "dateAdded": 1650000000000000,
                            "tags": "longform",
                        }
                    ],
                }
            ],
        }
    ],
}


def parse(text: str | bytes, parser: str = "auto") -> list[ImportEntry | ParseProblem]:
    data = text.encode() if isinstance(text, str) else text
    return list(iter_entries(source_from_bytes(data), parser))


def entries(items: list[ImportEntry | ParseProblem]) -> list[ImportEntry]:
    return [i for i in items if isinstance(i, ImportEntry)]


def problems(items: list[ImportEntry | ParseProblem]) -> list[ParseProblem]:
    return [i for i in items if isinstance(i, ParseProblem)]


# --- formats ---------------------------------------------------------------------------


def test_chrome_export_folders_become_tags_and_add_date_bookmarked_at() -> None:
    # Given Chrome's export with nested folders under the bookmarks bar
    # When it is parsed
    found = entries(parse(CHROME))
    by_url = {e.url: e for e in found}
    # Then folder names (not the browser's own "Bookmarks bar") are tags, nested in order
    assert by_url["https://example.com/toolbar"].tags == ()
    assert by_url["https://food.example.com/soup?utm_source=newsletter"].tags == ("Recipes",)
    assert by_url["https://food.example.com/cake"].tags == ("Recipes", "Desserts")
    assert by_url["https://example.com/other"].tags == ()
    # And titles are unescaped, ADD_DATE becomes bookmarked_at
    assert by_url["https://food.example.com/soup?utm_source=newsletter"].title == "Soup & bread"
    assert by_url["https://food.example.com/cake"].bookmarked_at == datetime.fromtimestamp(
        1700000300, UTC
    )
    # And each entry knows its line
    assert by_url["https://food.example.com/cake"].line == 17


def test_firefox_export_tags_attribute_and_special_folders() -> None:
    # Given Firefox's export with TAGS, a place: query, DD descriptions and special roots
    items = parse(FIREFOX)
    found = {e.url: e for e in entries(items)}
    # Then TAGS add to the folder tag, browser roots are not tags
    assert found["https://www.mozilla.org/en-US/firefox/central/"].tags == (
        "Mozilla Firefox",
        "browser",
        "mozilla",
    )
    assert found["https://news.example.org/"].tags == ()
    assert found["https://unfiled.example.org/"].tags == ()
    # And the place: pseudo-URL is still yielded (the writer refuses it with its line)
    assert "place:sort=8&maxResults=10" in found


def test_safari_and_edge_exports() -> None:
    # Given Safari's (tab-indented, FOLDED, Reading List) and Edge's exports
    safari = {e.url: e for e in entries(parse(SAFARI))}
    edge = {e.url: e for e in entries(parse(EDGE))}
    # Then Safari's Favorites is a tag-less root but Reading List is a real folder
    assert (
        safari["https://www.apple.com/"].tags == ("Favorites",)
        or safari["https://www.apple.com/"].tags == ()
    )
    assert safari["https://longread.example.com/story"].tags == ("Reading List",)
    # And Edge's favorites bar is a root, its sub-folder a tag
    assert edge["https://intranet.example.com/"].tags == ("Work",)


def test_pocket_html_and_csv() -> None:
    # Given both Pocket export formats
    html = {e.url: e for e in entries(parse(POCKET_HTML))}
    csv_items = parse(POCKET_CSV)
    csv = {e.url: e for e in entries(csv_items)}
    # Then tags and time_added come through from each
    assert html["https://article.example.com/1"].tags == ("read-later", "tech")
    assert html["https://article.example.com/3"].bookmarked_at == datetime.fromtimestamp(
        1583445438, UTC
    )
    assert csv["https://article.example.com/1"].tags == ("read-later", "tech")
    assert csv["https://article.example.com/2"].title == "Quoted, with comma"
    # And the row without a URL is reported with its line
    assert [(p.line, p.message) for p in problems(csv_items)] == [(4, "row has no URL")]


def test_pinboard_json_and_generic_json_array_and_jsonl() -> None:
    # Given Pinboard's export, a generic JSON array and JSON Lines
    pinboard = entries(parse(json.dumps(PINBOARD, indent=1)))
    array = entries(parse(json.dumps([{"url": "https://j.example.com/1", "tags": ["a", "b"]}])))
    lines = parse(
        '{"url": "https://l.example.com/1", "title": "One", "tags": "x, y"}\n'
        "\n"
        '{"url": "https://l.example.com/2", "bookmarked_at": "2020-01-02T00:00:00Z"}\n'
        "{not json}\n"
        '{"title": "no url"}\n'
        '["not", "an object"]\n'
    )
    # Then each yields its URLs with Pinboard's space-separated tags and times
    assert [e.url for e in pinboard] == ["https://pin.example.com/a", "https://pin.example.com/b"]
    assert pinboard[0].tags == ("python", "web") and pinboard[0].title == "Pinned A"
    assert pinboard[0].bookmarked_at == datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert pinboard[1].line == 13
    assert array[0].tags == ("a", "b")
    assert [e.url for e in entries(lines)] == ["https://l.example.com/1", "https://l.example.com/2"]
    assert entries(lines)[0].tags == ("x", "y")
    # And bad lines are reported by number
    assert [p.line for p in problems(lines)] == [4, 5, 6]
    assert "malformed JSON" in problems(lines)[0].message


def test_firefox_json_backup_is_walked_as_a_tree() -> None:
    # Given Firefox's JSON backup (nested children, uri, dateAdded in microseconds)
    found = entries(parse(json.dumps(FIREFOX_JSON)))
    # Then the bookmark carries its folder and own tags and its date
    assert [(e.url, e.tags) for e in found] == [
        ("https://essay.example.com/", ("Reading", "longform"))
    ]
    assert found[0].bookmarked_at == datetime.fromtimestamp(1650000000, UTC)


def test_rss_and_atom_feeds() -> None:
    # Given an RSS 2.0 feed with an item lacking a link, and an Atom feed
    rss = parse(RSS)
    atom = entries(parse(ATOM))
    # Then items become entries with categories as tags and dates
    assert [e.url for e in entries(rss)] == [
        "https://blog.example.com/1",
        "https://blog.example.com/2",
    ]
    assert entries(rss)[0].tags == ("essays",)
    assert entries(rss)[0].bookmarked_at == datetime(2021, 9, 6, 16, 45, tzinfo=UTC)
    # And the link-less item is reported by its position in the feed
    assert [str(p) for p in problems(rss)] == ["entry 2: feed entry has no link"]
    assert atom[0].url == "https://atom.example.com/e1" and atom[0].tags == ("atom-tag",)


def test_plain_text_finds_urls_anywhere() -> None:
    # Given prose, Markdown and a URL list mixed together
    text = (
        "https://plain.example.com/1\n"
        "See (https://wiki.example.org/Foo_(bar)) and https://a.example.com/x.\n"
        "[link](https://md.example.com/page) <https://angle.example.com/>\n"
        "just some prose without links\n"
        "example.com/no-scheme\n"
        "ftp://files.example.com/f\n"
        "# a comment\n"
    )
    items = parse(text)
    # Then every http(s) URL is found with trailing punctuation trimmed
    assert [e.url for e in entries(items)] == [
        "https://plain.example.com/1",
        "https://wiki.example.org/Foo_(bar)",
        "https://a.example.com/x",
        "https://md.example.com/page",
        "https://angle.example.com/",
    ]
    # And single-word non-URLs and other schemes are reported, prose is not
    assert [(p.line, p.message.split(" (")[0].split(",")[0]) for p in problems(items)] == [
        (5, "not a URL"),
        (6, "only http and https URLs can be archived"),
    ]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (CHROME, "netscape"),
        (FIREFOX, "netscape"),
        (SAFARI, "netscape"),
        (POCKET_HTML, "pocket"),
        (POCKET_CSV, "pocket"),
        (json.dumps(PINBOARD), "pinboard"),
        ('[{"url": "https://x.example.com"}]', "jsonl"),
        ('{"url": "https://x.example.com"}\n', "jsonl"),
        (RSS, "rss"),
        (ATOM, "rss"),
        ("https://x.example.com\nhttps://y.example.com\n", "text"),
        ("<html><body><a href='https://x.example.com'>x</a></body></html>", "netscape"),
    ],
)
def test_auto_detects_each_format(head: str, expected: str) -> None:
    # Given the start of a file / When its format is detected / Then it is the right one
    assert detect_format(head) == expected


# --- bad input -------------------------------------------------------------------------


def test_binary_file_is_refused_clearly() -> None:
    # Given a PNG (binary, with NUL bytes)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10
    # When it is opened for import / Then a clear InvalidInput, not a crash
    with pytest.raises(InvalidInput, match="binary"):
        Source(io.BytesIO(png))


def test_latin1_file_is_decoded_and_utf16_bom_respected() -> None:
    # Given a windows-1252 URL list with accented titles, and a UTF-16 one with a BOM
    latin = "https://caf\u00e9.example.com/men\u00fc \u2013 caf\u00e9 cr\u00e8me br\u00fbl\u00e9e\n".encode(
        "cp1252"
    )
    utf16 = "https://u16.example.com/a\n".encode("utf-16")
    # When parsed
    found_latin = entries(parse(latin * 3))
    found_16 = entries(parse(utf16))
    # Then both decode to the right characters
    assert found_latin[0].url == "https://caf\u00e9.example.com/men\u00fc"
    assert found_16[0].url == "https://u16.example.com/a"


def test_invalid_utf8_in_the_middle_is_reported_on_its_line() -> None:
    # Given a UTF-8 list (long enough that sniffing sees only valid UTF-8) with one bad line
    good = "".join(f"https://ok.example.com/{i}\n" for i in range(4000)).encode()
    data = good + b"https://bad.example.com/\xff\xfe\n" + b"https://ok.example.com/last\n"
    items = parse(data)
    # Then the bad line is a problem with its number; the rest import
    assert [p.line for p in problems(items)] == [4001]
    assert "not valid utf-8" in problems(items)[0].message
    assert len(entries(items)) == 4001


def test_truncated_json_array_and_garbage_feed_are_reported() -> None:
    # Given a JSON array cut off mid-object, and a "feed" that is not XML
    cut = parse('[{"url": "https://a.example.com/"},\n {"url": "https://b.exa', "pinboard")
    feed = parse("this is not a feed <<<", "rss")
    # Then the good element survives and the breakage is named with a line
    assert [e.url for e in entries(cut)] == ["https://a.example.com/"]
    assert problems(cut)[0].line == 2 and "malformed JSON" in problems(cut)[0].message
    assert len(problems(feed)) == 1 and entries(feed) == []


def test_malformed_netscape_html_does_not_lose_later_bookmarks() -> None:
    # Given HTML with an unclosed anchor, an anchor without HREF and stray tags
    html = (
        "<DL><p><DT><A HREF='https://one.example.com/'>one\n"
        "<DT><A>no href</A>\n"
        "<DT><A HREF='https://two.example.com/'>two</A></b></i></DL></DL></DL>\n"
        "<DT><A HREF='https://three.example.com/'>three</A>\n"
    )
    items = parse(html, "netscape")
    # Then the good ones come through and the bad one is reported on line 2
    assert [e.url for e in entries(items)] == [
        "https://one.example.com/",
        "https://two.example.com/",
        "https://three.example.com/",
    ]
    assert [(p.line, p.message) for p in problems(items)] == [(2, "bookmark has no HREF")]


def test_gzip_input_is_read_transparently() -> None:
    # Given a gzipped URL list / When parsed / Then its URLs come out
    data = gzip.compress(b"https://gz.example.com/1\nhttps://gz.example.com/2\n")
    assert [e.url for e in entries(parse(data))] == [
        "https://gz.example.com/1",
        "https://gz.example.com/2",
    ]


def test_unknown_parser_name_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="unknown parser"):
        parse("https://x.example.com", "bogus")


# --- the writer on real stores ---------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Principal]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        url = pg.create_database(f"import_{request.node.name[-20:].strip('[]-')}_{time.time_ns()}")
    engine, principal = open_store(url, "importer", admin=False)
    yield engine, principal
    engine.dispose()


def open_store(url: str, user: str, *, admin: bool) -> tuple[Engine, Principal]:
    """A migrated store and a principal for `user` in it."""
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.session_scope(engine) as session:
        principal = principal_for_user(session, ensure_user(session, user, admin=admin))
    return engine, principal


def write(engine: Engine, principal: Principal, text: str, **options: object) -> ImportSummary:
    with Session(engine, expire_on_commit=False) as session:
        writer = BulkWriter(session, principal=principal, batch_size=3, **options)  # type: ignore[arg-type]
        writer.add_all(iter_entries(source_from_bytes(text.encode())))
        return writer.finish()


def test_writer_dedups_within_file_and_against_archive(store: tuple[Engine, Principal]) -> None:
    engine, principal = store
    # Given a file where one URL appears three times in different spellings (across batches)
    text = (
        "https://dup.example.com/a?utm_source=x\n"
        "https://other.example.com/\n"
        "https://x.example.com/1\nhttps://x.example.com/2\n"
        "HTTPS://DUP.example.com:443/a#frag\n"
        "https://dup.example.com/a\n"
        "not-a-url\n"
    )
    # When it is imported index-only
    first = write(engine, principal, text, index_only=True)
    # Then one snapshot per distinct URL, the rest counted as duplicates or invalid
    assert (first.imported, first.duplicates, first.invalid) == (4, 2, 1)
    assert first.problems[0].line == 7
    # And importing it again adds nothing: every URL is already archived
    again = write(engine, principal, text, index_only=True)
    assert (again.imported, again.duplicates, again.invalid) == (0, 6, 1)
    with Session(engine) as session:
        rows = session.exec(
            select(Snapshot).where(Snapshot.workspace_id == principal.default_workspace_id)
        ).all()
    # And timestamps are unique, rows are queued with retry_at NULL (index-only)
    assert len(rows) == 4
    assert len({r.timestamp for r in rows}) == 4
    assert all(r.status == SnapshotStatus.queued and r.retry_at is None for r in rows)
    # And --update stores a fresh snapshot for URLs already archived
    updated = write(engine, principal, "https://dup.example.com/a\n", index_only=True, update=True)
    assert (updated.imported, updated.duplicates) == (1, 0)


def test_reimporting_a_failed_url_retries_it(store: tuple[Engine, Principal]) -> None:
    engine, principal = store
    # Given two imported URLs whose captures ended, one of them failed
    text = "https://ok.example.com/\nhttps://bad.example.com/\n"
    write(engine, principal, text)
    with db.session_scope(engine) as session:
        for row in session.exec(select(Snapshot)).all():
            failed = row.url == "https://bad.example.com/"
            row.status = SnapshotStatus.failed if failed else SnapshotStatus.succeeded
            row.retry_at = None
            session.add(row)
    # When the file is imported index-only, Then nothing is queued: both are duplicates
    listed = write(engine, principal, text, index_only=True)
    assert (listed.imported, listed.retried, listed.duplicates, listed.queued) == (0, 0, 2, 0)
    # When it is imported again (the failed URL twice, in another spelling)
    again = write(engine, principal, text + "https://BAD.example.com/#again\n")
    # Then the failed URL is retried (queued again, due for capture), not counted a duplicate
    assert (again.imported, again.retried, again.duplicates, again.queued) == (0, 1, 2, 1)
    assert again.seen == 3
    with Session(engine) as session:
        rows = {r.url: r for r in session.exec(select(Snapshot)).all()}
    assert len(rows) == 2
    assert rows["https://bad.example.com/"].status == SnapshotStatus.queued
    assert rows["https://bad.example.com/"].retry_at is not None
    assert rows["https://ok.example.com/"].status == SnapshotStatus.succeeded


def test_writer_tags_new_and_existing_snapshots(store: tuple[Engine, Principal]) -> None:
    engine, principal = store
    # Given an import with per-entry tags plus a tag for the whole import
    html = (
        "<DL><DT><H3>Folder</H3><DL><DT><A HREF='https://t.example.com/1'>one</A></DL>"
        "<DT><A HREF='https://t.example.com/2' TAGS='x'>two</A>"
        "<DT><A HREF='https://t.example.com/1' TAGS='later'>one again</A></DL>"
    )
    summary = write(engine, principal, html, tags=("batch",), index_only=True, keep_ids=True)
    # When the snapshots' tags are read back
    with Session(engine) as session:
        tags = snaps.snapshot_tags(session, summary.snapshot_ids)
    # Then each carries its folder/own tags, the import tag, and the duplicate's extra tag
    assert sorted(tags.values()) == [["Folder", "batch", "later"], ["batch", "x"]]


def test_index_only_snapshots_are_never_delivered_until_updated(
    store: tuple[Engine, Principal],
) -> None:
    engine, principal = store
    # Given index-only snapshots (queued, retry_at NULL) and one ordinary queued snapshot
    write(
        engine, principal, "https://io.example.com/1\nhttps://io.example.com/2\n", index_only=True
    )
    queued = write(engine, principal, "https://q.example.com/\n", keep_ids=True, redeliver_after=0)
    far_future = datetime.now(UTC) + timedelta(days=3650)
    # When the reconciler looks for work, even ten years from now
    with db.session_scope(engine) as session:
        due = snaps.due_for_delivery(session, now=far_future)
    # Then only the ordinary queued snapshot is due; index-only ones are skipped
    assert due == queued.snapshot_ids
    # And after `amber update` marks them, they are due like any queued work
    with db.session_scope(engine) as session:
        ids = select_for_update(session, workspace_ids=None)
        assert len(ids) == 2
        assert states.requeue(session, ids, redeliver_after=0) == 2
    with db.session_scope(engine) as session:
        due = snaps.due_for_delivery(session, now=far_future)
    assert sorted(due) == sorted([*ids, *queued.snapshot_ids])


def test_update_refuses_unknown_or_sealed_status(store: tuple[Engine, Principal]) -> None:
    engine, _ = store
    with Session(engine) as session, pytest.raises(InvalidInput, match="cannot update"):
        select_for_update(session, workspace_ids=None, status="sealed")


def test_large_messy_file_streams_in_one_pass(tmp_path: Path) -> None:
    # Given a 120,000-line URL list where every tenth line is garbage
    engine, principal = open_store(f"sqlite:///{tmp_path / 'big.sqlite3'}", "bulk", admin=True)
    lines = (
        f"https://host{i % 997}.example.com/p/{i}\n" if i % 10 else f"garbage line {i}\n"
        for i in range(120_000)
    )
    data = "".join(lines).encode()
    # When it is imported
    started = time.monotonic()
    with Session(engine) as session:
        writer = BulkWriter(session, principal=principal, index_only=True)
        writer.add_all(iter_entries(Source(io.BytesIO(data))))
        summary = writer.finish()
    elapsed = time.monotonic() - started
    # Then every good line is stored, every bad line counted (prose lines are skipped quietly)
    assert summary.imported == 108_000
    with Session(engine) as session:
        assert len(session.exec(select(Snapshot.id)).all()) == 108_000
    # And it took seconds, not minutes (a generous bound for a busy CI machine)
    assert elapsed < 90, elapsed
    engine.dispose()


# --- the CLI ---------------------------------------------------------------------------


def test_amber_import_cli_end_to_end(tmp_path: Path) -> None:
    env = amber_env(tmp_path / "data")
    export = tmp_path / "bookmarks.html"
    export.write_text(CHROME, encoding="utf-8")
    # Given a Chrome export / When `amber import --index-only --tag` runs
    done = run_amber(env, "import", str(export), "--index-only", "--tag", "mine", timeout=120)
    # Then it reports what it stored and the skipped bookmarklet with its line
    assert done.returncode == 0, done.stderr
    assert "Imported 4 new URLs" in done.stdout and "1 invalid" in done.stdout
    assert "line 21:" in done.stderr and "only http and https" in done.stderr
    # And a second import of the same file plus stdin finds only duplicates
    again = run_amber(env, "import", "-", "--index-only", input_text=CHROME)
    assert again.returncode == 0, again.stderr
    assert "Imported 0 new URLs" in again.stdout and "4 duplicate" in again.stdout
    # And `amber search` finds them by folder tag
    found = run_amber(env, "search", "Desserts")
    assert found.returncode == 0, found.stderr
    assert "https://food.example.com/cake" in found.stdout
    # And `amber update --no-wait` queues them for capture by `amber serve`
    queued = run_amber(env, "update", "--tag", "Recipes", "--no-wait")
    assert queued.returncode == 0, queued.stderr
    assert "2 snapshot(s) queued for capture" in queued.stdout


def test_amber_import_retries_urls_whose_capture_failed(tmp_path: Path, site: TestSite) -> None:
    env = amber_env(tmp_path / "data")
    export = tmp_path / "urls.txt"
    good, bad = site.url("/final.html?imp=retry"), site.url("/loop?imp=retry")
    export.write_text(f"{good}\n{bad}\n", encoding="utf-8")
    # Given an import whose second URL fails (a redirect loop) after a real capture
    first = run_amber(env, "import", str(export), timeout=180)
    assert "Imported 2 new URLs" in first.stdout, first.stdout + first.stderr
    assert "1 failed" in first.stdout and "1 succeeded" in first.stdout
    before = dict(sqlite_rows(env, "select url, downloaded_at from snapshot"))
    # When the same file is imported again
    again = run_amber(env, "import", str(export), timeout=180)
    # Then the failed URL is reported as retried, not as a duplicate, and captured again
    said = " ".join(again.stdout.split())  # rich wraps at the terminal's width
    assert "Imported 0 new URLs" in said, again.stdout + again.stderr
    assert "1 retried (failed before), 1 duplicate, 0 invalid" in said
    after = dict(sqlite_rows(env, "select url, downloaded_at from snapshot"))
    assert len(after) == 2 and after[bad] > before[bad]
    assert after[good] == before[good]


def sqlite_rows(env: dict[str, str], query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(Path(env["AMBER_DATA_DIR"]) / "amber.sqlite3") as conn:
        return conn.execute(query).fetchall()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01\x02binary\x00" * 50, "binary"),
        (None, "no such file"),
    ],
)
def test_amber_import_bad_files_fail_cleanly(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    env = amber_env(tmp_path / "data")
    target = tmp_path / "input.bin"
    if content is not None:
        target.write_bytes(content)
    # When importing a binary or missing file / Then one red line and exit 2, no traceback
    done = run_amber(env, "import", str(target), "--index-only")
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_amber_import_of_nothing_usable_exits_1(tmp_path: Path) -> None:
    env = amber_env(tmp_path / "data")
    done = run_amber(env, "import", "-", "--index-only", input_text="not-a-url\nftp://x/y\n")
    assert done.returncode == 1
    assert "line 1:" in done.stderr and "line 2:" in done.stderr
    assert "no URLs found" in done.stderr


# --- the API ---------------------------------------------------------------------------


def test_cli_add_with_parser_over_http(api_server: object, make_token: TokenFactory) -> None:
    token = make_token(f"importer-{time.time_ns()}")
    base = api_server.url  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {token}"}
    # Given a Pocket export sent as the `urls` text with parser=pocket and index_only
    response = httpx.post(
        f"{base}/api/v1/cli/add",
        json={"urls": POCKET_HTML, "parser": "pocket", "tag": "api", "index_only": True},
        headers=headers,
        timeout=30,
    )
    # Then every article is stored, index-only, with its tags
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["num_snapshots"] == 3 and body["queued"] == 0 and body["invalid"] == 0
    listed = httpx.get(
        f"{base}/api/v1/core/snapshots", params={"tag": "read-later"}, headers=headers
    ).json()
    assert [s["url"] for s in listed["items"]] == ["https://article.example.com/1"]
    assert listed["items"][0]["status"] == "queued" and listed["items"][0]["retry_at"] is None
    assert listed["items"][0]["tags"] == ["api", "read-later", "tech"]
    # And free text with URLs in prose is parsed automatically; bad lines are listed
    prose = httpx.post(
        f"{base}/api/v1/cli/add",
        json={
            "urls": "read https://prose.example.com/a today\nexample.org\n",
            "index_only": True,
        },
        headers=headers,
    ).json()
    assert prose["num_snapshots"] == 1 and prose["invalid"] == 1
    # (skipped lines are warnings: ArchiveBox clients take any `errors` entry for a failed add)
    assert prose["errors"] == [] and prose["problems"][0].startswith("line 2:")
    assert prose["stderr"].startswith("line 2:")
    assert prose["result"]["queued_urls"] == ["https://prose.example.com/a"]


def _finished(client: httpx.Client, snapshot_id: str) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = str(client.get(f"/api/v1/core/snapshot/{snapshot_id}").json()["status"])
        if status in ("succeeded", "failed", "sealed"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"snapshot {snapshot_id} did not finish")


def test_api_and_web_imports_retry_failed_urls(
    api_server: object, admin_client: httpx.Client, site: TestSite
) -> None:
    bad = site.url(f"/loop?web-import={time.time_ns()}")
    # Given a URL whose capture failed
    (sid,) = admin_client.post("/api/v1/cli/add", json={"urls": [bad]}).json()["snapshot_ids"]
    assert _finished(admin_client, sid) == "failed"
    # When a document holding it is added through the API with a parser
    added = admin_client.post(
        "/api/v1/cli/add", json={"urls": f"see {bad} again\n", "parser": "text"}
    ).json()
    # Then it is retried: counted apart from duplicates, queued, and said so in stdout
    assert (added["retried"], added["duplicates"], added["queued"]) == (1, 0, 1), added
    assert "1 failed before and queued again" in added["stdout"]
    assert added["snapshot_ids"] == [sid]
    assert _finished(admin_client, sid) == "failed"
    # When a file holding it is uploaded in the web UI's import page
    base = api_server.url  # type: ignore[attr-defined]
    with web_sign_in(base) as web:
        form = web.get("/import").text
        csrf = form.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        upload = web.post(
            "/import",
            data={"csrfmiddlewaretoken": csrf, "parser": "auto"},
            files={"file": ("again.txt", f"{bad}\n".encode(), "text/plain")},
        )
        assert upload.status_code == 303, upload.text
        deadline = time.monotonic() + 60
        while 'data-status="running"' in (progress := web.get(upload.headers["location"]).text):
            assert time.monotonic() < deadline, progress
            time.sleep(0.2)
    # Then its progress reports it retried, not already archived, and it is captured again
    assert 'data-status="succeeded"' in progress, progress
    assert '<span class="n-retried">1</span> failed before and retried' in progress
    assert '<span class="n-duplicates">0</span> already archived' in progress
    assert '<span class="n-queued">1</span> queued' in progress
    assert _finished(admin_client, sid) == "failed"


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"urls": "<html>no links</html>", "parser": "netscape", "index_only": True}, 422),
        ({"urls": ["https://x.example.com"], "parser": "nonsense"}, 422),
        ({"urls": "[{broken json", "parser": "jsonl", "index_only": True}, 422),
        ({"urls": "https://x.example.com", "parser": "text", "depth": 1}, 422),
        ({"urls": "", "parser": "text"}, 422),
    ],
)
def test_cli_add_with_bad_documents_is_422(
    admin_client: httpx.Client, payload: dict[str, object], status: int
) -> None:
    # Given a document that holds no usable URL, or a bad parser / When posted
    response = admin_client.post("/api/v1/cli/add", json=payload)
    # Then a clear ArchiveBox-shaped 4xx, never a 500
    assert response.status_code == status, response.text
    assert "detail" in response.json()


def test_plain_url_list_still_uses_the_strict_path(admin_client: httpx.Client) -> None:
    # Given a plain list with a bad URL (no parser) / Then it is still refused as a whole
    response = admin_client.post(
        "/api/v1/cli/add", json={"urls": ["https://ok.example.com/", "notaurl"], "index_only": True}
    )
    assert response.status_code == 422

    def stored(url: str) -> list[dict[str, object]]:
        found = admin_client.get("/api/v1/core/snapshots", params={"url": url})
        assert found.status_code == 200
        items: list[dict[str, object]] = found.json()["items"]
        return items

    # And not even its good URL was stored
    assert stored("https://ok.example.com/") == []
    ok = admin_client.post(
        "/api/v1/cli/add", json={"urls": ["https://plainlist.example.com/"], "index_only": True}
    )
    assert ok.status_code == 200 and ok.json()["num_snapshots"] == 1
    # And a valid list is stored as asked: one index-only snapshot
    [row] = stored("https://plainlist.example.com/")
    assert row["id"] == ok.json()["snapshot_ids"][0]
    assert row["status"] == "queued" and row["retry_at"] is None


def test_bulk_rows_are_stored_like_orm_rows(tmp_path: Path) -> None:
    # Given one URL written by the bulk writer and one by add_urls, in SQLite
    engine, principal = open_store(f"sqlite:///{tmp_path / 'format.sqlite3'}", "fmt", admin=True)
    write(engine, principal, "https://bulk.example.com/\n", index_only=True)
    with db.session_scope(engine) as session:
        snaps.add_urls(
            session, principal=principal, entries=[snaps.UrlEntry(url="https://orm.example.com/")]
        )
    # When the raw stored values are read
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT url, created_at, bookmarked_at, status FROM snapshot ORDER BY url"
        ).all()
    # Then both use the same text formats, so ordering and date filters treat them alike
    pattern = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
    assert [(r[0], r[3]) for r in rows] == [
        ("https://bulk.example.com/", "queued"),
        ("https://orm.example.com/", "queued"),
    ]
    assert all(pattern.match(r[1]) and pattern.match(r[2]) for r in rows), rows
    # And every other column holds the same value of the same type (the bulk statement
    # leaves out the columns NULL for a whole batch)
    columns = [c.name for c in Snapshot.__table__.columns]  # type: ignore[attr-defined]
    own = {"id", "url", "normalized_url", "timestamp", "created_at", "modified_at"}
    own |= {"bookmarked_at", "retry_at"}  # the ORM row is queued for capture, the bulk one not
    with engine.connect() as conn:
        typed = conn.exec_driver_sql(
            "SELECT " + ", ".join(f"typeof({c}), {c}" for c in columns) + " FROM snapshot "
            "ORDER BY url"
        ).all()
    bulk, orm = (dict(zip(columns, zip(r[::2], r[1::2], strict=True), strict=True)) for r in typed)
    assert bulk["title"] == ("null", None) and bulk["last_error"] == ("null", None)
    assert {c: bulk[c] for c in columns if c not in own} == {
        c: orm[c] for c in columns if c not in own
    }
    assert {c: bulk[c][0] for c in own - {"retry_at"}} == {c: orm[c][0] for c in own - {"retry_at"}}
    engine.dispose()


def test_amber_update_captures_index_only_snapshots(site: TestSite, tmp_path: Path) -> None:
    env = amber_env(tmp_path / "data")
    # Given a page imported index-only (stored, not captured)
    page = site.url("/final.html")
    stored = run_amber(env, "import", "-", "--index-only", "--tag", "later", input_text=page)
    assert stored.returncode == 0, stored.stderr
    # When `amber update --tag later` runs (embedded workers, real Chromium)
    done = run_amber(env, "update", "--tag", "later", timeout=180)
    # Then it is captured, and nothing index-only is left to update
    assert done.returncode == 0, done.stderr
    assert "1 snapshot(s) queued for capture" in done.stdout
    assert "1 succeeded" in done.stdout
    assert "Nothing to update." in run_amber(env, "update").stdout
    found = run_amber(env, "search", "Final Destination")
    assert found.returncode == 0 and page in found.stdout


def test_parsing_in_a_second_process_gives_the_same_result(tmp_path: Path) -> None:
    from crawler.importers.parallel import store_file

    # Given a messy list stored once in-process and once with a parsing process
    lines = [f"https://p{i % 900 % 7}.example.com/{i % 900}\n" for i in range(3000)]
    lines[10] = "not-a-url\n"
    lines[2500] = "ftp://nope.example.com/\n"
    path = tmp_path / "list.txt"
    path.write_text("".join(lines))
    results = []
    for name in ("inline", "spawned"):
        url = f"sqlite:///{tmp_path / (name + '.sqlite3')}"
        db.upgrade(url)
        engine = db.make_engine(url)
        with db.session_scope(engine) as session:
            principal = principal_for_user(session, ensure_user(session, name, admin=True))
        with Session(engine) as session:
            writer = BulkWriter(session, principal=principal, index_only=True, batch_size=500)
            if name == "inline":
                with path.open("rb") as stream:
                    writer.add_all(iter_entries(Source(stream)))
                summary = writer.finish()
            else:
                summary = store_file(writer, str(path), "auto")
        results.append(
            (
                summary.imported,
                summary.duplicates,
                summary.invalid,
                [p.line for p in summary.problems],
            )
        )
        engine.dispose()
    # Then both store and report exactly the same
    assert results[0] == results[1] == (900, 2098, 2, [11, 2501])


@given(
    when=st.datetimes(
        min_value=datetime(1, 1, 1),
        timezones=st.one_of(st.none(), st.timezones()),
    )
)
def test_bulk_dates_are_sqlalchemys_sqlite_text(when: datetime) -> None:
    # Given SQLAlchemy's own SQLite DATETIME bind processor
    from sqlalchemy.dialects import sqlite

    from crawler.importers.bulk_sql import _sqlite_datetime

    column = Snapshot.__table__.c.bookmarked_at  # type: ignore[attr-defined]
    dialect = sqlite.dialect()
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    # Then the bulk writer's shortcut writes exactly the same text for any date and zone
    assert _sqlite_datetime(when) == processor(when)
