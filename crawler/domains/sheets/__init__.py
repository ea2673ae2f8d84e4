"""Flatfile semantics on Amber's store: workbooks, sheets, records, snapshots and restore.

A Flatfile space is an Amber workspace; a workbook, sheet or snapshot outside
the caller's workspaces is NotFound, exactly like an unknown id. Record writes
are bulk SQL on the `sheet_record` table; a snapshot writes its records to the
blob store as chunks (see `diff`) and restore puts back exactly the
rows it kept, ids and positions included, with executemany statements.

Callers own the transaction: these functions flush, the API commits.

Modules: `workbooks` (and their sheets), `records`, `snapshots` (and restore),
`diff` (the chunk format and record diffs), `validate` (sheet configs and
cell values), `tables` and `render` (the dialect's JSON shapes).
"""
