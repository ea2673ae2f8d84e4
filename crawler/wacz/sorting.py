"""Sorting more index lines than memory should hold: sorted runs on disk, merged."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

RUN_LINES = 200_000  # about 60 MB of CDXJ lines per run


class LineSorter:
    """Collect lines with `add`, then read them back in order with `sorted`.

    Lines must not contain a newline (CDXJ and JSON Lines never do).
    """

    def __init__(self, workdir: Path, *, run_lines: int = RUN_LINES) -> None:
        self.workdir = workdir
        self.run_lines = max(1, run_lines)
        self._chunk: list[str] = []
        self._runs: list[Path] = []
        self.count = 0

    def add(self, line: str) -> None:
        self._chunk.append(line)
        self.count += 1
        if len(self._chunk) >= self.run_lines:
            self._spill()

    def _spill(self) -> None:
        path = self.workdir / f"run-{len(self._runs):05d}.txt"
        with path.open("w", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in sorted(self._chunk))
        self._runs.append(path)
        self._chunk = []

    def sorted(self) -> Iterator[str]:
        """Every line added, in code-point order (which is UTF-8 byte order)."""
        if not self._runs:
            yield from sorted(self._chunk)
            return
        if self._chunk:
            self._spill()
        with ExitStack() as stack:
            runs = [stack.enter_context(p.open(encoding="utf-8")) for p in self._runs]
            for line in heapq.merge(*runs):
                yield line.rstrip("\n")
