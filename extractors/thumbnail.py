"""A small picture of the top of the page for the web UI's cards (a few KB, not the PNG).

The viewport-sized top of the same loaded page, shrunk with Pillow to WebP, so a
page of 50 cards costs a few hundred KB at most instead of 50 full screenshots.
It is cut from the full-page screenshot when that extractor ran (decoding only
the rows it needs): a second screenshot costs Chromium a capture and a PNG
encode per page, on the browser process that limits throughput.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image, ImageFile

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile
from extractors.engine.page import LoadedPage

# The card is at least 240 px wide; 50 cards of these weigh well under 50 KB on text pages.
WIDTH = 240
HEIGHT = 150  # the card's 16:10 frame
QUALITY = 45


def top_rows(image: ImageFile.ImageFile, rows: int) -> None:
    """Make a not yet loaded, non-interlaced PNG decode only its first `rows` rows.

    A full-page screenshot can be 30,000 px tall; the card needs the first ~800.
    Pillow decodes a PNG's one tile row by row and stops when the tile is full.
    """
    if image.format != "PNG" or image.info.get("interlace") or len(image.tile) != 1:
        return
    rows = max(1, min(rows, image.height))
    tile = image.tile[0]
    image._size = (image.width, rows)
    image.tile = [tile._replace(extents=(0, 0, image.width, rows))]


def shrink(png: bytes | Path, path: Path) -> None:
    """Scale to WIDTH wide and crop to the card's frame from the top."""
    source = png if isinstance(png, Path) else io.BytesIO(png)
    with Image.open(source) as image:
        top_rows(image, -(-image.width * HEIGHT // WIDTH))
        rgb = image.convert("RGB")
        height = max(1, round(rgb.height * WIDTH / rgb.width))
        small = rgb.resize((WIDTH, height), Image.Resampling.LANCZOS)
        small.crop((0, 0, WIDTH, min(height, HEIGHT))).save(path, "WEBP", quality=QUALITY, method=6)


class ThumbnailExtractor(Extractor):
    name = "thumbnail"
    kind = Kind.page_bound
    html_only = True
    output = "`thumbnail.webp`: the top of the page, 240 px wide, for the web UI's cards"

    async def extract(self, page: LoadedPage) -> ExtractorOutput:
        path = page.out_dir / "thumbnail.webp"
        source: bytes | Path | None = page.screenshot_path
        if not isinstance(source, Path) or not source.exists():
            size = page.page.viewport_size or {"width": 1280, "height": 800}
            top = {"x": 0, "y": 0, "width": size["width"], "height": size["width"] * 10 // 16}
            source = await page.page.screenshot(
                type="png",
                clip=top,  # type: ignore[arg-type]
                full_page=True,
                timeout=15_000,
            )
        await asyncio.to_thread(shrink, source, path)
        return ExtractorOutput(
            status="succeeded",
            output_str="thumbnail.webp",
            files=[OutputFile("thumbnail.webp", path, "image/webp")],
            cmd_version=f"Chromium {page.browser_version}",
        )
