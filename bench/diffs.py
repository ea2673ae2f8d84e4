"""Diff speed on real-sized inputs, each part against its floor measured in the same run.

    .venv/bin/python bench/diffs.py [--height 10000] [--words 8000] [--resources 300] [--runs 5]

Screenshots are real: Chromium renders a long article (1280 px wide, about
`--height` px tall) and takes a full-page PNG, then again after a local change
(one block recoloured) and after edits that shift the text (1% of the words
changed, a paragraph inserted, a block removed). The floor is decoding the two
PNGs, which any comparison must do. Text is an article of `--words` words with
1% of its words replaced, a sentence deleted and a paragraph inserted; the floor
is diff-match-patch's plain character diff (same time limit, same semantic
cleanup). Resources are two WARCs of `--resources` responses (10% changed, 5%
added, 5% removed); the floor is indexing both WARCs, which a cold diff pays
once per WARC and a warm one never.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diff_match_patch import diff_match_patch  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from warcio.statusandheaders import StatusAndHeaders  # noqa: E402
from warcio.warcwriter import WARCWriter  # noqa: E402

from crawler.blobs import LocalBlobStore  # noqa: E402
from crawler.diffs.resources import diff_resources  # noqa: E402
from crawler.diffs.screenshot import ImageDiff, diff_images, open_image, render_diff  # noqa: E402
from crawler.diffs.text import diff_text  # noqa: E402
from crawler.settings import load_settings  # noqa: E402
from crawler.warcindex import IndexCache, build_index  # noqa: E402
from extractors.engine.browser import CHROMIUM_FLAGS  # noqa: E402

WORDS = (  # noqa: SIM905
    "harbour tide ferry island lighthouse chart sailor berth weather warning timetable boat "
    "port authority fisherman visitor morning evening north south wind current anchor quay "
    "crane cargo pilot signal buoy channel reef shore dune gull storm calm fog"
).split()


def timed(run: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and max wall time in milliseconds."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def article(rng: random.Random, words: int) -> list[list[str]]:
    paragraphs, left = [], words
    while left > 0:
        size = min(left, rng.randint(40, 120))
        paragraphs.append([rng.choice(WORDS) for _ in range(size)])
        left -= size
    return paragraphs


def edited(rng: random.Random, paragraphs: list[list[str]]) -> list[list[str]]:
    out = [list(p) for p in paragraphs]
    total = sum(len(p) for p in out)
    for _ in range(total // 100):  # 1% of the words replaced
        p = rng.randrange(len(out))
        out[p][rng.randrange(len(out[p]))] = rng.choice(WORDS).upper()
    del out[len(out) // 3][:12]  # a sentence deleted
    out.insert(len(out) // 2, [rng.choice(WORDS) for _ in range(60)])  # a paragraph inserted
    return out


def as_text(paragraphs: list[list[str]]) -> str:
    return "\n".join(" ".join(p) + "." for p in paragraphs)


def page_html(paragraphs: list[list[str]], height: int, colour: str, boxes: int) -> str:
    style = "width:300px;height:120px;margin:20px;background:"
    blocks = "".join(
        f"<div style='{style}{colour if i == 2 else '#36c'}'></div>" if i < boxes else ""
        for i in range(4)
    )
    body = "".join(f"<p>{' '.join(p)}.</p>" for p in paragraphs)
    return (
        "<!doctype html><html><body style='margin:0;font:16px/1.6 serif;width:1280px'>"
        f"<main style='padding:20px 60px;min-height:{height}px'>{blocks}{body}</main></body></html>"
    )


def screenshots(height: int, words: int, rng: random.Random) -> list[bytes]:
    """The page before; after a local change (one block recoloured); after edits that shift."""
    text = article(rng, words)
    changed = edited(rng, text)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=load_settings().chromium_executable(), args=list(CHROMIUM_FLAGS)
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        shots = []
        for html in (
            page_html(text, height, "#36c", 4),
            page_html(text, height, "#c33", 4),
            page_html(changed, height, "#c33", 3),
        ):
            page.set_content(html)
            shots.append(page.screenshot(full_page=True, type="png"))
        browser.close()
    return shots


def warc(responses: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    for url, body in responses.items():
        writer.write_record(
            writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=StatusAndHeaders(
                    "200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1"
                ),
            )
        )
    return out.getvalue()


def warcs(count: int, rng: random.Random) -> tuple[bytes, bytes]:
    before = {f"https://example.org/r/{i}.png": rng.randbytes(2000) for i in range(count)}
    after = dict(before)
    urls = list(before)
    for url in urls[: count // 10]:
        after[url] = rng.randbytes(2000)
    for url in urls[count // 10 : count // 10 + count // 20]:
        del after[url]
    for i in range(count // 20):
        after[f"https://example.org/new/{i}.png"] = rng.randbytes(2000)
    return warc(before), warc(after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, default=10_000)
    parser.add_argument("--words", type=int, default=8000)
    parser.add_argument("--resources", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)

    print(f"screenshots: rendering full pages in Chromium (~{args.height} px tall)")
    png_a, *afters = screenshots(args.height, args.words, rng)
    for name, png_b in zip(("local change", "text shifted"), afters, strict=True):
        a, b = open_image(io.BytesIO(png_a)), open_image(io.BytesIO(png_b))
        print(
            f"  {name}: sizes {a.size} and {b.size}; PNGs {len(png_a) // 1024} and "
            f"{len(png_b) // 1024} KiB"
        )

        def decode_both(png_b: bytes = png_b) -> object:
            return open_image(io.BytesIO(png_a)), open_image(io.BytesIO(png_b))

        def compare_pair(a: Image.Image = a, b: Image.Image = b) -> object:
            return diff_images(a, b)

        result = diff_images(a, b)

        def render_pair(b: Image.Image = b, result: ImageDiff = result) -> object:
            return render_diff(b.copy(), result)

        decode = timed(decode_both, args.runs)
        compare = timed(compare_pair, args.runs)
        render = timed(render_pair, args.runs)
        print(
            f"    floor  decode both PNGs    median {decode[0]:7.1f} ms  max {decode[1]:7.1f} ms\n"
            f"    amber  compare (decoded)   median {compare[0]:7.1f} ms  max {compare[1]:7.1f} ms"
            f"  ({result.share_changed:.2%} changed, {len(result.boxes)} boxes)\n"
            f"    amber  render visual diff  median {render[0]:7.1f} ms  max {render[1]:7.1f} ms\n"
            f"    => JSON part (decode+compare) {decode[0] + compare[0]:.0f} ms; "
            f"PNG (decode+compare+render) {decode[0] + compare[0] + render[0]:.0f} ms"
        )

    paragraphs = article(rng, args.words)
    text_a, text_b = as_text(paragraphs), as_text(edited(rng, paragraphs))
    engine = diff_match_patch()
    engine.Diff_Timeout = 1.0

    def char_diff() -> None:
        diffs = engine.diff_main(text_a, text_b)
        engine.diff_cleanupSemantic(diffs)

    floor = timed(char_diff, args.runs)
    words = timed(lambda: diff_text(text_a, text_b, timeout=1.0), args.runs)
    found = diff_text(text_a, text_b)
    print(
        f"text: {args.words} words, {len(text_a) // 1024} KiB\n"
        f"  floor  dmp character diff    median {floor[0]:7.1f} ms  max {floor[1]:7.1f} ms\n"
        f"  amber  word-level diff       median {words[0]:7.1f} ms  max {words[1]:7.1f} ms"
        f"  ({found.share_changed:.2%} changed, +{found.words_inserted}/-{found.words_deleted}"
        " words)"
    )

    warc_a, warc_b = warcs(args.resources, rng)
    with tempfile.TemporaryDirectory() as root:
        blobs = LocalBlobStore(Path(root))
        sha_a, sha_b = blobs.put_bytes(warc_a).sha256, blobs.put_bytes(warc_b).sha256

        def index_both() -> None:
            for sha in (sha_a, sha_b):
                with blobs.open(sha) as stream:
                    build_index(stream)

        cache = IndexCache(blobs)
        cache.get(sha_a), cache.get(sha_b)
        index = timed(index_both, args.runs)
        cold = timed(lambda: diff_resources(*[IndexCache(blobs).get(s) for s in (sha_a, sha_b)]), 1)
        warm = timed(lambda: diff_resources(cache.get(sha_a), cache.get(sha_b)), args.runs)
        res = diff_resources(cache.get(sha_a), cache.get(sha_b))
    print(
        f"resources: {args.resources} responses per WARC\n"
        f"  floor  index both WARCs      median {index[0]:7.1f} ms  max {index[1]:7.1f} ms\n"
        f"  amber  diff, cold cache      once   {cold[0]:7.1f} ms\n"
        f"  amber  diff, warm cache      median {warm[0]:7.1f} ms  max {warm[1]:7.1f} ms"
        f"  (+{len(res.added)} -{len(res.removed)} ~{len(res.changed)} ={res.unchanged})"
    )


if __name__ == "__main__":
    main()
