"""Parse a file in a second process while this one stores it.

Parsing, URL validation and normalisation are pure Python and hold the GIL;
so does most of storing. A thread cannot overlap them, a process can: the
child parses and keys entries in chunks, the parent only stores. Used for
regular files (the child opens the file itself); stdin is parsed in-process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from crawler.importers import iter_entries
from crawler.importers.base import ParseProblem, Source
from crawler.importers.writer import BulkWriter, ImportSummary, _Pending, prepare

CHUNK = 2000


def _produce(path: str, parser: str, conn: Connection) -> None:
    try:
        with open(path, "rb") as stream:
            source = Source(stream, name=path)
            chunk: list[Any] = []
            for item in iter_entries(source, parser):
                chunk.append(prepare(item))
                if len(chunk) >= CHUNK:
                    conn.send((source.bytes_read, chunk))
                    chunk = []
            conn.send((source.bytes_read, chunk))
        conn.send(None)
    except Exception as exc:  # noqa: BLE001  (reported to the parent, which re-raises)
        conn.send(exc)
    finally:
        conn.close()


def prepared_chunks(path: str, parser: str) -> Iterator[tuple[int, list[_Pending | ParseProblem]]]:
    """(bytes read so far, prepared items) from a child process, in file order."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_produce, args=(path, parser, sender), daemon=True)
    child.start()
    sender.close()
    try:
        while True:
            try:
                message = receiver.recv()
            except EOFError as exc:
                raise RuntimeError("the import's parsing process died") from exc
            if message is None:
                return
            if isinstance(message, Exception):
                raise message
            yield message
    finally:
        receiver.close()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()


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
