"""The three diff parts on their own: text (word-level diff-match-patch), screenshots (Pillow
masks, grid regions, padding, noise tolerance) and resources (two real WARCs, indexed)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.blobs import LocalBlobStore
from crawler.diffs.compare import compare_resources, compare_screenshots, visual_diff_png
from crawler.diffs.screenshot import (
    BOX_COLOUR,
    UnreadableImage,
    diff_images,
    open_image,
    render_diff,
)
from crawler.diffs.text import diff_text


def test_text_diff_is_word_level_with_exact_counts() -> None:
    # Given a sentence where one word changes into a similar one and one is added
    a = "A lighthouse stands on the cape. Boats pass it at night."
    b = "A lightship stands on the cape. Boats pass it quietly at night."
    # When they are diffed
    diff = diff_text(a, b)
    # Then whole words are deleted and inserted (never "house" -> "ship")
    changes = [(op.op, op.text) for op in diff.ops if op.op != "equal"]
    assert changes == [("delete", "lighthouse"), ("insert", "lightship"), ("insert", "quietly ")]
    assert (diff.words_deleted, diff.words_inserted) == (1, 2)
    assert diff.chars_deleted == len("lighthouse")
    assert diff.chars_inserted == len("lightship") + len("quietly ")
    assert diff.share_changed == pytest.approx(
        (diff.chars_deleted + diff.chars_inserted) / (len(a) + len(b))
    )
    assert diff.excerpt() == (
        "A [-lighthouse-]{+lightship+} stands on the cape. Boats pass it {+quietly +}at night."
    )


def test_text_diff_edges() -> None:
    # Identical, empty and disjoint texts
    same = diff_text("the same words", "the same words")
    assert not same.changed and same.share_changed == 0 and same.excerpt() == ""
    assert diff_text("", "").share_changed == 0
    new = diff_text("", "fresh words")
    assert new.share_changed == 1 and new.words_inserted == 2 and new.excerpt() == "{+fresh words+}"
    # CJK text has no spaces: one changed character is one changed token, not a sentence
    cjk = diff_text("港口在黎明开放", "港口在中午开放")
    assert [op.text for op in cjk.ops if op.op == "delete"] == ["黎明"]
    assert [op.text for op in cjk.ops if op.op == "insert"] == ["中午"]


def test_text_excerpt_is_short_on_long_texts() -> None:
    a = "filler words " * 2000 + "the tide is low " + "more filler " * 2000
    b = a.replace("the tide is low", "the tide is high")
    excerpt = diff_text(a, b).excerpt()
    assert "[-low-]{+high+}" in excerpt and len(excerpt) <= 280


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_text_ops_rebuild_both_texts(a: str, b: str) -> None:
    # Whatever the texts, dropping inserts gives `a` back and dropping deletes gives `b`
    diff = diff_text(a, b)
    assert "".join(op.text for op in diff.ops if op.op != "insert") == a
    assert "".join(op.text for op in diff.ops if op.op != "delete") == b
    assert 0 <= diff.share_changed <= 1


def page(width: int = 400, height: int = 600) -> Image.Image:
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    for y in range(10, height, 24):
        draw.text((10, y), "lorem ipsum dolor sit amet consectetur", fill=(30, 30, 30))
    return image


def test_changed_regions_are_boxed_on_the_grid() -> None:
    # Given a page, and the same page with a rectangle painted and a word near the bottom
    a = page()
    b = a.copy()
    draw = ImageDraw.Draw(b)
    draw.rectangle((100, 200, 179, 259), fill=(200, 0, 0))
    draw.rectangle((300, 500, 309, 509), fill=(0, 0, 0))
    # When they are compared
    diff = diff_images(a, b)
    # Then exactly the painted pixels changed (the text under them too), in two boxes
    assert diff.size == (400, 600) and diff.changed_pixels > 0
    assert diff.changed_pixels <= 80 * 60 + 10 * 10
    assert diff.share_changed == pytest.approx(diff.changed_pixels / (400 * 600))
    assert len(diff.boxes) == 2 and not diff.boxes_truncated
    # each box is the exact bounding box of the pixels that changed there
    assert [(box.x, box.y, box.width, box.height) for box in diff.boxes] == [
        (100, 200, 80, 60),
        (300, 500, 10, 10),
    ]
    assert diff.boxes[0].contains(179, 259) and not diff.boxes[0].contains(180, 259)


def test_noise_below_the_tolerance_is_ignored_and_padding_counts() -> None:
    # Given the same page re-encoded with a faint colour shift everywhere
    a = page()
    b = Image.eval(a, lambda v: min(255, v + 6))
    assert diff_images(a, b).changed_pixels == 0
    # And a page that grew by 100 pixels at the bottom
    taller = Image.new("RGB", (400, 700), (250, 250, 250))
    taller.paste(a, (0, 0))
    grown = diff_images(a, taller)
    # Then the new strip counts as changed, boxed across the whole width
    assert grown.size == (400, 700) and grown.size_a == (400, 600)
    assert grown.changed_pixels == 400 * 100
    assert [(box.x, box.y, box.width, box.height) for box in grown.boxes] == [(0, 600, 400, 100)]


def test_visual_diff_is_the_new_screenshot_with_boxes() -> None:
    a = page()
    b = a.copy()
    ImageDraw.Draw(b).rectangle((100, 200, 179, 259), fill=(200, 0, 0))
    diff = diff_images(a, b)
    rendered = Image.open(io.BytesIO(render_diff(b.copy(), diff))).convert("RGB")
    box = diff.boxes[0]
    assert rendered.size == (400, 600)
    assert rendered.getpixel((box.x - 1, box.y + 5)) == BOX_COLOUR
    assert rendered.getpixel((box.x, box.y + 5)) == (200, 0, 0)  # the change itself shows
    assert rendered.getpixel((140, 230)) == (200, 0, 0)  # inside stays the new content
    assert rendered.getpixel((5, 5)) == b.getpixel((5, 5))


def test_unreadable_and_huge_images_are_refused() -> None:
    with pytest.raises(UnreadableImage, match="not a readable image"):
        open_image(io.BytesIO(b"this is not a png"))
    huge = io.BytesIO()
    Image.new("L", (2000, 40_000)).save(huge, format="PNG")
    huge.seek(0)
    with pytest.raises(UnreadableImage, match="too large"):
        open_image(huge)


def _warc(exchanges: list[tuple[str, int, bytes, str]]) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    for url, status, body, mime in exchanges:
        writer.write_record(
            writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=StatusAndHeaders(
                    f"{status} OK", [("Content-Type", mime)], protocol="HTTP/1.1"
                ),
            )
        )
    return out.getvalue()


def test_resources_added_removed_and_changed_by_digest(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    # Given two captures: the page and its image changed, a script stayed, a font went,
    # a stylesheet arrived, and one URL answered twice (a redirect to itself first)
    before = blobs.put_bytes(
        _warc(
            [
                ("http://example.org/", 200, b"<html>v1</html>", "text/html"),
                ("http://example.org/app.js", 200, b"run()", "application/javascript"),
                ("http://example.org/logo.png", 200, b"blue", "image/png"),
                ("http://example.org/font.woff2", 200, b"glyphs", "font/woff2"),
            ]
        )
    )
    after = blobs.put_bytes(
        _warc(
            [
                ("http://example.org/", 302, b"", "text/html"),
                ("http://example.org/", 200, b"<html>v2</html>", "text/html"),
                ("http://example.org/app.js", 200, b"run()", "application/javascript"),
                ("http://example.org/logo.png", 200, b"red", "image/png"),
                ("http://example.org/site.css", 200, b"body{}", "text/css"),
            ]
        )
    )
    # When their resources are compared
    diff = compare_resources(blobs, before.sha256, after.sha256)
    # Then each URL lands in the right list, changes judged by payload digest
    assert [c.url for c in diff.added] == ["http://example.org/site.css"]
    assert [c.url for c in diff.removed] == ["http://example.org/font.woff2"]
    assert [c.url for c in diff.changed] == ["http://example.org/", "http://example.org/logo.png"]
    page_change = diff.changed[0]
    assert page_change.before and page_change.after and page_change.after.status == 200
    assert page_change.before.digest != page_change.after.digest
    assert diff.unchanged == 1 and (diff.total_a, diff.total_b) == (4, 4)


def test_screenshot_comparison_from_blobs_is_cached(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    a, b = page(), page()
    ImageDraw.Draw(b).rectangle((0, 0, 15, 15), fill=(0, 0, 255))
    refs = []
    for image in (a, b):
        out = io.BytesIO()
        image.save(out, format="PNG")
        refs.append(blobs.put_bytes(out.getvalue()).sha256)
    first = compare_screenshots(blobs, *refs)
    assert compare_screenshots(blobs, *refs) is first  # immutable blobs: computed once
    png = visual_diff_png(blobs, *refs)
    assert png.startswith(b"\x89PNG") and visual_diff_png(blobs, *refs) is png


def _reference_regions(grid: bytes, columns: int, rows: int, gap: int) -> set[tuple[int, ...]]:
    """Plain flood fill: cells within Chebyshev distance gap+1 are in one region."""
    seen: set[int] = set()
    found: set[tuple[int, ...]] = set()
    for start in range(len(grid)):
        if not grid[start] or start in seen:
            continue
        seen.add(start)
        stack, cells = [start], []
        while stack:
            here = stack.pop()
            cells.append(here)
            x, y = here % columns, here // columns
            for dy in range(-gap - 1, gap + 2):
                for dx in range(-gap - 1, gap + 2):
                    nx, ny = x + dx, y + dy
                    near = ny * columns + nx
                    if 0 <= nx < columns and 0 <= ny < rows and grid[near] and near not in seen:
                        seen.add(near)
                        stack.append(near)
        xs, ys = [c % columns for c in cells], [c // columns for c in cells]
        found.add((min(xs), min(ys), max(xs), max(ys)))
    return found


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda columns: st.tuples(
            st.just(columns),
            st.lists(st.sampled_from([0, 0, 0, 1]), min_size=columns, max_size=columns * 12),
            st.integers(0, 2),
        )
    )
)
def test_grid_regions_match_a_flood_fill(case: tuple[int, list[int], int]) -> None:
    from crawler.diffs.screenshot import _regions

    columns, cells, gap = case
    rows = len(cells) // columns
    grid = bytes(cells[: rows * columns])
    assert set(_regions(grid, columns, rows, gap)) == _reference_regions(grid, columns, rows, gap)
