"""The capture engine: one Chromium per process, one page load per capture, one WARC of it.

The extractors beside this package only read the page it loaded; nothing here
names an extractor. `browser` runs the browser, `capture` loads a page in a
fresh context, `schedule` runs the extractors on it by their kind, `recorder`
keeps every exchange, `egress` enforces the fetch allow-list and `warc` writes
the exchanges down.
"""
