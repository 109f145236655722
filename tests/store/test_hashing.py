"""Hashes in DVC 3's format and the metadata-keyed hash cache."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nb_mlops.errors import StoreError
from nb_mlops.store import hashing
from nb_mlops.store.hashing import HashCache, hash_tree, md5_bytes, md5_file, serialize_listing

HOUR_AGO_NS = time.time_ns() - 3600 * 10**9


def _write(path: Path, data: bytes | str, old: bool = True) -> Path:
    """Write a file; ``old`` backdates it so the hash cache may remember it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if old:
        os.utime(path, ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    return path


@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every file whose bytes are hashed."""
    read: list[Path] = []
    real = hashing._hash_file

    def counting(path: Path) -> str:
        read.append(Path(path))
        return real(path)

    monkeypatch.setattr(hashing, "_hash_file", counting)
    return read


# -- plain hashes


def test_md5_bytes_and_file_match_hashlib(tmp_path: Path) -> None:
    big = os.urandom(3 * hashing.CHUNK_SIZE + 12345)  # several chunks and a partial one
    for name, data in [("empty", b""), ("small", b"hello\r\n"), ("big", big)]:
        path = _write(tmp_path / name, data)
        assert md5_file(path) == hashlib.md5(data).hexdigest()
        assert md5_bytes(data) == hashlib.md5(data).hexdigest()


def test_md5_file_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=re.escape(f"no such file or folder: {tmp_path / 'nope'}")):
        md5_file(tmp_path / "nope")
    with pytest.raises(StoreError, match="is a folder"):
        md5_file(tmp_path)


# -- DVC 3 folder hashes


def test_dvc3_test_vector(tmp_path: Path) -> None:
    _write(tmp_path / "d" / "1", "1")
    _write(tmp_path / "d" / "2", "2")
    dir_md5, entries, listing = hash_tree(tmp_path / "d")
    assert dir_md5 == "5fb6b29836c388e093ca0715c872fe2a.dir"
    # DVC 3 writes json.dumps(listing, sort_keys=True): default separators, ASCII escapes.
    assert listing == (
        b'[{"md5": "c4ca4238a0b923820dcc509a6f75849b", "relpath": "1"},'
        b' {"md5": "c81e728d9d4c2f636f067f89cc14862c", "relpath": "2"}]'
    )
    assert entries == [
        {"md5": "c4ca4238a0b923820dcc509a6f75849b", "relpath": "1", "size": 1},
        {"md5": "c81e728d9d4c2f636f067f89cc14862c", "relpath": "2", "size": 1},
    ]
    assert hashlib.md5(listing).hexdigest() + ".dir" == dir_md5


def test_serialize_listing_drops_size_and_sorts() -> None:
    entries = [{"relpath": "b", "md5": "0" * 32, "size": 3}, {"relpath": "a", "md5": "1" * 32}]
    assert (
        serialize_listing(entries)
        == json.dumps(
            [{"md5": "1" * 32, "relpath": "a"}, {"md5": "0" * 32, "relpath": "b"}], sort_keys=True
        ).encode()
    )


def test_nested_relpaths_are_posix_and_sorted_as_strings(tmp_path: Path) -> None:
    for rel in ["a/b", "a-b", "a0", "z/y/x", "A"]:
        _write(tmp_path / rel, rel)
    _, entries, _ = hash_tree(tmp_path)
    relpaths = [e["relpath"] for e in entries]
    # DVC sorts by the relpath string, so "a-b" < "a/b" < "a0" (by code point).
    assert relpaths == ["A", "a-b", "a/b", "a0", "z/y/x"]
    assert all(e["md5"] == md5_bytes(e["relpath"].encode()) for e in entries)


def test_non_ascii_and_spaced_names(tmp_path: Path) -> None:
    names = ["데이터 파일.csv", "my file.txt", "café/naïve résumé.md"]
    for name in names:
        _write(tmp_path / name, name)
    dir_md5, entries, listing = hash_tree(tmp_path)
    assert sorted(e["relpath"] for e in entries) == sorted(names)
    listing.decode("ascii")  # DVC keeps ensure_ascii: non-ASCII names are \\u escapes
    assert b"\\ub370\\uc774\\ud130 \\ud30c\\uc77c.csv" in listing
    assert json.loads(listing) == [{"md5": e["md5"], "relpath": e["relpath"]} for e in entries]
    assert dir_md5 == md5_bytes(listing) + ".dir"


def test_empty_folder_hashes_to_empty_listing(tmp_path: Path) -> None:
    (tmp_path / "only-empty-subfolder").mkdir()
    dir_md5, entries, listing = hash_tree(tmp_path)
    assert (entries, listing) == ([], b"[]")
    assert dir_md5 == "d751713988987e9331980363e24189ce.dir"


def test_parallel_and_serial_agree(tmp_path: Path) -> None:
    for i in range(50):
        _write(tmp_path / f"f{i:02d}", os.urandom(i * 1000))
    assert hash_tree(tmp_path, workers=8) == hash_tree(tmp_path, workers=1)


def test_symlinked_file_and_folder_are_followed(tmp_path: Path) -> None:
    _write(tmp_path / "outside" / "data.txt", "payload")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.txt").symlink_to(tmp_path / "outside" / "data.txt")
    (root / "linkdir").symlink_to(tmp_path / "outside")
    _, entries, _ = hash_tree(root)
    assert [(e["relpath"], e["md5"]) for e in entries] == [
        ("link.txt", md5_bytes(b"payload")),
        ("linkdir/data.txt", md5_bytes(b"payload")),
    ]


def test_symlink_loop_raises_naming_path(tmp_path: Path) -> None:
    _write(tmp_path / "root" / "sub" / "f", "x")
    loop = tmp_path / "root" / "sub" / "back"
    loop.symlink_to(tmp_path / "root")
    with pytest.raises(StoreError, match=re.escape(f"symlink loop at {loop}")):
        hash_tree(tmp_path / "root")


def test_self_referencing_symlink_raises(tmp_path: Path) -> None:
    (tmp_path / "me").symlink_to(tmp_path / "me")
    with pytest.raises(StoreError, match=re.escape(f"symlink loop at {tmp_path / 'me'}")):
        hash_tree(tmp_path)


def test_broken_symlink_raises_naming_path(tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(StoreError, match=re.escape(f"broken symlink: {tmp_path / 'dangling'}")):
        hash_tree(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_file_is_not_skipped(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(StoreError, match=r"not a regular file or folder: .*pipe"):
        hash_tree(tmp_path)


def test_missing_root_and_file_root(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=re.escape(f"no such file or folder: {tmp_path / 'x'}")):
        hash_tree(tmp_path / "x")
    with pytest.raises(StoreError, match="not a folder"):
        hash_tree(_write(tmp_path / "f", "f"))


# -- the hash cache


def test_second_hash_tree_reads_no_bytes(tmp_path: Path, count_reads: list[Path]) -> None:
    root = tmp_path / "data"
    for i in range(5):
        _write(root / "sub" / f"f{i}", f"content {i}")
    cache = HashCache(tmp_path / "state")
    first = hash_tree(root, cache=cache)
    assert len(count_reads) == 5
    assert hash_tree(root, cache=cache) == first
    assert len(count_reads) == 5

    _write(root / "sub" / "f3", "changed content!")  # new size and content
    third = hash_tree(root, cache=cache)
    assert count_reads[5:] == [root / "sub" / "f3"]
    assert third[0] != first[0]


def test_cache_persists_across_instances(tmp_path: Path, count_reads: list[Path]) -> None:
    path = _write(tmp_path / "f", "abc")
    with HashCache(tmp_path / "state") as cache:
        assert md5_file(path, cache) == md5_bytes(b"abc")
    with HashCache(tmp_path / "state") as cache:
        assert md5_file(path, cache) == md5_bytes(b"abc")
    assert count_reads == [path]


def test_cache_keys_on_inode(tmp_path: Path, count_reads: list[Path]) -> None:
    path = _write(tmp_path / "f", "aaa")
    cache = HashCache(tmp_path / "state")
    md5_file(path, cache)
    replacement = _write(tmp_path / "g", "bbb")  # same size and mtime, another inode
    os.replace(replacement, path)
    assert md5_file(path, cache) == md5_bytes(b"bbb")
    assert len(count_reads) == 2


def test_recently_modified_files_are_not_cached(tmp_path: Path, count_reads: list[Path]) -> None:
    path = _write(tmp_path / "f", "fresh", old=False)
    cache = HashCache(tmp_path / "state")
    md5_file(path, cache)
    md5_file(path, cache)
    assert len(count_reads) == 2  # a same-size rewrite within the mtime tick would be missed


def test_damaged_state_file_is_replaced(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_bytes(b"this is not a sqlite database" * 100)
    path = _write(tmp_path / "f", "abc")
    cache = HashCache(state)
    assert md5_file(path, cache) == md5_bytes(b"abc")
    assert cache.get(path, os.stat(path)) == md5_bytes(b"abc")


def test_two_caches_on_one_file_from_many_threads(tmp_path: Path) -> None:
    files = [_write(tmp_path / "d" / f"f{i}", str(i)) for i in range(40)]
    caches = [HashCache(tmp_path / "state"), HashCache(tmp_path / "state")]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for path in files[k::4]:
                assert md5_file(path, caches[k % 2]) == md5_bytes(path.read_bytes())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    fresh = HashCache(tmp_path / "state")
    assert len(fresh.get_many((p, os.stat(p)) for p in files)) == len(files)


def test_state_file_uses_wal(tmp_path: Path) -> None:
    with HashCache(tmp_path / "state") as cache:
        md5_file(_write(tmp_path / "f", "x"), cache)
    conn = sqlite3.connect(tmp_path / "state")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


_WORKER = """
import sys
from nb_mlops.store.hashing import HashCache, hash_tree
cache = HashCache(sys.argv[1])
for _ in range(5):
    print(hash_tree(sys.argv[2], cache=cache)[0])
"""


def test_several_processes_share_one_state_file(tmp_path: Path) -> None:
    for i in range(30):
        _write(tmp_path / "data" / f"f{i}", f"{i}" * i)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [sys.executable, "-c", _WORKER, str(tmp_path / "state"), str(tmp_path / "data")]
    procs = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    expected = hash_tree(tmp_path / "data")[0]
    assert {line for out, _ in results for line in out.split()} == {expected}
    files = [tmp_path / "data" / f"f{i}" for i in range(30)]
    assert len(HashCache(tmp_path / "state").get_many((p, os.stat(p)) for p in files)) == 30
