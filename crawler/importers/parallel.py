"""Parse a file in a second process while this one stores it.

Parsing, URL validation and normalisation are pure Python and hold the GIL;
so does much of storing. A thread cannot overlap them, a process can: the
child (``python -m crawler.importers.parallel FILE PARSER``) parses and keys
entries and streams them in pickled chunks over its stdout; the parent only
stores. Used for regular files, which the child opens itself; stdin is parsed
in-process. The pipe's buffer bounds how far the child runs ahead.

Entries cross the pipe as plain tuples of strings, bytes and ints, with dates as
ISO 8601 text: pickle handles those in C, while each dataclass or datetime costs
a Python-level reduce on one side and a constructor call on the other.
"""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from crawler.errors import AmberError, Unavailable
from crawler.importers import iter_entries
from crawler.importers.base import ParseProblem, Source
from crawler.importers.prepared import Prepared, prepare

if TYPE_CHECKING:  # the parsing process never imports the database layer
    from crawler.importers.writer import BulkWriter, ImportSummary

CHUNK = 2000
HEADER = struct.Struct(">I")

Packed = tuple[bytes, str, str, str | None, str | None, tuple[str, ...]]


def _pack(item: Prepared) -> Packed:
    digest, key, url, title, when, tags = item
    return digest, key, url, title, None if when is None else when.isoformat(), tags


def _unpack(packed: list[Packed]) -> list[Prepared]:
    parse = datetime.fromisoformat
    return [
        Prepared(digest, key, url, title, None if when is None else parse(when), tags)
        for digest, key, url, title, when, tags in packed
    ]


def _send(out: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(HEADER.pack(len(data)) + data)


def produce(path: str, parser: str, out: IO[bytes]) -> None:
    """The child's side: (bytes read, packed entries, problems) chunks, then None (or the
    error). Problems travel apart from entries: they are counted, never stored."""
    try:
        with open(path, "rb") as stream:
            source = Source(stream, name=path)
            entries: list[Packed] = []
            problems: list[ParseProblem] = []
            for item in iter_entries(source, parser):
                prepared = prepare(item)
                if isinstance(prepared, ParseProblem):
                    problems.append(prepared)
                else:
                    entries.append(_pack(prepared))
                if len(entries) + len(problems) >= CHUNK:
                    _send(out, (source.bytes_read, entries, problems))
                    entries, problems = [], []
            _send(out, (source.bytes_read, entries, problems))
        _send(out, None)
    except Exception as exc:  # noqa: BLE001  (handed to the parent, which re-raises it)
        _send(out, exc if isinstance(exc, AmberError) else Unavailable(f"parsing failed: {exc}"))
    out.flush()


def _read(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise Unavailable("the import's parsing process stopped unexpectedly")
    return data


def prepared_chunks(
    path: str, parser: str
) -> Iterator[tuple[int, list[Prepared], list[ParseProblem]]]:
    """(bytes read so far, prepared entries, problems) from the child process, in file order."""
    child = subprocess.Popen(
        [sys.executable, "-m", "crawler.importers.parallel", path, parser],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert child.stdout is not None
    try:
        while True:
            (size,) = HEADER.unpack(_read(child.stdout, HEADER.size))
            message = pickle.loads(_read(child.stdout, size))
            if message is None:
                return
            if isinstance(message, Exception):
                raise message
            read, entries, problems = message
            yield read, _unpack(entries), problems
    finally:
        child.stdout.close()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def store_file(
    writer: BulkWriter,
    path: str,
    parser: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Parse `path` in a child process and store what it yields with `writer`."""
    from crawler.importers.writer import long_lived_objects_frozen

    with long_lived_objects_frozen():
        try:
            for read, entries, problems in prepared_chunks(path, parser):
                for problem in problems:
                    writer.problem(problem)
                writer.add_prepared_many(entries)
                if progress is not None:
                    progress(read)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()


if __name__ == "__main__":
    produce(sys.argv[1], sys.argv[2], sys.stdout.buffer)
