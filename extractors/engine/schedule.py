"""Runs the extractors on one loaded page by their `Kind`, and turns their errors into results.

Free extractors only read the page, so they run concurrently, beside one
chain of the page-bound ones (a screenshot and a print re-lay out the page, so
they take turns). The last ones run after everything else: the WARC must see
every exchange, the favicon fetch included. Results come back in the order
asked for, whatever order they finished in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from crawler.blobs import disk_full_is_storage_full
from crawler.clock import utcnow
from crawler.errors import BrowserCrashed, CaptureError, StorageFull
from extractors.base import Extractor, ExtractorOutput, Kind, failed, skipped
from extractors.engine.page import LoadedPage, playwright_errors


async def run_extractors(
    plugins: tuple[str, ...],
    extractors: Mapping[str, Extractor],
    loaded: LoadedPage,
    *,
    before_last: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, ExtractorOutput]:
    """Run the extractors named in `plugins` on `loaded`; a dict in `plugins` order.

    `before_last` runs between the others and the last ones: the engine's final quiet
    period and body completion, so the WARC holds what the extractors triggered.
    """

    async def chain(names: list[str]) -> list[ExtractorOutput]:
        return [await _run_one(name, extractors[name], loaded) for name in names]

    def of_kind(kind: Kind) -> list[str]:
        return [name for name in plugins if extractors[name].kind == kind]

    groups = [chain(of_kind(Kind.page_bound)), *(chain([n]) for n in of_kind(Kind.free))]
    done: dict[str, ExtractorOutput] = {}
    for outputs in await asyncio.gather(*groups):
        done.update({o.plugin: o for o in outputs})
    if before_last is not None and of_kind(Kind.last):
        await before_last()
    for output in await chain(of_kind(Kind.last)):
        done[output.plugin] = output
    return {name: done[name] for name in plugins}


async def _run_one(name: str, extractor: Extractor, loaded: LoadedPage) -> ExtractorOutput:
    """One extractor; its own failure is its result, a crashed browser ends the capture."""
    started = utcnow()
    try:
        if extractor.html_only and not loaded.is_html:
            output = skipped(f"not HTML ({loaded.mimetype})")
        else:
            # A full disk fails the capture, not one output: every output needs the disk.
            with (
                disk_full_is_storage_full(loaded.request.workdir),
                playwright_errors(loaded.request.url),
            ):
                output = await extractor.extract(loaded)
    except (BrowserCrashed, StorageFull):
        raise
    except (CaptureError, OSError, ValueError) as exc:
        output = failed(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
    output.plugin = name
    output.start_ts = started
    output.end_ts = utcnow()
    return output
