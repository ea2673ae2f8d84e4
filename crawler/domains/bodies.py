"""Snapshot bodies (dashboards, entry fields, sheet records, note content) as blobs.

Bodies are canonical JSON (sorted keys, no spaces), so identical bodies hash the
same and are stored once, across snapshots and across domains.
"""

from __future__ import annotations

import json
from typing import Any

from crawler.blobs import BlobRef, BlobStore


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def put_json(blobs: BlobStore, value: Any) -> BlobRef:
    return blobs.put_bytes(canonical_json(value))


def get_json(blobs: BlobStore, sha256: str) -> Any:
    return json.loads(blobs.read(sha256))
