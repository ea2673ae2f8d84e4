"""What a page loaded, capture against capture: URLs added, removed, and changed by digest.

Both WARCs are read through their CDXJ indexes (`crawler.warcindex`), so no
payload is read: the payload digest in the index says whether the bytes of a
URL changed. A URL fetched more than once in one capture counts once, by its
first real answer (a redirect to itself only when nothing else was recorded).
"""

from __future__ import annotations

from dataclasses import dataclass

from crawler.warcindex import IndexEntry, WarcIndex

Key = tuple[str, str]  # (method, url)


@dataclass(frozen=True, slots=True)
class ResourceChange:
    url: str
    method: str
    before: IndexEntry | None
    after: IndexEntry | None


@dataclass(frozen=True, slots=True)
class ResourceDiff:
    added: tuple[ResourceChange, ...]
    removed: tuple[ResourceChange, ...]
    changed: tuple[ResourceChange, ...]
    unchanged: int
    total_a: int
    total_b: int


def by_url(index: WarcIndex) -> dict[Key, IndexEntry]:
    """One entry per (method, URL): the first non-redirect answer, else the first one."""
    chosen: dict[Key, IndexEntry] = {}
    for entry in index.responses():
        key = (entry.method, entry.url)
        current = chosen.get(key)
        if current is None or (current.is_redirect and not entry.is_redirect):
            chosen[key] = entry
    return chosen


def diff_resources(a: WarcIndex, b: WarcIndex) -> ResourceDiff:
    before, after = by_url(a), by_url(b)
    added = [ResourceChange(u, m, None, after[(m, u)]) for m, u in after if (m, u) not in before]
    removed = [ResourceChange(u, m, before[(m, u)], None) for m, u in before if (m, u) not in after]
    changed: list[ResourceChange] = []
    unchanged = 0
    for key in before.keys() & after.keys():
        old, new = before[key], after[key]
        if old.digest != new.digest or old.status != new.status:
            changed.append(ResourceChange(key[1], key[0], old, new))
        else:
            unchanged += 1

    def order(items: list[ResourceChange]) -> tuple[ResourceChange, ...]:
        return tuple(sorted(items, key=lambda c: (c.url, c.method)))

    return ResourceDiff(
        added=order(added),
        removed=order(removed),
        changed=order(changed),
        unchanged=unchanged,
        total_a=len(before),
        total_b=len(after),
    )
