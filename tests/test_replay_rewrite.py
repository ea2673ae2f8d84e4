"""The replay rewriter on its own: every URL-bearing attribute, CSS, encodings, base href."""

from __future__ import annotations

import html

from api.replay.rewrite import UrlMapper, rewrite_css, rewrite_html, rewrite_html_text

PREFIX = "/cap/sid/mp_/"
BASE = "http://site.example/dir/page.html"
MAP = UrlMapper(PREFIX)


def test_attributes_srcset_style_and_refresh_point_into_the_archive() -> None:
    # Given a page using every kind of URL attribute
    page = (
        '<html><head><link rel="stylesheet" href="a.css" integrity="sha384-x">'
        '<meta http-equiv="refresh" content="5; url=/next.html"></head>'
        '<body style="background:url(\'bg.png\')"><img src="/i.png" srcset="s1.png 1x, '
        'https://cdn.example/s2.png 2x"><a href="https://other.example/">x</a>'
        '<a href="#top">t</a><a href="mailto:a@b.c">m</a><img src="data:image/png;base64,AA">'
        '<form action="/search"></form><video poster="p.jpg"></video>'
        "<style>@import 'imp.css'; p{background:url(/p.png)}</style>"
        "<script>var u='/not-rewritten.js';</script></body></html>"
    )
    # When it is rewritten
    out = rewrite_html_text(page, BASE, MAP, head_insert="<script src='/shim.js'></script>")
    # Then every URL is absolute and under the replay prefix
    for expected in (
        f'href="{PREFIX}http://site.example/dir/a.css"',
        f"url={PREFIX}http://site.example/next.html",
        f"url('{PREFIX}http://site.example/dir/bg.png')",
        f'src="{PREFIX}http://site.example/i.png"',
        f"{PREFIX}http://site.example/dir/s1.png 1x, {PREFIX}https://cdn.example/s2.png 2x",
        f'href="{PREFIX}https://other.example/"',
        f'action="{PREFIX}http://site.example/search"',
        f'poster="{PREFIX}http://site.example/dir/p.jpg"',
        f"@import '{PREFIX}http://site.example/dir/imp.css'",
        f"url({PREFIX}http://site.example/p.png)",
    ):
        assert expected in html.unescape(out), expected
    # And fragments, mailto, data URLs and script text are untouched; SRI is dropped
    assert 'href="#top"' in out and 'href="mailto:a@b.c"' in out
    assert 'src="data:image/png;base64,AA"' in out
    assert "var u='/not-rewritten.js';" in out and "integrity" not in out
    # And the shim comes first in <head>
    assert out.index("/shim.js") < out.index("a.css")


def test_base_href_changes_how_later_urls_resolve() -> None:
    page = '<head><base href="https://cdn.example/assets/"></head><img src="x.png">'
    out = rewrite_html_text(page, BASE, MAP, head_insert="")
    assert f'href="{PREFIX}https://cdn.example/assets/"' in out
    assert f'src="{PREFIX}https://cdn.example/assets/x.png"' in out


def test_a_legacy_encoding_survives_the_round_trip() -> None:
    # Given a windows-1252 page with non-ASCII text
    body = '<html><head><title>Caf\u00e9 \u20ac5</title></head><img src="/i.png"></html>'.encode(
        "cp1252"
    )
    # When rewritten with its declared charset
    out = rewrite_html(body, "text/html; charset=windows-1252", BASE, MAP, head_insert="")
    # Then the bytes outside the rewritten URL are unchanged
    assert "Caf\u00e9 \u20ac5".encode("cp1252") in out
    assert f"{PREFIX}http://site.example/i.png".encode() in out


def test_invalid_utf8_bytes_pass_through() -> None:
    body = b"<p>broken \xff\xfe bytes</p><img src='/i.png'>"
    out = rewrite_html(body, "text/html", BASE, MAP, head_insert="")
    assert b"broken \xff\xfe bytes" in out


def test_css_with_quotes_and_imports() -> None:
    css = (
        "@import \"x.css\";\n.a{background:url( 'y.png' )}\n.b{src:url(data:font/woff2;base64,AA)}"
    )
    out = rewrite_css(css, "http://site.example/css/main.css", MAP)
    assert f'@import "{PREFIX}http://site.example/css/x.css"' in out
    assert f"url('{PREFIX}http://site.example/css/y.png')" in out
    assert "url(data:font/woff2;base64,AA)" in out
