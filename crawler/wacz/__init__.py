"""WACZ in and out: the web-archive package Browsertrix and ReplayWeb.page exchange.

- `selection` decides what an export holds (ids or the list's filters, per tenant);
  `export` writes it as a WACZ 1.1.1 stream: the WARCs under ``archive/``, a
  sorted CDXJ index, ``pages/pages.jsonl`` with titles and text,
  ``datapackage.json`` and its digest.
- `reader` opens a WACZ or bare WARC for import, `content` reads a page's archived
  HTML, `importer` turns every page into a `succeeded` snapshot (nothing is fetched).
- `pages` reads and writes the page lists, `records` finds a page's own record in
  an index, `sorting` sorts index lines that may not fit in memory.

The zip is built with the standard library's `zipfile` and indexed with
`cdxj-indexer` (through `crawler.warcindex`), the same pieces py-wacz uses; py-wacz
itself wants its WARCs as local files and holds the index in memory, so it is used
only to validate exports in the tests.
"""
