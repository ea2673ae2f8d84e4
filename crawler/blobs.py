"""Content-addressed blob storage: bytes are named by their sha256 and stored once.

`BlobStore` is the seam; `LocalBlobStore` keeps blobs on a (possibly shared)
filesystem. Writers hash while they write, so nothing holds a whole blob in
memory. A local write is atomic and durable: bytes go to a temporary file in
the store, are fsynced, renamed into place, and the directory is fsynced, so a
crash or a full disk leaves either the whole blob or none of it; never a
truncated file under a hash name. A full disk raises `StorageFull`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from crawler.errors import NotFound, StorageFull

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

    def modified(self, sha256: str) -> float | None:
        """Unix time the blob was last written (or re-stored); None when it is missing."""

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


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def disk_full_is_storage_full(where: Path) -> Iterator[None]:
    """Turn "no space left" into StorageFull naming the place; other OSErrors pass."""
    try:
        yield
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise StorageFull(
                f"no space left on the data disk ({where}): the capture could not be "
                "stored (free space or grow the disk)"
            ) from exc
        raise


def _fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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

    def _write(self, ref: BlobRef, chunks: Iterator[bytes]) -> BlobRef:
        """Temp file, fsync, rename, fsync the directory; on any failure, no trace left."""
        final = self._path(ref.sha256)
        if final.exists():
            # Stored again: refresh its time, so `amber gc` (which spares recent blobs)
            # cannot free it before the new reference to it is committed.
            with contextlib.suppress(OSError):
                os.utime(final)
            return ref
        with disk_full_is_storage_full(self.root):
            fd, name = tempfile.mkstemp(dir=self.root / "tmp")
            tmp = Path(name)
            try:
                with os.fdopen(fd, "wb") as handle:
                    for chunk in chunks:
                        handle.write(chunk)
                    handle.flush()
                    os.fsync(handle.fileno())
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(final.parent)
        return ref

    def put_file(self, path: Path) -> BlobRef:
        ref = hash_file(path)
        with path.open("rb") as source:
            return self._write(ref, iter(lambda: source.read(CHUNK), b""))

    def put_bytes(self, data: bytes) -> BlobRef:
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        return self._write(ref, iter((data,)))

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

    def modified(self, sha256: str) -> float | None:
        try:
            return self._path(sha256).stat().st_mtime
        except (FileNotFoundError, NotFound):
            return None

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def stale_temporaries(self, older_than: float) -> list[Path]:
        """Temporary files left by writes that died (a crash between write and rename)."""
        now = time.time()
        found = []
        for path in (self.root / "tmp").iterdir():
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > older_than:
                    found.append(path)
        return found


def open_blob_store(url: str, **options: str) -> BlobStore:
    """`s3://bucket/prefix` picks the S3 backend; anything else is a directory."""
    if url.startswith("s3://"):
        from crawler.blobs_s3 import S3BlobStore

        return S3BlobStore(url, **options)
    return LocalBlobStore(Path(url.removeprefix("file://")))
