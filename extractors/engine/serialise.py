"""The DOM as rendered: open shadow roots as declarative shadow DOM, iframes inlined as `srcdoc`.

`page.content()` is `outerHTML`: it drops every shadow root and keeps an iframe
as a bare `src`, so text a web component or a frame rendered is neither in
`dom.html` nor in the search index. Here each frame is serialised with
`Element.getHTML({shadowRoots})` (open roots become `<template shadowrootmode>`),
and a child frame's document is put into its `<iframe>` as `srcdoc` (its `src`
stays), matched through a temporary `data-amber-frame` marker on the element.
Cross-origin frames are reachable because the engine runs Chromium without site
isolation. Closed shadow roots stay closed: the page chose to hide them.
"""

from __future__ import annotations

import asyncio
import html as html_lib
import re
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page

MARK = "data-amber-frame"
MAX_FRAME_DEPTH = 3
FRAME_TIMEOUT = 15.0  # a frame whose thread is stuck is left out, not waited for

# Every open shadow root, found by walking light and shadow trees alike.
SERIALISE_JS = """
() => {
  const roots = [];
  const walk = (root) => {
    const it = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
    for (let el = it.nextNode(); el; el = it.nextNode()) {
      if (el.shadowRoot) { roots.push(el.shadowRoot); walk(el.shadowRoot); }
    }
  };
  walk(document);
  const root = document.documentElement;
  if (!root) return '';
  const quote = (v) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  const attrs = [...root.attributes].map((a) => ` ${a.name}="${quote(a.value)}"`).join('');
  const d = document.doctype;
  const doctype = d ? `<!DOCTYPE ${d.name}${d.publicId ? ` PUBLIC "${d.publicId}"` : ''}` +
    `${d.systemId ? ` "${d.systemId}"` : ''}>` : '';
  const inner = root.getHTML ? root.getHTML({shadowRoots: roots}) : root.innerHTML;
  return `${doctype}<${root.localName}${attrs}>${inner}</${root.localName}>`;
}
"""

UNMARK_JS = f"() => document.querySelectorAll('[{MARK}]').forEach(e => e.removeAttribute('{MARK}'))"

SHADOW_TEXT_JS = """
() => {
  const out = [];
  const walk = (root) => {
    const it = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
    for (let el = it.nextNode(); el; el = it.nextNode()) {
      if (!el.shadowRoot) continue;
      const text = [...el.shadowRoot.children]
        .filter((c) => !['STYLE', 'SCRIPT', 'TEMPLATE'].includes(c.tagName))
        .map((c) => (c.innerText || c.textContent || '').trim()).filter(Boolean).join('\\n');
      if (text) out.push(text);
      walk(el.shadowRoot);
    }
  };
  walk(document);
  return out.join('\\n');
}
"""


async def _evaluate(frame: Frame, script: str) -> Any:
    return await asyncio.wait_for(frame.evaluate(script), timeout=FRAME_TIMEOUT)


async def serialise_page(page: Page) -> str:
    """The main frame's rendered DOM with its frames inlined (up to `MAX_FRAME_DEPTH`)."""
    try:
        return await _serialise(page.main_frame, 0)
    except (PlaywrightError, TimeoutError):
        return await page.content()


async def _serialise(frame: Frame, depth: int) -> str:
    marked: dict[str, Frame] = {}
    if depth < MAX_FRAME_DEPTH:
        for index, child in enumerate(frame.child_frames):
            if child.is_detached():
                continue
            try:
                element = await asyncio.wait_for(child.frame_element(), timeout=FRAME_TIMEOUT)
                await element.evaluate(f"(el, n) => el.setAttribute('{MARK}', n)", str(index))
            except (PlaywrightError, TimeoutError):
                continue
            marked[str(index)] = child
    try:
        text = str(await _evaluate(frame, SERIALISE_JS))
    finally:
        if marked:
            await _evaluate(frame, UNMARK_JS)
    for number, child in marked.items():
        try:
            inner = await _serialise(child, depth + 1)
        except (PlaywrightError, TimeoutError):
            inner = ""
        text = inline_frame(text, number, inner)
    return text


def inline_frame(document: str, number: str, inner: str) -> str:
    """Put `inner` into the marked `<iframe>` as `srcdoc` (replacing any), dropping the mark.

    Chromium serialises attribute values in double quotes with `&`, `"`, `<` and `>`
    escaped, so a start tag ends at the first `>` and `srcdoc="..."` ends at the next `"`.
    """
    pattern = re.compile(r"<iframe\b[^>]*?\s" + MARK + r'="' + re.escape(number) + r'"[^>]*>')
    match = pattern.search(document)
    if match is None:
        return document
    tag = re.sub(r'\ssrcdoc="[^"]*"', "", match.group(0))
    replacement = f'srcdoc="{html_lib.escape(inner, quote=True)}"' if inner else ""
    tag = tag.replace(f'{MARK}="{number}"', replacement).replace(" >", ">")
    return document[: match.start()] + tag + document[match.end() :]


async def rendered_extra_text(page: Page) -> str:
    """Text from open shadow roots (every frame) and from the bodies of child frames."""
    parts: list[str] = []
    for frame in page.frames:
        if frame.is_detached():
            continue
        try:
            shadow = str(await _evaluate(frame, SHADOW_TEXT_JS) or "")
            body = ""
            if frame is not page.main_frame:
                body = str(
                    await _evaluate(frame, "() => document.body ? document.body.innerText : ''")
                    or ""
                )
        except (PlaywrightError, TimeoutError):
            continue
        parts.extend(part.strip() for part in (body, shadow) if part and part.strip())
    return "\n\n".join(parts)
