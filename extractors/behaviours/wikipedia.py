"""Wikipedia: open the sections and boxes a reader can expand, so the archive shows them.

The mobile site collapses every section under its heading, and both sites
collapse navboxes and some tables (``mw-collapsed``); a capture of the page as
loaded would miss their text in the screenshot and the PDF.
"""

from __future__ import annotations

from playwright.async_api import Page

EXPAND_JS = """
() => {
  let opened = 0;
  for (const d of document.querySelectorAll('details:not([open])')) { d.open = true; opened++; }
  for (const box of document.querySelectorAll('.mw-collapsible.mw-collapsed')) {
    box.classList.remove('mw-collapsed');
    for (const el of box.querySelectorAll('[style*="display: none"], [hidden]')) {
      el.style.display = ''; el.hidden = false;
    }
    opened++;
  }
  for (const h of document.querySelectorAll('.collapsible-heading:not(.open-block)')) {
    h.classList.add('open-block');
    const block = h.nextElementSibling;
    if (block) {
      block.classList.add('open-block'); block.hidden = false; block.style.display = '';
    }
    opened++;
  }
  return opened;
}
"""


class WikipediaBehaviour:
    name = "wikipedia"
    hosts = ("*.wikipedia.org",)

    async def run(self, page: Page, url: str) -> str | None:
        opened = int(await page.evaluate(EXPAND_JS) or 0)
        return f"opened {opened} collapsed sections" if opened else None


BEHAVIOUR = WikipediaBehaviour()
