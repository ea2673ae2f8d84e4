"""WACZ in and out: the web-archive package Browsertrix and ReplayWeb.page exchange.

- `export`: snapshots (one, or a selection) -> a WACZ 1.1.1 stream: their WARCs under
  ``archive/``, a sorted CDXJ index, ``pages/pages.jsonl`` with titles and text,
  ``datapackage.json`` and its digest.
- `importer`: a WACZ, or a bare WARC, -> one `succeeded` snapshot per page, read
  from the archive alone (nothing is fetched).
- `pages` reads and writes the page lists; `sorting` sorts index lines that may
  not fit in memory.

The zip is built with the standard library's `zipfile` and indexed with
`cdxj-indexer` (through `crawler.warcindex`), the same pieces py-wacz uses; py-wacz
itself wants its WARCs as local files and holds the index in memory, so it is used
only to validate exports in the tests.
"""
