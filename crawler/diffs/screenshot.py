"""Two screenshots compared pixel by pixel with Pillow, and the changed regions boxed.

Both images are padded to the larger width and height; the padding of the
smaller one counts as changed (that part of the page did not exist before). A
pixel changed when any colour channel moved by more than `tolerance` (which
absorbs anti-aliasing and JPEG-like noise). The change mask is then reduced to a
coarse grid of `cell`-pixel squares; changed cells within `gap` cells of each
other join one region, and each region becomes one box: the bounding box, in
pixels, of the changed pixels inside it. Everything
runs in Pillow's C code except the walk over the (small) grid, so a pair of
1280x10000 full-page screenshots compares in well under a second.
"""

from __future__ import annotations

import io
import re
from collections import deque
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageChops, ImageDraw, UnidentifiedImageError

from crawler.errors import InvalidInput

CELL = 16
GAP = 1
TOLERANCE = 24
MAX_PIXELS = 1280 * 50_000
MAX_BOXES = 200
BOX_COLOUR = (255, 0, 255)  # magenta: rare on web pages, seen on light and dark
BOX_WIDTH = 3
PAD_COLOUR = (0, 0, 0)


class UnreadableImage(InvalidInput):
    """The blob is not an image Pillow can read, or it is too large to compare."""


@dataclass(frozen=True, slots=True)
class Box:
    x: int
    y: int
    width: int
    height: int

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height


@dataclass(frozen=True, slots=True)
class ImageDiff:
    size_a: tuple[int, int]
    size_b: tuple[int, int]
    changed_pixels: int
    boxes: tuple[Box, ...]
    boxes_truncated: bool
    cell: int
    tolerance: int

    @property
    def size(self) -> tuple[int, int]:
        return max(self.size_a[0], self.size_b[0]), max(self.size_a[1], self.size_b[1])

    @property
    def share_changed(self) -> float:
        width, height = self.size
        return self.changed_pixels / (width * height) if width and height else 0.0


def open_image(stream: BinaryIO) -> Image.Image:
    """Decode a screenshot as RGB, refusing what is not an image or is absurdly large."""
    if not stream.seekable():
        stream = io.BytesIO(stream.read())
    try:
        image = Image.open(stream)
        if image.width * image.height > MAX_PIXELS:
            raise UnreadableImage(
                f"screenshot is {image.width}x{image.height}, too large to compare"
            )
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"screenshot is not a readable image: {exc}") from exc
    return image if image.mode == "RGB" else image.convert("RGB")


def _padded(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    canvas = Image.new("RGB", size, PAD_COLOUR)
    canvas.paste(image, (0, 0))
    return canvas


def change_mask(a: Image.Image, b: Image.Image, *, tolerance: int = TOLERANCE) -> Image.Image:
    """An "L" image, 255 where the pixel changed (or exists in only one of the two), else 0."""
    size = (max(a.width, b.width), max(a.height, b.height))
    red, green, blue = ImageChops.difference(_padded(a, size), _padded(b, size)).split()
    strongest = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    mask = strongest.point([0 if v <= tolerance else 255 for v in range(256)])
    shared_w, shared_h = min(a.width, b.width), min(a.height, b.height)
    draw = ImageDraw.Draw(mask)
    if shared_w < size[0]:
        draw.rectangle((shared_w, 0, size[0] - 1, size[1] - 1), fill=255)
    if shared_h < size[1]:
        draw.rectangle((0, shared_h, size[0] - 1, size[1] - 1), fill=255)
    return mask


def _regions(grid: bytes, columns: int, rows: int, gap: int) -> list[tuple[int, int, int, int]]:
    """Groups of changed cells within `gap` empty cells of each other: (x0, y0, x1, y1) in cells.

    Works on runs of changed cells per row (found by a bytes regex, in C) joined by
    union-find with the runs of the rows just above, so a page where half the cells
    changed costs as little as one with a few.
    """
    run = re.compile(rb"[^\x00]+(?:\x00{1,%d}[^\x00]+)*" % gap if gap else rb"[^\x00]+")
    parent: list[int] = []
    spans: list[list[int]] = []  # per run: x0, y0, x1, y1
    recent: deque[tuple[int, list[tuple[int, int, int]]]] = deque()

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    reach = gap + 1
    for y in range(rows):
        while recent and y - recent[0][0] > reach:
            recent.popleft()
        row = grid[y * columns : (y + 1) * columns]
        current: list[tuple[int, int, int]] = []
        for match in run.finditer(row):
            x0, x1 = match.start(), match.end() - 1
            node = len(parent)
            parent.append(node)
            spans.append([x0, y, x1, y])
            for _, above in recent:
                for ax0, ax1, other in above:
                    if ax0 <= x1 + reach and x0 <= ax1 + reach:
                        parent[root(other)] = root(node)
            current.append((x0, x1, node))
        if current:
            recent.append((y, current))
    merged: dict[int, list[int]] = {}
    for node, (x0, y0, x1, y1) in enumerate(spans):
        box = merged.setdefault(root(node), [x0, y0, x1, y1])
        box[0], box[1] = min(box[0], x0), min(box[1], y0)
        box[2], box[3] = max(box[2], x1), max(box[3], y1)
    return [(b[0], b[1], b[2], b[3]) for b in merged.values()]


def diff_images(
    a: Image.Image,
    b: Image.Image,
    *,
    cell: int = CELL,
    gap: int = GAP,
    tolerance: int = TOLERANCE,
) -> ImageDiff:
    """Compare two decoded screenshots: how many pixels changed, and where (boxes in pixels)."""
    mask = change_mask(a, b, tolerance=tolerance)
    changed = mask.histogram()[255]
    width, height = mask.size
    boxes: list[Box] = []
    if changed:
        grid = mask.reduce(cell)  # a cell's mean is > 0 as soon as one of its pixels changed
        for x0, y0, x1, y1 in _regions(grid.tobytes(), grid.width, grid.height, gap):
            left, top = x0 * cell, y0 * cell
            right, bottom = min((x1 + 1) * cell, width), min((y1 + 1) * cell, height)
            # tighten the grid-aligned region to the changed pixels inside it
            tight = mask.crop((left, top, right, bottom)).getbbox() or (0, 0, 0, 0)
            boxes.append(
                Box(left + tight[0], top + tight[1], tight[2] - tight[0], tight[3] - tight[1])
            )
    boxes.sort(key=lambda box: (box.y, box.x))
    return ImageDiff(
        size_a=a.size,
        size_b=b.size,
        changed_pixels=changed,
        boxes=tuple(boxes[:MAX_BOXES]),
        boxes_truncated=len(boxes) > MAX_BOXES,
        cell=cell,
        tolerance=tolerance,
    )


def render_diff(b: Image.Image, diff: ImageDiff) -> bytes:
    """The newer screenshot, padded to the compared size, with every changed region boxed.

    Draws on `b` itself when it needs no padding (callers pass a freshly decoded image).
    """
    canvas = _padded(b, diff.size)
    draw = ImageDraw.Draw(canvas)
    for box in diff.boxes:  # drawn just outside the region, so no changed pixel is hidden
        draw.rectangle(
            (
                box.x - BOX_WIDTH,
                box.y - BOX_WIDTH,
                box.x + box.width - 1 + BOX_WIDTH,
                box.y + box.height - 1 + BOX_WIDTH,
            ),
            outline=BOX_COLOUR,
            width=BOX_WIDTH,
        )
    out = io.BytesIO()
    canvas.save(out, format="PNG", compress_level=1)
    return out.getvalue()
