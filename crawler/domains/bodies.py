"""Snapshot bodies (dashboards, entry fields, sheet records, note content) as blobs.

Bodies are canonical JSON (sorted keys, no spaces), so identical bodies hash the
same and are stored once, across snapshots and across domains.
"""

from __future__ import annotations

import json
import math
from typing import Any

from crawler.blobs import BlobRef, BlobStore
from crawler.errors import InvalidInput

# Deeper than any real dashboard, entry or record; a body nested hundreds of levels
# deep would be stored fine and then break every read (recursion in the encoders).
MAX_DEPTH = 100


def check_body(value: Any, *, what: str = "body") -> None:
    """Refuse at write time what could not be read back: too deep, or NaN/Infinity numbers."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidInput(f"{what} is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidInput(f"{what} holds a number JSON cannot carry ({item})")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def put_json(blobs: BlobStore, value: Any) -> BlobRef:
    check_body(value)
    return blobs.put_bytes(canonical_json(value))


def get_json(blobs: BlobStore, sha256: str) -> Any:
    return json.loads(blobs.read(sha256))
