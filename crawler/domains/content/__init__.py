"""Contentful CMA semantics on Amber's store: spaces, content types, entries, publish snapshots.

A space is an Amber workspace the caller belongs to; anything else (another
tenant's space included) is NotFound, exactly like a space that does not exist.
Every write checks ``X-Contentful-Version`` with a conditional UPDATE, so two
writers holding the same version cannot both win. Every publish in the
``master`` environment records a snapshot whose body is the very blob the
entity points at, so snapshots of unchanged content cost no bytes.

Callers own the transaction: these functions flush, the API commits.

Modules: `spaces` (and environments, paging), `entities` (content types and
entries), `publishing` (publish, unpublish, snapshots), `validate`, `select`
(the ``select`` query parameter), `tables` and `render` (the CMA's JSON shapes).
"""
