"""The content-addressed object store in DVC 3's cache layout."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nb_mlops.errors import ObjectCorrupt, StoreError
from nb_mlops.store import hashing, objects
from nb_mlops.store.hashing import HashCache
from nb_mlops.store.objects import ObjectInfo, ObjectStore

VECTOR = "5fb6b29836c388e093ca0715c872fe2a.dir"
HOUR_AGO_NS = time.time_ns() - 3600 * 10**9


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _write(path: Path, data: bytes | str, old: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if old:  # backdated so the hash cache may remember it
        os.utime(path, ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    return path


def _temps(root: Path) -> list[Path]:
    return list(root.rglob(".tmp-*"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _corrupt(path: Path) -> None:
    """Flip the first byte of a read-only object in place."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    path.chmod(0o444)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / ".nbmlops" / "cache")


@pytest.fixture
def vector_dir(tmp_path: Path) -> Path:
    _write(tmp_path / "vec" / "1", "1")
    _write(tmp_path / "vec" / "2", "2")
    return tmp_path / "vec"


# -- layout and round trips


def test_add_file_layout_mode_and_round_trip(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(2 * hashing.CHUNK_SIZE + 7)
    src = _write(tmp_path / "model.bin", data)
    info = store.add_file(src)
    h = md5(data)
    assert info == ObjectInfo(h, len(data), 1)
    assert info.to_dict() == {"md5": h, "size": len(data), "nfiles": 1}
    path = store.cache_dir / "files" / "md5" / h[:2] / h[2:]
    assert store.path_of(h) == path
    assert path.read_bytes() == data
    assert _mode(path) == 0o444
    assert store.has(h)
    assert store.read_bytes(h) == data
    store.verify(h)

    out = tmp_path / "out" / "model.bin"
    store.checkout_file(h, out)
    assert out.read_bytes() == data
    assert _mode(out) == 0o644
    assert not _temps(tmp_path)


def test_add_bytes(store: ObjectStore) -> None:
    doc = json.dumps({"a": 1}).encode()
    h = store.add_bytes(doc)
    assert h == md5(doc)
    assert store.read_bytes(h) == doc
    assert _mode(store.path_of(h)) == 0o444
    assert store.add_bytes(doc) == h


def test_empty_file(store: ObjectStore, tmp_path: Path) -> None:
    info = store.add(_write(tmp_path / "empty", b""))
    assert info == ObjectInfo(md5(b""), 0, 1)
    assert store.read_bytes(info.md5) == b""


def test_add_tree_dvc_vector(store: ObjectStore, vector_dir: Path) -> None:
    info = store.add_tree(vector_dir)
    assert info == ObjectInfo(VECTOR, 2, 2)
    assert info.isdir
    dir_path = store.cache_dir / "files" / "md5" / "5f" / "b6b29836c388e093ca0715c872fe2a.dir"
    assert store.path_of(VECTOR) == dir_path
    assert dir_path.read_bytes() == (
        b'[{"md5": "c4ca4238a0b923820dcc509a6f75849b", "relpath": "1"},'
        b' {"md5": "c81e728d9d4c2f636f067f89cc14862c", "relpath": "2"}]'
    )
    assert _mode(dir_path) == 0o444
    assert store.listing(VECTOR) == [
        {"md5": md5(b"1"), "relpath": "1"},
        {"md5": md5(b"2"), "relpath": "2"},
    ]
    assert store.has(md5(b"1")) and store.has(md5(b"2"))
    store.verify(VECTOR)


def test_tree_round_trip_with_odd_names(store: ObjectStore, tmp_path: Path) -> None:
    files = {
        "데이터/리뷰 파일.csv": "id,text\n1,좋아요\n",
        "with space/a b.txt": "spaced",
        "nested/deeper/x.bin": os.urandom(5000),
        "dup1": "same",
        "dup2": "same",
    }
    for rel, data in files.items():
        _write(tmp_path / "src" / rel, data)
    info = store.add(tmp_path / "src")
    assert info.nfiles == len(files)
    assert {e["relpath"] for e in store.listing(info.md5)} == set(files)

    dest = tmp_path / "restored"
    store.checkout_tree(info.md5, dest)
    for rel, data in files.items():
        want = data.encode() if isinstance(data, str) else data
        assert (dest / rel).read_bytes() == want
        assert _mode(dest / rel) == 0o644
    assert not _temps(tmp_path)


def test_checkout_tree_prune(store: ObjectStore, vector_dir: Path, tmp_path: Path) -> None:
    info = store.add_tree(vector_dir)
    dest = tmp_path / "dest"
    _write(dest / "extra" / "stale.txt", "old")
    _write(dest / "1", "overwritten")
    store.checkout_tree(info.md5, dest)
    assert (dest / "extra" / "stale.txt").exists()  # kept by default
    assert (dest / "1").read_text() == "1"
    store.checkout_tree(info.md5, dest, prune=True)
    assert sorted(p.name for p in dest.iterdir()) == ["1", "2"]


def test_checkout_refuses_unsafe_listing(store: ObjectStore, tmp_path: Path) -> None:
    listing = json.dumps([{"md5": md5(b"x"), "relpath": "../escape"}], sort_keys=True).encode()
    store.add_bytes(b"x")
    dir_md5 = md5(listing) + ".dir"
    path = store.path_of(dir_md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(listing)
    with pytest.raises(ObjectCorrupt, match="unsafe path"):
        store.checkout_tree(dir_md5, tmp_path / "dest")
    assert not (tmp_path / "escape").exists()


# -- idempotence and errors


def test_adding_an_existing_object_reads_nothing(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _write(tmp_path / "f", "data")
    first = store.add_file(src)
    before = store.path_of(first.md5).stat()

    def no_copy(*args: object) -> None:
        raise AssertionError("copied an object that exists")

    monkeypatch.setattr(objects, "_copy_hashing", no_copy)
    assert store.add_file(src, first.md5) == first
    after = store.path_of(first.md5).stat()
    assert after.st_ino == before.st_ino  # not rewritten...
    assert after.st_mtime_ns >= before.st_mtime_ns  # ...only touched, so gc's grace covers it


def test_add_tree_twice_is_idempotent(store: ObjectStore, vector_dir: Path) -> None:
    assert store.add(vector_dir) == store.add(vector_dir)
    assert len(list(store.all_objects())) == 3


def test_missing_source(store: ObjectStore, tmp_path: Path) -> None:
    for call in (store.add, store.add_file, store.add_tree):
        with pytest.raises(
            StoreError, match=re.escape(f"no such file or folder: {tmp_path / 'nope'}")
        ):
            call(tmp_path / "nope")


def test_given_md5_that_does_not_match(store: ObjectStore, tmp_path: Path) -> None:
    src = _write(tmp_path / "f", "actual")
    with pytest.raises(StoreError, match="changed while being stored"):
        store.add_file(src, md5(b"expected"))
    assert list(store.all_objects()) == []
    assert not _temps(store.cache_dir)


def test_bad_hash_names(store: ObjectStore) -> None:
    for bad in ["", "xyz", "A" * 32, "0" * 31, "../" + "0" * 29]:
        with pytest.raises(StoreError, match="not an object hash"):
            store.path_of(bad)


def test_missing_object(store: ObjectStore, tmp_path: Path) -> None:
    h = md5(b"never stored")
    for call in (store.read_bytes, store.verify):
        with pytest.raises(StoreError, match=f"no such object: {h}"):
            call(h)
    with pytest.raises(StoreError, match=f"no such object: {h}"):
        store.checkout_file(h, tmp_path / "out")


# -- corruption


def test_corruption_detected_by_verify_read_and_checkout(
    store: ObjectStore, tmp_path: Path
) -> None:
    src = _write(tmp_path / "f", os.urandom(3000))
    h = store.add_file(src).md5
    path = store.path_of(h)
    _corrupt(path)
    for call in (store.verify, store.read_bytes):
        with pytest.raises(ObjectCorrupt, match=re.escape(str(path))):
            call(h)
    out = tmp_path / "out" / "f"
    with pytest.raises(ObjectCorrupt, match=re.escape(str(path))):
        store.checkout_file(h, out)
    assert not out.exists()
    assert not _temps(tmp_path / "out")


def test_corrupt_listing(store: ObjectStore, vector_dir: Path) -> None:
    store.add_tree(vector_dir)
    _corrupt(store.path_of(VECTOR))
    with pytest.raises(ObjectCorrupt, match=re.escape(str(store.path_of(VECTOR)))):
        store.listing(VECTOR)
    with pytest.raises(ObjectCorrupt):
        store.verify(VECTOR)


# -- interrupted and failed writes


def _fail_after_first_write(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    real = objects._write_all
    calls = []

    def flaky(fout: object, data: memoryview) -> None:
        calls.append(len(data))
        if len(calls) > 1:
            raise exc
        real(fout, data)

    monkeypatch.setattr(objects, "_write_all", flaky)


def test_interrupted_copy_leaves_no_object_and_no_temp(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 * hashing.CHUNK_SIZE)
    src = _write(tmp_path / "big", data)
    _fail_after_first_write(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        store.add_file(src)
    with pytest.raises(KeyboardInterrupt):
        store.add_file(src, md5(data))
    assert not store.has(md5(data))
    assert list(store.all_objects()) == []
    assert not _temps(store.cache_dir)

    monkeypatch.undo()
    assert store.add_file(src).md5 == md5(data)
    store.verify(md5(data))


def test_disk_full(store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(2 * hashing.CHUNK_SIZE)
    src = _write(tmp_path / "big", data)
    h = md5(data)
    _fail_after_first_write(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(StoreError, match=f"disk full while writing object {h}"):
        store.add_file(src, h)
    with pytest.raises(StoreError, match="disk full"):
        store.add_file(src)
    assert not store.has(h)
    assert not _temps(store.cache_dir)

    monkeypatch.setattr(objects, "_write_all", _raise_enospc)
    with pytest.raises(StoreError, match=f"disk full while writing object {md5(b'doc')}"):
        store.add_bytes(b"doc")
    assert not _temps(store.cache_dir)


def _raise_enospc(fout: object, data: memoryview) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_checkout(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = store.add_file(_write(tmp_path / "f", "data")).md5
    monkeypatch.setattr(objects, "_write_all", _raise_enospc)
    with pytest.raises(StoreError, match="disk full while checking out"):
        store.checkout_file(h, tmp_path / "out" / "f")
    assert list((tmp_path / "out").iterdir()) == []


def test_failed_tree_copy_stores_no_listing(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(12):
        _write(tmp_path / "data" / f"f{i}", f"file {i}")
    real = objects._write_all

    def fail_on_f7(fout: object, data: memoryview) -> None:
        if bytes(data) == b"file 7":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fout, data)

    monkeypatch.setattr(objects, "_write_all", fail_on_f7)
    with pytest.raises(StoreError, match=f"disk full while writing object {md5(b'file 7')}"):
        store.add_tree(tmp_path / "data")
    assert not any(m.endswith(".dir") for m, _ in store.all_objects())
    assert not _temps(store.cache_dir)
    monkeypatch.undo()
    assert store.add_tree(tmp_path / "data").nfiles == 12


def test_stale_temp_does_not_block_and_is_cleaned(store: ObjectStore, tmp_path: Path) -> None:
    data = b"payload"
    h = md5(data)
    folder = store.path_of(h).parent
    folder.mkdir(parents=True)
    stale = _write(folder / ".tmp-crashed", data[:3])  # backdated an hour
    stale_root = _write(store.objects_dir / ".tmp-crashed2", b"x")
    fresh = _write(folder / ".tmp-inprogress", b"y", old=False)

    assert store.add_file(_write(tmp_path / "f", data)).md5 == h
    assert store.read_bytes(h) == data
    assert [m for m, _ in store.all_objects()] == [h]

    assert store.remove_stale_temps(older_than_s=3600 - 60) == 2
    assert not stale.exists() and not stale_root.exists()
    assert fresh.exists()  # a write still in progress is left alone
    assert store.remove_stale_temps(older_than_s=0) == 1


_WRITER_THAT_WAITS = r"""
import sys
from nb_mlops.store.objects import ObjectStore

store = ObjectStore(sys.argv[1])
print(store.write(sys.stdin.buffer)[0], flush=True)  # blocks reading until stdin closes
"""


def _backdate(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _start_waiting_writer(store: ObjectStore) -> subprocess.Popen:
    """A real process writing an object from its stdin: it makes its temp and waits."""
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER_THAT_WAITS, str(store.cache_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=False,
    )
    assert writer.stdin is not None
    writer.stdin.write(b"the first bytes of a slow write")
    writer.stdin.flush()
    deadline = time.monotonic() + 30
    while not _temps(store.cache_dir):
        assert time.monotonic() < deadline, "the writer made no temp"
        assert writer.poll() is None
        time.sleep(0.02)
    return writer


def test_a_temp_a_live_writer_holds_is_kept_however_old(store: ObjectStore) -> None:
    """A stalled write is not a dead one: its process holds a lock on its temp, which the
    sweep respects even when the temp looks an hour old; once the writer is killed, it goes."""
    writer = _start_waiting_writer(store)
    try:
        (temp,) = _temps(store.cache_dir)
        _backdate(temp, 2 * 3600)
        stale = _write(store.objects_dir / "ab" / ".tmp-left-by-a-kill", b"half")
        fresh = _write(store.objects_dir / "ab" / ".tmp-just-made", b"new", old=False)
        _backdate(stale, 3600 + 60)

        assert store.remove_stale_temps(older_than_s=3600) == 1
        assert temp.exists()  # held by a live process
        assert not stale.exists()  # an hour old, held by nobody
        assert fresh.exists()  # young

        assert writer.stdin is not None
        writer.stdin.write(b" and the rest")
        writer.stdin.close()
        assert writer.wait(timeout=30) == 0
        made = writer.stdout.read().decode().strip() if writer.stdout else ""
        assert store.read_bytes(made) == b"the first bytes of a slow write and the rest"
    finally:
        writer.kill()
        writer.wait()
    assert _temps(store.cache_dir) == [fresh]


def test_the_temp_of_a_killed_writer_is_swept_once_old(store: ObjectStore) -> None:
    writer = _start_waiting_writer(store)
    writer.kill()  # kill -9: the lock goes with the process, the temp stays
    writer.wait()
    (temp,) = _temps(store.cache_dir)
    assert store.remove_stale_temps(older_than_s=3600) == 0  # too young to tell
    _backdate(temp, 3600 + 60)
    assert store.remove_stale_temps(older_than_s=3600) == 1
    assert not _temps(store.cache_dir)


# -- expand, all_objects, remove


def test_expand_all_objects_remove(store: ObjectStore, vector_dir: Path, tmp_path: Path) -> None:
    tree = store.add_tree(vector_dir)
    single = store.add_file(_write(tmp_path / "solo", "solo file")).md5
    one, two = md5(b"1"), md5(b"2")
    assert store.expand([tree.md5, single]) == {tree.md5, one, two, single}
    assert store.expand([]) == set()

    sizes = dict(store.all_objects())
    assert sizes == {
        tree.md5: len(store.read_bytes(tree.md5)),
        one: 1,
        two: 1,
        single: len("solo file"),
    }
    assert store.remove(one) == 1
    assert not store.has(one)
    assert store.remove(one) == 0
    assert one not in dict(store.all_objects())


def test_all_objects_on_empty_store(store: ObjectStore) -> None:
    assert list(store.all_objects()) == []
    assert store.remove_stale_temps() == 0


# -- hash cache integration


def test_re_adding_unchanged_tree_reads_and_copies_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(20):
        _write(tmp_path / "data" / f"f{i}.csv", f"row {i}\n" * 100)
    store = ObjectStore(tmp_path / "cache", hash_cache=HashCache(tmp_path / "state"))
    first = store.add(tmp_path / "data")

    def forbidden(*args: object) -> None:
        raise AssertionError("read bytes of an unchanged file")

    monkeypatch.setattr(hashing, "_hash_file", forbidden)
    monkeypatch.setattr(objects, "_copy_hashing", forbidden)
    assert store.add(tmp_path / "data") == first
    assert store.add(tmp_path / "data" / "f3.csv").md5 == md5(b"row 3\n" * 100)


def test_checkout_skips_files_known_to_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _write(tmp_path / "data" / "f", "content")
    store = ObjectStore(tmp_path / "cache", hash_cache=HashCache(tmp_path / "state"))
    store.add_tree(tmp_path / "data")
    calls = []
    real = objects._copy_hashing
    monkeypatch.setattr(objects, "_copy_hashing", lambda *a: calls.append(a) or real(*a))
    store.checkout_file(md5(b"content"), src)  # hash cache vouches for it: untouched
    assert calls == []
    _write(src, "edited, another size")
    store.checkout_file(md5(b"content"), src)
    assert src.read_text() == "content"
    assert len(calls) == 1


def test_concurrent_adds_of_the_same_content(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(hashing.CHUNK_SIZE + 1)
    srcs = [_write(tmp_path / f"copy{i}", data) for i in range(8)]
    errors: list[BaseException] = []

    def add(src: Path) -> None:
        try:
            store.add_file(src)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(s,)) for s in srcs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert list(store.all_objects()) == [(md5(data), len(data))]
    assert not _temps(store.cache_dir)
