"""What every parser shares: the entry and problem types, the byte source, small helpers.

A `Source` wraps the uploaded bytes once: it sniffs compression, encoding and
binary junk from the first block, then hands parsers a text stream that decodes
as it reads, so nothing holds the whole file.
"""

from __future__ import annotations

import codecs
import email.utils
import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, TextIO

from crawler.entries import UrlEntry
from crawler.errors import InvalidInput

HEAD_BYTES = 64 * 1024
REPLACEMENT = "\ufffd"
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class ImportEntry(UrlEntry):
    """A URL found in an import file, with where it was found (for error reports)."""

    line: int = 0
    unit: str = "line"


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """Something in the file that could not become a snapshot; it is skipped, not fatal."""

    line: int
    message: str
    unit: str = "line"

    def __str__(self) -> str:
        return f"{self.unit} {self.line}: {self.message}"


Parsed = ImportEntry | ParseProblem


class _Replay(io.RawIOBase):
    """The sniffed head first, then the rest of the underlying stream; counts bytes read."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
        else:
            chunk = self._rest.read(len(buffer))
            n = len(chunk)
            buffer[:n] = chunk
        self.consumed += n
        return n


class _Counted(io.RawIOBase):
    """Counts compressed bytes read, so progress works for gzip input too."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.consumed += len(chunk)
        return len(chunk)


def _sniff_encoding(head: bytes) -> str:
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if head.startswith(bom):
            return name
    if b"\x00" in head:
        raise InvalidInput("this looks like a binary file, not a bookmarks export or URL list")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes  # only for files that are not UTF-8

    best = from_bytes(head).best()
    if best is None or not best.encoding:
        raise InvalidInput("cannot tell this file's text encoding (save it as UTF-8)")
    return str(best.encoding)


class Source:
    """An import file: its head (for format detection), encoding and a streaming reader."""

    def __init__(self, stream: BinaryIO, *, name: str = "-") -> None:
        self.name = name
        self._counter = _Counted(stream)
        raw: BinaryIO = io.BufferedReader(self._counter)  # type: ignore[arg-type]
        head = raw.read(HEAD_BYTES)
        if head[:2] == b"\x1f\x8b":
            try:
                raw = gzip.GzipFile(fileobj=_Replay(head, raw))  # type: ignore[assignment]
                head = raw.read(HEAD_BYTES)
            except (OSError, EOFError) as exc:
                raise InvalidInput(f"{name} is not a valid gzip file: {exc}") from exc
        self.head_bytes = head
        self.encoding = _sniff_encoding(head)
        self.head = codecs.getincrementaldecoder(self.encoding)(errors="replace").decode(head)
        self._replay = _Replay(head, raw)
        self._opened = False

    @property
    def bytes_read(self) -> int:
        """Bytes of the original input consumed so far (for progress bars)."""
        return self._counter.consumed

    def text(self, *, newline: str | None = None) -> TextIO:
        """The decoded text, streamed; undecodable bytes become U+FFFD (reported by parsers)."""
        if self._opened:
            raise RuntimeError("a Source can be read once")
        self._opened = True
        buffered = io.BufferedReader(self._replay, buffer_size=HEAD_BYTES)
        return io.TextIOWrapper(buffered, encoding=self.encoding, errors="replace", newline=newline)

    def chunks(self, size: int = HEAD_BYTES) -> Iterator[str]:
        reader = self.text(newline="")
        while chunk := reader.read(size):
            yield chunk


def source_from_bytes(data: bytes, *, name: str = "-") -> Source:
    return Source(io.BytesIO(data), name=name)


def split_tags(raw: object, *, separators: str = ",") -> tuple[str, ...]:
    """Tag names from a list or a delimited string, trimmed, without blanks or repeats."""
    if raw is None:
        return ()
    if isinstance(raw, str):
        items: Iterable[object] = [raw]
        for sep in separators:
            items = [part for item in items for part in str(item).split(sep)]
    elif isinstance(raw, list | tuple):
        items = raw
    else:
        return ()
    names = [str(item).strip()[:200] for item in items if isinstance(item, str | int)]
    return tuple(dict.fromkeys(name for name in names if name))


def parse_time(value: object) -> datetime | None:
    """Epoch seconds, milliseconds or microseconds, ISO 8601 or RFC 2822; None if unusable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    moment: datetime | None = None
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                try:
                    moment = email.utils.parsedate_to_datetime(text)
                except (TypeError, ValueError, IndexError):
                    return None
    if number is not None:
        if number > 1e14:
            number /= 1_000_000
        elif number > 1e11:
            number /= 1000
        try:
            moment = datetime.fromtimestamp(number, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment if EARLIEST <= moment <= LATEST else None
