"""The S3 blob backend against a real S3-compatible server (moto in server mode, free port)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from crawler.blobs import open_blob_store
from crawler.blobs_s3 import S3BlobStore
from crawler.errors import NotFound, Unavailable
from tests.conftest import ADMIN_TOKEN, amber_env
from tests.fleet_support import wait_until
from tests.services import AmberServer, free_port
from tests.site import TestSite

KEYS = {"access_key_id": "amber-test", "secret_access_key": "amber-test-secret"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def make_bucket(endpoint: str, name: str) -> None:
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEYS["access_key_id"],
        aws_secret_access_key=KEYS["secret_access_key"],
        region_name="us-east-1",
    ).create_bucket(Bucket=name)


@pytest.fixture
def store(s3_endpoint: str, request: pytest.FixtureRequest) -> S3BlobStore:
    bucket = f"blobs-{request.node.name[5:30].replace('_', '-').lower()}"
    make_bucket(s3_endpoint, bucket)
    opened = open_blob_store(f"s3://{bucket}/archive", endpoint_url=s3_endpoint, **KEYS)
    assert isinstance(opened, S3BlobStore)
    return opened


def object_keys(store: S3BlobStore) -> list[str]:
    listed = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_put_get_exists_and_dedup(store: S3BlobStore, tmp_path: Path) -> None:
    # Given a file and the same bytes again in memory
    data = b"amber blob " * 1000
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    # When both are stored
    from_file = store.put_file(path)
    from_bytes = store.put_bytes(data)

    # Then they are one object, named by its hash under the prefix
    assert from_file == from_bytes
    assert (from_file.sha256, from_file.size) == (digest, len(data))
    assert object_keys(store) == [f"archive/{digest[:2]}/{digest[2:4]}/{digest}"]
    assert store.exists(digest)
    assert store.read(digest) == data
    with store.open(digest) as stream:
        assert stream.read(11) == b"amber blob "
    assert list(store.iter_hashes()) == [digest]
    assert store.local_path(digest) is None
    # And the file itself is left alone
    assert path.read_bytes() == data


def test_missing_and_deleted_blobs_are_not_found(store: S3BlobStore) -> None:
    # Given a stored blob
    ref = store.put_bytes(b"short-lived")

    # When it is deleted
    store.delete(ref.sha256)

    # Then it no longer exists, and reading it (or a malformed name) is NotFound
    assert not store.exists(ref.sha256)
    with pytest.raises(NotFound):
        store.read(ref.sha256)
    with pytest.raises(NotFound):
        store.open("../../etc/passwd")
    assert not store.exists("not-a-hash")


def test_large_file_streams_up_in_parts(store: S3BlobStore, tmp_path: Path) -> None:
    # Given a 20 MiB file (above boto's 8 MiB multipart threshold)
    path = tmp_path / "big.bin"
    with path.open("wb") as handle:
        for _ in range(20):
            handle.write(os.urandom(1024 * 1024))

    # When it is stored
    ref = store.put_file(path)

    # Then it went up as a multipart upload (its ETag counts the parts)
    key = object_keys(store)[0]
    assert "-" in store.client.head_object(Bucket=store.bucket, Key=key)["ETag"]
    # And it reads back byte for byte
    digest = hashlib.sha256()
    with store.open(ref.sha256) as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    assert digest.hexdigest() == ref.sha256
    assert ref.size == 20 * 1024 * 1024


def test_unreachable_endpoint_is_unavailable() -> None:
    # Given a store whose endpoint has nothing listening
    store = S3BlobStore("s3://nowhere/x", endpoint_url=f"http://127.0.0.1:{free_port()}", **KEYS)

    # When / Then any call is Unavailable, not a boto exception
    with pytest.raises(Unavailable):
        store.put_bytes(b"lost")


def test_capture_stores_outputs_in_s3_and_api_reads_them_back(
    site: TestSite, s3_endpoint: str, tmp_path: Path
) -> None:
    # Given `amber serve` whose blobs live in an S3 bucket
    make_bucket(s3_endpoint, "capture-blobs")
    env = amber_env(
        tmp_path,
        AMBER_BLOB_URL="s3://capture-blobs/fleet",
        AMBER_S3_ENDPOINT_URL=s3_endpoint,
        AMBER_S3_ACCESS_KEY_ID=KEYS["access_key_id"],
        AMBER_S3_SECRET_ACCESS_KEY=KEYS["secret_access_key"],
    )
    server = AmberServer(env=env).start()
    try:
        with httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as client:
            # When a page is captured
            added = client.post("/api/v1/cli/add", json={"urls": [site.url("/p/77")]})
            [snapshot_id] = added.json()["snapshot_ids"]

            def finished() -> dict[str, Any] | None:
                got = client.get(f"/api/v1/core/snapshot/{snapshot_id}").json()
                return got if got["status"] in ("succeeded", "failed") else None

            snapshot = wait_until(finished, timeout=90, what="the capture")

            # Then its outputs are objects in the bucket, served back through the API
            assert snapshot["status"] == "succeeded", snapshot
            results = {r["plugin"]: r for r in snapshot["archiveresults"]}
            screenshot = client.get(f"/archive/{snapshot['timestamp']}/screenshot.png")
            assert screenshot.status_code == 200
            assert screenshot.content.startswith(b"\x89PNG")
            dom = client.get(
                f"/archive/{snapshot['timestamp']}/{results['dom']['output_files'][0]}"
            )
            assert b"Page 77" in dom.content
    finally:
        server.stop()
    bucket = S3BlobStore("s3://capture-blobs/fleet", endpoint_url=s3_endpoint, **KEYS)
    stored = set(bucket.iter_hashes())
    assert hashlib.sha256(screenshot.content).hexdigest() in stored
    assert len(stored) >= len([r for r in results.values() if r["output_files"]])
