"""Parse a file in a second process while this one stores it.

Parsing, URL validation and normalisation are pure Python and hold the GIL;
so does much of storing. A thread cannot overlap them, a process can: the
child (``python -m crawler.importers.parallel FILE PARSER``) parses and keys
entries and streams them in pickled chunks over its stdout; the parent only
stores. Used for regular files, which the child opens itself; stdin is parsed
in-process. The pipe's buffer bounds how far the child runs ahead.
"""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

from crawler.errors import AmberError, Unavailable
from crawler.importers import iter_entries
from crawler.importers.base import ParseProblem, Source
from crawler.importers.writer import BulkWriter, ImportSummary, _Pending, prepare

CHUNK = 2000
HEADER = struct.Struct(">I")


def _send(out: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(HEADER.pack(len(data)) + data)


def produce(path: str, parser: str, out: IO[bytes]) -> None:
    """The child's side: (bytes read, prepared items) chunks, then None (or the error)."""
    try:
        with open(path, "rb") as stream:
            source = Source(stream, name=path)
            chunk: list[Any] = []
            for item in iter_entries(source, parser):
                chunk.append(prepare(item))
                if len(chunk) >= CHUNK:
                    _send(out, (source.bytes_read, chunk))
                    chunk = []
            _send(out, (source.bytes_read, chunk))
        _send(out, None)
    except Exception as exc:  # noqa: BLE001  (handed to the parent, which re-raises it)
        _send(out, exc if isinstance(exc, AmberError) else Unavailable(f"parsing failed: {exc}"))
    out.flush()


def _read(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise Unavailable("the import's parsing process stopped unexpectedly")
    return data


def prepared_chunks(path: str, parser: str) -> Iterator[tuple[int, list[_Pending | ParseProblem]]]:
    """(bytes read so far, prepared items) from the child process, in file order."""
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
            yield message
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
    try:
        for read, items in prepared_chunks(path, parser):
            for item in items:
                if isinstance(item, ParseProblem):
                    writer.problem(item)
                else:
                    writer.add_prepared(item)
            if progress is not None:
                progress(read)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


if __name__ == "__main__":
    produce(sys.argv[1], sys.argv[2], sys.stdout.buffer)
