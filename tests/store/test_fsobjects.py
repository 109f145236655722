"""Object stores over fsspec: the same layout, write and checks as the local cache."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import time
import uuid
from pathlib import Path

import pytest

from nb_mlops.errors import RemoteError
from nb_mlops.store.fsobjects import FsObjectDB
from nb_mlops.store.objects import HashMismatch


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def memory() -> FsObjectDB:
    import fsspec

    bucket = f"nbm-fs-{uuid.uuid4().hex[:8]}"
    store = FsObjectDB(f"memory://{bucket}", "cloud", write=True)
    yield store
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{bucket}"):
        fs.rm(f"/{bucket}", recursive=True)


def test_nothing_is_opened_until_asked(tmp_path: Path) -> None:
    folder = tmp_path / "remote"
    store = FsObjectDB(str(folder), "origin", write=True)
    assert not folder.exists()
    assert not store.has(md5(b"x"))  # the first question opens it, and makes its folder
    assert (folder / "files" / "md5").is_dir()


def test_write_read_and_index_in_dvc_s_layout(memory: FsObjectDB) -> None:
    data = b"an object"
    h = md5(data)
    memory.write(data, h)
    assert memory.path_of(h).endswith(f"/files/md5/{h[:2]}/{h[2:]}")
    assert memory.has(h) and memory.read_bytes(h) == data
    assert memory.index([h, md5(b"absent")]) == {h: len(data)}
    assert memory.list_prefix(h[:2]) == {h: len(data)}
    assert memory.describe(h) == f"object {h} from remote cloud"
    assert memory.missing(h).startswith(f"object {h} is not on remote cloud (memory://")


def test_bytes_that_do_not_match_their_name_never_land(memory: FsObjectDB) -> None:
    with pytest.raises(HashMismatch):
        memory.write(io.BytesIO(b"these bytes"), md5(b"other bytes"))
    assert not memory.has(md5(b"other bytes"))
    assert not [p for p in memory.fs.find(memory.root) if "/.tmp-" in p]


def test_files_beside_the_objects(memory: FsObjectDB) -> None:
    assert memory.read_file("nbmlops/datasets/a.json") is None
    memory.put_file("nbmlops/datasets/a.json", b"{}")
    assert memory.read_file("nbmlops/datasets/a.json") == b"{}"
    assert memory.list_files("nbmlops/datasets") == ["a.json"]


def test_an_unreachable_store_names_itself(tmp_path: Path) -> None:
    store = FsObjectDB(str(tmp_path / "gone" / "drive"), "usb", write=True)
    with pytest.raises(RemoteError, match=r"remote usb \(.*drive\) is unreachable: .*mounted"):
        store.connect()
    reader = FsObjectDB(str(tmp_path / "nowhere"), "usb", write=False)
    with pytest.raises(RemoteError, match="does not exist"):
        reader.has(md5(b"x"))


def _temp(folder: Path, name: str, age_s: float) -> Path:
    path = folder / name
    path.write_bytes(b"half an object")
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


@pytest.mark.parametrize("writable", [True, False], ids=["push", "pull"])
def test_listing_a_folder_for_a_push_removes_its_stale_temps(
    tmp_path: Path, writable: bool
) -> None:
    # Issue 10, point 18: temps left by a killed push go once over an hour old.
    folder = tmp_path / "remote"
    data = b"an object"
    h = md5(data)
    FsObjectDB(str(folder), "origin", write=True).write(data, h)
    prefix = folder / "files" / "md5" / h[:2]
    old = _temp(prefix, ".tmp-killed", 2 * 3600)
    fresh = _temp(prefix, ".tmp-running", 60)
    store = FsObjectDB(str(folder), "origin", write=writable)
    assert store.list_prefix(h[:2]) == {h: len(data)}
    assert old.exists() is not writable  # only a push (a writer) sweeps
    assert fresh.exists()


def test_a_memory_store_sweeps_by_its_own_times(memory: FsObjectDB) -> None:
    h = md5(b"x")
    memory.write(b"x", h)
    folder = memory.path_of(h).rsplit("/", 1)[0]
    memory.fs.pipe(f"{folder}/.tmp-old", b"partial")
    two_hours_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    memory.fs.store[f"{folder}/.tmp-old"].created = two_hours_ago
    memory.fs.pipe(f"{folder}/.tmp-new", b"partial")
    assert memory.list_prefix(h[:2]) == {h: 1}
    left = sorted(p.rsplit("/", 1)[-1] for p in memory.fs.ls(folder, detail=False))
    assert left == [".tmp-new", h[2:]]
