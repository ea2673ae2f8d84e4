"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2…): the fleet's shared store.

``s3://bucket/prefix`` keeps each blob at ``prefix/ab/cd/<sha256>``, like the
local store. A file is hashed first, so bytes already stored are never sent
again (dedup across snapshots and domains); new bytes are streamed up with
``upload_fileobj``, which switches to multipart for large files, and read back
as a stream. boto3 errors are translated here: a missing key is `NotFound`,
anything else from the endpoint is `Unavailable`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from crawler.blobs import BlobRef, _valid_hash, hash_file
from crawler.errors import InvalidInput, NotFound, Unavailable

MISSING = {"404", "NoSuchKey", "NotFound"}


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in MISSING


@contextlib.contextmanager
def _boto_errors(what: str) -> Iterator[None]:
    """Translate boto's exceptions once, at the boundary."""
    try:
        yield
    except ClientError as exc:
        if _is_missing(exc):
            raise NotFound(f"no blob {what!r}") from exc
        raise Unavailable(f"blob store error on {what}: {exc}") from exc
    except BotoCoreError as exc:
        raise Unavailable(f"blob store is unreachable: {exc}") from exc


class S3BlobStore:
    """Content-addressed blobs in one bucket under one prefix."""

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str = "",
        access_key_id: str = "",
        secret_access_key: str = "",
        region: str = "us-east-1",
        client: Any = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise InvalidInput(f"blob URL {url!r} is not s3://bucket/prefix")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            region_name=region or None,
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 4, "mode": "standard"},
                # Custom endpoints (MinIO, moto, Ceph) rarely do virtual-host buckets.
                s3={"addressing_style": "path" if endpoint_url else "auto"},
            ),
        )

    def _key(self, sha256: str) -> str:
        if not _valid_hash(sha256):
            raise NotFound(f"no blob {sha256!r}")
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def put_file(self, path: Path) -> BlobRef:
        ref = hash_file(path)
        if self.exists(ref.sha256):
            return ref
        with path.open("rb") as handle, _boto_errors(ref.sha256):
            self.client.upload_fileobj(handle, self.bucket, self._key(ref.sha256))
        return ref

    def put_bytes(self, data: bytes) -> BlobRef:
        ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
        if self.exists(ref.sha256):
            return ref
        with _boto_errors(ref.sha256):
            self.client.upload_fileobj(io.BytesIO(data), self.bucket, self._key(ref.sha256))
        return ref

    def exists(self, sha256: str) -> bool:
        if not _valid_hash(sha256):
            return False
        try:
            with _boto_errors(sha256):
                self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
        except NotFound:
            return False
        return True

    def open(self, sha256: str) -> BinaryIO:
        """The object's body as a stream; close it when done."""
        with _boto_errors(sha256):
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))
        return cast(BinaryIO, answer["Body"])

    def open_range(self, sha256: str, offset: int, length: int) -> BinaryIO:
        if length <= 0:
            return io.BytesIO(b"")
        with _boto_errors(sha256):
            answer = self.client.get_object(
                Bucket=self.bucket,
                Key=self._key(sha256),
                Range=f"bytes={offset}-{offset + length - 1}",
            )
        return cast(BinaryIO, answer["Body"])

    def read(self, sha256: str) -> bytes:
        with self.open(sha256) as handle, _boto_errors(sha256):
            return handle.read()

    def local_path(self, sha256: str) -> Path | None:
        return None

    def iter_hashes(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""
        with _boto_errors(f"s3://{self.bucket}/{prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    name = str(item["Key"]).rsplit("/", 1)[-1]
                    if _valid_hash(name):
                        yield name

    def modified(self, sha256: str) -> float | None:
        if not _valid_hash(sha256):
            return None
        try:
            with _boto_errors(sha256):
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
        except NotFound:
            return None
        return float(head["LastModified"].timestamp())

    def delete(self, sha256: str) -> None:
        with _boto_errors(sha256):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))
