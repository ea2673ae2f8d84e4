"""Content-addressed blob storage: bytes are named by their sha256 and stored once.

`BlobStore` is the seam; `LocalBlobStore` keeps blobs on a (possibly shared)
filesystem. Writers hash while they write, so nothing holds a whole blob in
memory.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from crawler.errors import NotFound

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlobRef:
    sha256: str
    size: int


class BlobStore(Protocol):
    def put_file(self, path: Path) -> BlobRef:
        """Store the file's bytes (the file itself is left alone)."""

    def put_bytes(self, data: bytes) -> BlobRef: ...

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO:
        """A readable stream of the blob; raises NotFound."""

    def open_range(self, sha256: str, offset: int, length: int) -> BinaryIO:
        """`length` bytes from `offset` (one WARC record), without reading the rest."""

    def read(self, sha256: str) -> bytes: ...

    def local_path(self, sha256: str) -> Path | None:
        """A filesystem path when the backend has one (lets the API use sendfile)."""

    def iter_hashes(self) -> Iterator[str]: ...

    def delete(self, sha256: str) -> None: ...


def hash_file(path: Path) -> BlobRef:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return BlobRef(digest.hexdigest(), size)


class HashingWriter:
    """A write-only file wrapper that hashes what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def tell(self) -> int:
        return self.size


class LimitedReader(io.RawIOBase):
    """At most `limit` bytes of `raw`; closing it closes `raw`."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self.raw = raw
        self.left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            return 0
        view = memoryview(buffer)[: self.left]
        data = self.raw.read(len(view))
        view[: len(data)] = data
        self.left -= len(data)
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def _valid_hash(sha256: str) -> bool:
    return len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)


class LocalBlobStore:
    """Blobs at ``root/ab/cd/abcd…``; writes land via rename so readers never see half a blob."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)

    def _path(self, sha256: str) -> Path:
        if not _valid_hash(sha256):
            raise NotFound(f"no blob {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _commit(self, tmp_path: Path, ref: BlobRef) -> BlobRef:
        final = self._path(ref.sha256)
        if final.exists():
            tmp_path.unlink(missing_ok=True)
            return ref
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, final)
        return ref

    def _tmp(self) -> tuple[int, Path]:
        fd, name = tempfile.mkstemp(dir=self.root / "tmp")
        return fd, Path(name)

    def put_file(self, path: Path) -> BlobRef:
        ref = hash_file(path)
        if self.exists(ref.sha256):
            return ref
        fd, tmp = self._tmp()
        os.close(fd)
        shutil.copyfile(path, tmp)
        return self._commit(tmp, ref)

    def put_bytes(self, data: bytes) -> BlobRef:
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        if self.exists(ref.sha256):
            return ref
        fd, tmp = self._tmp()
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return self._commit(tmp, ref)

    def exists(self, sha256: str) -> bool:
        return _valid_hash(sha256) and self._path(sha256).exists()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self._path(sha256).open("rb")
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {sha256!r}") from exc

    def open_range(self, sha256: str, offset: int, length: int) -> BinaryIO:
        handle = self.open(sha256)
        handle.seek(max(offset, 0))
        return cast(BinaryIO, LimitedReader(handle, max(length, 0)))

    def read(self, sha256: str) -> bytes:
        with self.open(sha256) as handle:
            return handle.read()

    def local_path(self, sha256: str) -> Path | None:
        path = self._path(sha256)
        return path if path.exists() else None

    def iter_hashes(self) -> Iterator[str]:
        for path in self.root.glob("??/??/*"):
            if _valid_hash(path.name):
                yield path.name

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)


def open_blob_store(url: str, **options: str) -> BlobStore:
    """`s3://bucket/prefix` picks the S3 backend; anything else is a directory."""
    if url.startswith("s3://"):
        from crawler.blobs_s3 import S3BlobStore

        return S3BlobStore(url, **options)
    return LocalBlobStore(Path(url.removeprefix("file://")))
