"""Snapshot bodies and diffs for sheets, with plain dicts and sets.

A snapshot's records are JSON Lines chunks; each line is the canonical JSON
array ``["us_rc_…",rownum,{values}]``. Because live records keep their values
as canonical JSON text too, a record is unchanged exactly when its text is,
and a diff of 100,000 records is a few set operations on strings. Values are
parsed only for records that did change, to count changes per field.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

CHUNK_RECORDS = 10_000
CHANGE_TYPES = ("createdSince", "updatedSince", "deletedSince")

Line = tuple[str, int, str]  # record id, row position, canonical JSON of its values


def encode_chunks(rows: Iterable[Line], *, size: int = CHUNK_RECORDS) -> Iterator[bytes]:
    """Chunks of JSON Lines; record ids are generated ids (``us_rc_`` + hex), never escaped."""
    lines: list[str] = []
    for record_id, rownum, data in rows:
        lines.append(f'["{record_id}",{rownum},{data}]')
        if len(lines) == size:
            yield ("\n".join(lines) + "\n").encode()
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode()


def decode_chunk(chunk: bytes) -> Iterator[Line]:
    # split on "\n" only: JSON escapes it inside strings, but not U+0085 or U+2028,
    # which str.splitlines() would also break on
    for line in chunk.decode().split("\n"):
        if not line:
            continue
        end_id = line.index('",', 2)
        end_row = line.index(",", end_id + 2)
        yield line[2:end_id], int(line[end_id + 2 : end_row]), line[end_row + 1 : -1]


@dataclass
class Diff:
    """How the sheet now differs from a snapshot; ids in row order."""

    then: dict[str, tuple[int, str]]
    now: dict[str, tuple[int, str]]
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def ids(self, change_type: str) -> list[str]:
        return {
            "createdSince": self.created,
            "updatedSince": self.updated,
            "deletedSince": self.deleted,
        }[change_type]


def diff(then: dict[str, tuple[int, str]], now: dict[str, tuple[int, str]]) -> Diff:
    result = Diff(then=then, now=now)
    for record_id, (_, text) in now.items():
        before = then.get(record_id)
        if before is None:
            result.created.append(record_id)
        elif before[1] != text:
            result.updated.append(record_id)
    result.deleted = [record_id for record_id in then if record_id not in now]
    return result


def _filled(value: Any) -> bool:
    return value is not None and value != ""


def section(result: Diff, change_type: str) -> dict[str, Any]:
    """``{total, byField}``: per field, how many records changed it (or, for records
    created or deleted, how many had a value there)."""
    ids = result.ids(change_type)
    by_field: Counter[str] = Counter()
    if change_type == "updatedSince":
        for record_id in ids:
            before = json.loads(result.then[record_id][1])
            after = json.loads(result.now[record_id][1])
            by_field.update(
                k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
            )
    else:
        side = result.now if change_type == "createdSince" else result.then
        for record_id in ids:
            by_field.update(k for k, v in json.loads(side[record_id][1]).items() if _filled(v))
    return {"total": len(ids), "byField": dict(sorted(by_field.items()))}


def schema_diff(then_config: dict[str, Any], now_config: dict[str, Any]) -> dict[str, str]:
    before = [f["key"] for f in then_config.get("fields", [])]
    after = [f["key"] for f in now_config.get("fields", [])]
    result = {key: "unchanged" if key in after else "removed" for key in before}
    result.update({key: "added" for key in after if key not in before})
    return result


def summary(
    result: Diff,
    *,
    then_config: dict[str, Any],
    now_config: dict[str, Any],
    undone: Iterable[str] = (),
) -> dict[str, Any]:
    """Flatfile's SnapshotSummary; sections in `undone` were just restored, so they are empty."""
    cleared = set(undone)
    out: dict[str, Any] = {
        name: {"total": 0, "byField": {}} if name in cleared else section(result, name)
        for name in CHANGE_TYPES
    }
    out["schemaDiff"] = schema_diff(then_config, now_config)
    out["config"] = then_config
    return out
