"""A small picture of the top of the page for the web UI's cards (a few KB, not the PNG).

The viewport-sized top of the same loaded page, shrunk with Pillow to WebP, so a
page of 50 cards costs a few hundred KB at most instead of 50 full screenshots.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image

from extractors.base import Extractor, ExtractorOutput, Kind, OutputFile
from extractors.engine.page import LoadedPage

# The card is at least 240 px wide; 50 cards of these weigh well under 50 KB on text pages.
WIDTH = 240
HEIGHT = 150  # the card's 16:10 frame
QUALITY = 45


def shrink(png: bytes, path: Path) -> None:
    """Scale to WIDTH wide and crop to the card's frame from the top."""
    with Image.open(io.BytesIO(png)) as image:
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
        size = page.page.viewport_size or {"width": 1280, "height": 800}
        top = {"x": 0, "y": 0, "width": size["width"], "height": size["width"] * 10 // 16}
        png = await page.page.screenshot(type="png", clip=top, full_page=True, timeout=15_000)  # type: ignore[arg-type]
        path = page.out_dir / "thumbnail.webp"
        await asyncio.to_thread(shrink, png, path)
        return ExtractorOutput(
            status="succeeded",
            output_str="thumbnail.webp",
            files=[OutputFile("thumbnail.webp", path, "image/webp")],
            cmd_version=f"Chromium {page.browser_version}",
        )
