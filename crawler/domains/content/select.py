"""The CMA `select` operator: keep only the named paths of each resource, to any depth.

``select=sys.id,snapshot.fields.title.en-US`` becomes a tree of keys; projecting
a document through the tree keeps exactly those branches. A path that names a
whole object keeps the object whole. Lists are projected item by item, so
``snapshot.fields.id`` works on a content type's field list too. ``sys.type``
(and ``sys.snapshotEntityType``) are always kept: clients need them to know what
they are holding.
"""

from __future__ import annotations

import re
from typing import Any

from crawler.errors import InvalidInput

ALWAYS_KEPT = ("sys.type", "sys.snapshotEntityType")
ROOTS = ("sys", "snapshot")
MAX_PATHS = 100
SEGMENT = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")

Tree = dict[str, "Tree | None"]  # None: keep this branch whole
_MISSING = object()


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(
        f"The query you sent was invalid: {message}",
        code="InvalidQuery",
        details={"errors": [{"name": "select", "details": message}]},
    )


def parse_select(raw: str | None) -> Tree | None:
    """The selection tree, or None when nothing was selected (keep everything)."""
    if raw is None:
        return None
    paths = [p.strip() for p in raw.split(",")]
    if not any(paths):
        raise _invalid("select needs at least one path")
    if len(paths) > MAX_PATHS:
        raise _invalid(f"select takes at most {MAX_PATHS} paths")
    tree: Tree = {}
    for path in [*paths, *ALWAYS_KEPT]:
        segments = path.split(".")
        if not all(SEGMENT.match(s) for s in segments):
            raise _invalid(f"{path!r} is not a valid path")
        if segments[0] not in ROOTS:
            raise _invalid(f"{path!r} must start with one of {', '.join(ROOTS)}")
        _add(tree, segments)
    return tree


def _add(tree: Tree, segments: list[str]) -> None:
    node = tree
    for segment in segments[:-1]:
        child = node.get(segment, _MISSING)
        if child is None:
            return  # an ancestor is already kept whole
        if child is _MISSING:
            child = node[segment] = {}
        node = child  # type: ignore[assignment]
    node[segments[-1]] = None


def project(value: Any, tree: Tree | None) -> Any:
    """`value` cut down to the branches of `tree`."""
    result = _project(value, tree)
    return {} if result is _MISSING else result


def _project(value: Any, tree: Tree | None) -> Any:
    if tree is None:
        return value
    if isinstance(value, list):
        return [p for p in (_project(item, tree) for item in value) if p is not _MISSING]
    if not isinstance(value, dict):
        return _MISSING  # the path goes deeper than the data does
    out: dict[str, Any] = {}
    for key, subtree in tree.items():
        if key in value:
            projected = _project(value[key], subtree)
            if projected is not _MISSING:
                out[key] = projected
    return out
