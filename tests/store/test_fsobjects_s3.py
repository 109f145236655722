"""Object stores on S3 (a real S3-compatible server, moto, on loopback): objects PUT straight to
their names and landing only when whole and right, parallel transfers, and one-line errors."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from loopback import free_port
from store.moto_s3 import Bucket

from nb_mlops.errors import RemoteError, StoreError
from nb_mlops.store.fsobjects import NETWORK_JOBS, SMALL_READ, FsObjectDB
from nb_mlops.store.objects import HashMismatch, ObjectStore
from nb_mlops.store.transfer import transfer

pytestmark = pytest.mark.slow

PART = 5 * 2**20  # S3's smallest multipart part: a store with this block size goes multipart early


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def store(bucket: Bucket, *, write: bool = True, **options: Any) -> FsObjectDB:
    options.setdefault("client_kwargs", {"endpoint_url": bucket.endpoint})
    return FsObjectDB(bucket.url, "cloud", write=write, options=options)


def requests(db: FsObjectDB) -> Counter:
    """A counter of the S3 operations `db` sends from now on (PutObject, CopyObject, ...)."""
    db.connect()
    seen: Counter = Counter()

    def count(request: Any, event_name: str, **kwargs: Any) -> None:
        seen[event_name.rsplit(".", 1)[-1]] += 1

    db.fs.s3.meta.events.register("before-send.s3", count)
    return seen


def test_an_object_is_put_once_straight_to_its_name(s3: Bucket) -> None:
    db = store(s3)
    sent = requests(db)
    data = b"an object"
    h = md5(data)
    assert db.write(io.BytesIO(data), h, size_hint=len(data)) == (h, len(data))
    assert sent == Counter({"PutObject": 1})  # no temp, no copy, no delete: one request
    assert s3.stored_keys() == [f"project/files/md5/{h[:2]}/{h[2:]}"]
    assert db.read_bytes(h) == data and db.index([h]) == {h: len(data)}


def test_a_version_list_is_one_put_too(s3: Bucket) -> None:
    db = store(s3)
    sent = requests(db)
    db.put_file("nbmlops/datasets/a.json", b"{}")
    assert sent == Counter({"PutObject": 1})
    assert db.read_file("nbmlops/datasets/a.json") == b"{}"
    assert db.list_files("nbmlops/datasets") == ["a.json"]


@pytest.mark.parametrize("size", [100, 2 * PART + 1], ids=["small", "multipart"])
def test_bytes_that_do_not_match_their_name_never_land(s3: Bucket, size: int) -> None:
    db = store(s3, default_block_size=PART)
    data = os.urandom(size)
    with pytest.raises(HashMismatch):
        db.write(io.BytesIO(data), md5(b"other bytes"), size_hint=size)
    assert s3.stored_keys() == []
    assert s3.multipart_uploads() == []  # the parts sent were aborted, not left to bill


class _Breaks(io.RawIOBase):
    """A source that gives `good` bytes, then fails (a local disk error, a Ctrl-C)."""

    def __init__(self, good: int, error: BaseException) -> None:
        self.left = good
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise self.error
        n = min(len(buffer), self.left, 1 << 20)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


@pytest.mark.parametrize(
    ("error", "raised"),
    [(OSError(5, "Input/output error"), StoreError), (KeyboardInterrupt(), KeyboardInterrupt)],
    ids=["read-error", "ctrl-c"],
)
def test_a_write_stopped_midway_leaves_nothing(
    s3: Bucket, error: BaseException, raised: type[BaseException]
) -> None:
    db = store(s3, default_block_size=PART)
    with pytest.raises(raised):
        db.write(_Breaks(2 * PART + 10, error), md5(b"whatever"), size_hint=3 * PART)
    assert s3.stored_keys() == []
    assert s3.multipart_uploads() == []  # two parts had been sent: the upload was aborted


def test_a_large_object_lands_in_parts(s3: Bucket) -> None:
    db = store(s3, default_block_size=PART)
    data = os.urandom(2 * PART + 12345)
    h = md5(data)
    sent = requests(db)
    db.write(io.BytesIO(data), h, size_hint=len(data))
    assert sent["CreateMultipartUpload"] == 1 and sent["CompleteMultipartUpload"] == 1
    assert sent["CopyObject"] == 0 and sent["DeleteObject"] == 0
    assert db.read_bytes(h) == data


def test_transfers_overlap_against_s3(s3: Bucket, tmp_path: Path) -> None:
    """Each PUT is held 50 ms on its way out (inside botocore's event loop, so only requests
    really in flight together overlap): 48 objects take far less than 48 x 50 ms."""
    cache = ObjectStore(tmp_path / "cache")
    hashes = [cache.add_bytes(os.urandom(200)) for _ in range(48)]
    db = store(s3)
    db.connect()
    flight = {"now": 0, "most": 0}

    async def slow(request: Any, **kwargs: Any) -> None:
        flight["now"] += 1
        flight["most"] = max(flight["most"], flight["now"])
        await asyncio.sleep(0.05)
        flight["now"] -= 1

    db.fs.s3.meta.events.register("before-send.s3.PutObject", slow)
    started = time.monotonic()
    report = transfer(cache, db, hashes, progress=False)
    took = time.monotonic() - started
    assert report.moved == 48
    assert flight["most"] == NETWORK_JOBS  # as many in flight as there are threads
    assert took < 48 * 0.05 / 3, took
    assert transfer(cache, store(s3), hashes, progress=False).moved == 0  # all there now


def test_a_missing_bucket_is_an_error_and_is_never_created(s3: Bucket) -> None:
    gone = Bucket(s3.server, s3.name + "-missing")
    for write in (True, False):
        with pytest.raises(RemoteError) as refused:
            store(gone, write=write).connect()
        message = str(refused.value)
        assert message.startswith(f"remote cloud ({gone.url}): bucket {gone.name} does not")
        assert "\n" not in message
    assert not s3.server.fs().exists(gone.name)


def test_missing_credentials_say_where_they_come_from(
    s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(RemoteError) as refused:
        store(s3).connect()
    assert str(refused.value) == (
        f"remote cloud ({s3.url}): no usable AWS credentials (NoCredentialsError: Unable to "
        "locate credentials); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
        "(or the remote's profile) with ~/.aws/credentials"
    )


def test_credentials_from_a_profile_of_the_aws_files(
    s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[team]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    db = store(s3, profile="team")
    db.write(b"x", md5(b"x"))
    assert db.has(md5(b"x"))
    with pytest.raises(RemoteError, match=r"remote cloud \(.*\): no usable AWS .*\(nope\)"):
        store(s3, profile="nope").connect()


def test_an_unreachable_endpoint_fails_in_one_line(
    s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries: seconds otherwise
    dead = f"http://127.0.0.1:{free_port()}"
    db = store(s3, client_kwargs={"endpoint_url": dead})
    with pytest.raises(RemoteError) as refused:
        db.connect()
    message = str(refused.value)
    assert message.startswith(f"remote cloud ({s3.url}) is unreachable: ")
    assert dead in message and "\n" not in message


@pytest.mark.parametrize("size", [3000, SMALL_READ + 1], ids=["one-get", "streamed"])
def test_a_connection_lost_while_pulling_leaves_no_partial_object(
    s3: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    db = store(s3)
    data = os.urandom(size)
    db.write(data, md5(data))
    reader = store(s3, write=False)
    reader.connect()

    def cut(**kwargs: Any) -> None:
        from botocore.exceptions import ConnectionClosedError

        raise ConnectionClosedError(endpoint_url=s3.endpoint)

    reader.fs.s3.meta.events.register("before-send.s3.GetObject", cut)
    reader.fs.retries = 1  # s3fs's own retries of a dropped connection: 10 s otherwise
    cache = ObjectStore(tmp_path / "cache")
    with pytest.raises(RemoteError) as failed:
        transfer(reader, cache, [md5(data)], progress=False)
    message = str(failed.value)
    assert message.startswith(f"cannot read from remote cloud ({s3.url}): ConnectionClosedError")
    assert "\n" not in message
    assert not cache.has(md5(data))
    objects = tmp_path / "cache" / "files" / "md5"
    assert not [p for p in objects.rglob("*") if p.is_file()]  # no temp left either


def test_a_pull_of_small_objects_asks_one_get_each(s3: Bucket, tmp_path: Path) -> None:
    cache = ObjectStore(tmp_path / "cache")
    hashes = [cache.add_bytes(os.urandom(300)) for _ in range(40)]  # above PROBE_LIMIT: listed
    transfer(cache, store(s3), hashes, progress=False)
    reader = store(s3, write=False)
    sent = requests(reader)
    assert transfer(reader, ObjectStore(tmp_path / "back"), hashes, progress=False).moved == 40
    assert sent["GetObject"] == 40 and sent["HeadObject"] == 0
    assert sent["ListObjectsV2"] == len({h[:2] for h in hashes})
