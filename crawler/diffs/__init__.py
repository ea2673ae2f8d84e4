"""What changed between two captures: their text, their screenshots and what they loaded.

One module per part (`text`, `screenshot`, `resources`), each a pure function
of its inputs; `compare` finds a pair of snapshots' outputs in the store and
runs the three.
"""

from crawler.diffs.compare import SnapshotDiff, Unavailable, compare_snapshots

__all__ = ["SnapshotDiff", "Unavailable", "compare_snapshots"]
