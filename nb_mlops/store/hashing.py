"""Content hashes in DVC 3's format, and a cache of them keyed on file metadata.

A file's hash is the plain md5 of its bytes. A folder's hash is the md5 of its JSON listing
(``[{"md5": ..., "relpath": ...}, ...]`` sorted by relpath, serialized as DVC 3 serializes it)
followed by ``.dir``. The :class:`HashCache` remembers hashes by (path, inode, mtime_ns, size) in a
small SQLite file so unchanged files are not read again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

from nb_mlops.errors import StoreError
from nb_mlops.store.files import read_error

__all__ = [
    "CHUNK_SIZE",
    "HashCache",
    "default_workers",
    "hash_tree",
    "map_in_threads",
    "md5_bytes",
    "md5_file",
    "serialize_listing",
]

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20  # 1 MiB: large enough that hashlib releases the GIL and syscalls are few
"""Bytes read at a time when hashing or copying."""

_Stat = os.stat_result
_T = TypeVar("_T")
_R = TypeVar("_R")


def md5_bytes(data: bytes) -> str:
    """Return the hex md5 of ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_file(path: Path | str, cache: HashCache | None = None) -> str:
    """Return the hex md5 of the file at ``path``, using ``cache`` when it knows the file."""
    path = Path(path)
    seen_ns = time.time_ns()
    st = _stat_file(path)
    if cache is not None:
        hit = cache.get(path, st)
        if hit is not None:
            return hit
    md5 = _hash_file(path)
    if cache is not None and unchanged(path, st):
        cache.put(path, st, md5, seen_ns=seen_ns)
    return md5


def serialize_listing(entries: Iterable[dict]) -> bytes:
    """Serialize a folder listing exactly as DVC 3 writes a ``.dir`` object.

    DVC 3 (dvc-data ``Tree.as_bytes``) sorts ``{"md5", "relpath"}`` dicts by relpath and writes
    ``json.dumps(listing, sort_keys=True)`` as UTF-8: default separators (``", "`` and ``": "``) and
    ``ensure_ascii`` left on, so non-ASCII names appear as ``\\uXXXX`` escapes. Any key other than
    md5 and relpath (such as size) is left out, as DVC leaves it out of the hashed listing.
    """
    listing = sorted(
        ({"md5": e["md5"], "relpath": e["relpath"]} for e in entries),
        key=lambda e: e["relpath"],
    )
    return json.dumps(listing, sort_keys=True).encode("utf-8")


def scan_tree(
    root: Path | str, cache: HashCache | None = None
) -> tuple[list[tuple[str, os.stat_result]], dict[str, str]]:
    """Every file under ``root`` (relpath, stat) and the md5s the hash cache already knows.

    Symlinks are followed; a symlink loop, a broken symlink or anything that is neither file
    nor folder raises :class:`StoreError` naming the path, so nothing is skipped silently.
    """
    root = Path(root)
    root_st = _stat_any(root)
    if not stat.S_ISDIR(root_st.st_mode):
        raise StoreError(f"not a folder: {root}")
    found = _walk(root, root_st)
    return found, cached_md5s(cache, root, found)


def cached_md5s(
    cache: HashCache | None, root: Path | str, found: list[tuple[str, os.stat_result]]
) -> dict[str, str]:
    """The md5s the hash cache already knows of the files `found` under `root` (relpath ->
    md5), asked in one query."""
    md5s: dict[str, str] = {}
    if cache is None or not found:
        return md5s
    prefix = os.path.join(root, "")
    hits = cache.get_many((prefix + rel, st) for rel, st in found)
    for rel, _ in found:
        hit = hits.get(prefix + rel)
        if hit is not None:
            md5s[rel] = hit
    return md5s


def tree_listing(
    found: list[tuple[str, os.stat_result]], md5s: dict[str, str]
) -> tuple[str, list[dict], bytes]:
    """(dir md5 + ".dir", entries sorted by relpath, listing bytes) once every file has an md5."""
    entries = [
        {"md5": md5s[rel], "relpath": rel.replace(os.sep, "/"), "size": st.st_size}
        for rel, st in found
    ]
    entries.sort(key=lambda e: e["relpath"])
    listing = serialize_listing(entries)
    return md5_bytes(listing) + ".dir", entries, listing


def hash_tree(
    root: Path | str, cache: HashCache | None = None, workers: int | None = None
) -> tuple[str, list[dict], bytes]:
    """Hash every file under ``root`` in parallel; return (dir md5 + ".dir", entries, listing).

    ``entries`` are ``{"md5", "relpath", "size"}`` dicts sorted by relpath (posix separators) and
    ``listing`` is the ``.dir`` object's bytes. Empty folders have no entry, as in DVC.
    """
    root = Path(root)
    seen_ns = time.time_ns()
    found, md5s = scan_tree(root, cache)
    todo = [(rel, st) for rel, st in found if rel not in md5s]
    if todo:
        paths = [Path(root, rel) for rel, _ in todo]
        hashed = map_in_threads(_hash_file, paths, workers or default_workers())
        fresh = []
        for (rel, st), path, md5 in zip(todo, paths, hashed, strict=True):
            md5s[rel] = md5
            if cache is not None and unchanged(path, st):
                fresh.append((path, st, md5))
        if cache is not None and fresh:
            cache.put_many(fresh, seen_ns=seen_ns)
    return tree_listing(found, md5s)


class HashCache:
    """Hashes remembered by (path, inode, mtime_ns, size) in a SQLite file shared by processes.

    The cache is an optimisation, never a source of failure: when the file is locked past the
    timeout, unreadable or damaged, lookups miss and writes are dropped (a damaged file is
    replaced).
    A file modified less than ``racy_window_s`` before it was looked at is not remembered, because a
    same-size rewrite within the file system's timestamp granularity would keep the same key.
    """

    def __init__(self, path: Path | str, timeout_s: float = 2.0, racy_window_s: float = 2.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.racy_window_ns = int(racy_window_s * 1e9)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._broken = False

    def get(self, path: Path | str, st: _Stat) -> str | None:
        """Return the remembered md5 of ``path`` if its metadata still matches ``st``."""
        return self.get_many([(path, st)]).get(str(path))

    def get_many(self, items: Iterable[tuple[Path | str, _Stat]]) -> dict[str, str]:
        """Look up several files at once; return {str(path) as given: md5} for the hits."""
        hits: dict[str, str] = {}
        wanted = {
            _key(path): (str(path), _inode(st), st.st_mtime_ns, st.st_size) for path, st in items
        }
        if not wanted:
            return hits
        keys = list(wanted)
        with self._lock:
            conn = self._connect()
            if conn is None:
                return hits
            try:
                for i in range(0, len(keys), 900):  # SQLite's limit on bound parameters
                    chunk = keys[i : i + 900]
                    marks = ",".join("?" * len(chunk))
                    query = (
                        "SELECT path, inode, mtime_ns, size, md5 FROM hashes"
                        f" WHERE path IN ({marks})"
                    )
                    rows = conn.execute(query, chunk).fetchall()
                    for key, inode, mtime_ns, size, md5 in rows:
                        name, want_inode, want_mtime, want_size = wanted[bytes(key)]
                        if (inode, mtime_ns, size) == (want_inode, want_mtime, want_size):
                            hits[name] = md5
            except sqlite3.Error as exc:
                self._on_error(exc)
        return hits

    def put(self, path: Path | str, st: _Stat, md5: str, seen_ns: int | None = None) -> None:
        """Remember ``md5`` for ``path`` with metadata ``st`` (stat taken at ``seen_ns``)."""
        self.put_many([(path, st, md5)], seen_ns=seen_ns)

    def put_many(
        self, items: Iterable[tuple[Path | str, _Stat, str]], seen_ns: int | None = None
    ) -> None:
        """Remember several hashes in one transaction; skip files modified too recently."""
        limit = (seen_ns if seen_ns is not None else time.time_ns()) - self.racy_window_ns
        rows = [
            (_key(path), _inode(st), st.st_mtime_ns, st.st_size, md5)
            for path, st, md5 in items
            if st.st_mtime_ns < limit
        ]
        if not rows:
            return
        with self._lock:
            conn = self._connect()
            if conn is None:
                return
            try:
                with conn:
                    conn.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)", rows)
            except sqlite3.Error as exc:
                self._on_error(exc)

    def close(self) -> None:
        """Close the SQLite connection (it reopens on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> HashCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> sqlite3.Connection | None:
        """Open (once) the SQLite file; on damage, replace it; on other failure, give up quietly."""
        if self._conn is not None or self._broken:
            return self._conn
        for attempt in range(2):
            try:
                self._conn = self._open()
                return self._conn
            except sqlite3.DatabaseError as exc:
                if attempt == 0 and _is_damage(exc):
                    log.warning("hash cache %s is damaged (%s); starting a new one", self.path, exc)
                    self._discard_file()
                    continue
                log.debug("hash cache %s unavailable: %s", self.path, exc)
                break
            except OSError as exc:
                log.debug("hash cache %s unavailable: %s", self.path, exc)
                break
        self._broken = True
        return None

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self.timeout_s, check_same_thread=False, isolation_level=None
        )
        try:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.OperationalError as exc:  # busy: another process is switching it
                log.debug("hash cache %s: WAL not set: %s", self.path, exc)
            conn.isolation_level = ""  # let `with conn:` open and commit transactions
            with conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS hashes (path BLOB PRIMARY KEY, inode INTEGER,"
                    " mtime_ns INTEGER, size INTEGER, md5 TEXT NOT NULL)"
                )
        except BaseException:
            conn.close()
            raise
        return conn

    def _on_error(self, exc: sqlite3.Error) -> None:
        """Drop the connection after a failed statement; a damaged file is replaced next time."""
        log.debug("hash cache %s: %s", self.path, exc)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if isinstance(exc, sqlite3.DatabaseError) and _is_damage(exc):
            self._discard_file()

    def _discard_file(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.debug("cannot remove %s%s: %s", self.path, suffix, exc)


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    msg = str(exc).lower()
    return "not a database" in msg or "malformed" in msg or "corrupt" in msg


def _key(path: Path | str) -> bytes:
    """The cache key of a path: absolute, as bytes so any file name (even non-UTF-8) fits."""
    return os.fsencode(os.path.abspath(path))


def _inode(st: _Stat) -> int:
    """st_ino as a signed 64-bit integer, the widest SQLite stores."""
    ino = st.st_ino
    return ino - (1 << 64) if ino >= (1 << 63) else ino


def default_workers() -> int:
    """Threads for hashing and copying files: I/O bound, so a few more than the CPUs."""
    return min(32, (os.cpu_count() or 1) + 4)


def map_in_threads(
    fn: Callable[[_T], _R], items: list[_T], workers: int, cancel: Any = None
) -> list[_R]:
    """``[fn(x) for x in items]`` on a thread pool (hashlib and file I/O release the GIL).

    Results are gathered as they complete, so the first error, or Ctrl-C, is seen at once: it
    sets ``cancel`` (a threading.Event the calls may watch, to stop midway and clean up),
    cancels queued calls, and propagates once the running ones finish, so no worker is left
    writing behind the caller's back.
    """
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="nb-mlops")
    try:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        results: list[Any] = [None] * len(items)
        for future in as_completed(futures):
            results[futures[future]] = future.result()
        return results
    except BaseException:
        if cancel is not None:
            cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_buffers = threading.local()


def _chunk_buffer() -> bytearray:
    """This thread's reusable 1 MiB read buffer (allocating one per file costs more than md5)."""
    buf = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = bytearray(CHUNK_SIZE)
    return buf


def sha256_file(path: Path | str) -> str:
    """sha256 of a file's bytes: a second, collision-resistant check beside the md5 that names
    objects (DVC's layout), for artifacts whose bytes get unpickled."""
    return _hash_file(Path(path), hashlib.sha256())


def _hash_file(path: Path, h: Any = None) -> str:
    """md5 (or the hash `h`) of a file's bytes, read 1 MiB at a time into one reused buffer."""
    h = hashlib.md5(usedforsecurity=False) if h is None else h
    buf = _chunk_buffer()
    view = memoryview(buf)
    try:
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
    except OSError as exc:
        raise read_error(path, exc) from exc
    return h.hexdigest()


def unchanged(path: Path, before: _Stat) -> bool:
    """True when the file still has the metadata seen before it was read (so its hash may be
    cached, or a copy of it trusted)."""
    try:
        after = os.stat(path)
    except OSError:
        return False
    return (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )


def _stat_any(path: Path) -> _Stat:
    """stat following symlinks, with errors that name the path."""
    try:
        return os.stat(path)
    except OSError as exc:
        raise read_error(path, exc) from exc


def _stat_file(path: Path) -> _Stat:
    st = _stat_any(path)
    if stat.S_ISDIR(st.st_mode):
        raise StoreError(f"is a folder, not a file: {path}")
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"not a regular file: {path}")
    return st


def _walk(root: Path, root_st: _Stat) -> list[tuple[str, _Stat]]:
    """List (relpath with os separators, stat) of every file under ``root``, following symlinks.

    A folder reached again through a symlink while already inside it is a loop and raises.
    """
    found: list[tuple[str, _Stat]] = []
    # Each stack item: (folder path, relpath prefix, identities of the folder and its ancestors).
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
        (str(root), "", frozenset({(root_st.st_dev, root_st.st_ino)}))
    ]
    while stack:
        folder, prefix, ancestors = stack.pop()
        try:
            with os.scandir(folder) as it:
                items = list(it)
        except OSError as exc:
            raise read_error(folder, exc) from exc
        for entry in items:
            rel = prefix + entry.name
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                raise read_error(entry.path, exc) from exc
            if stat.S_ISDIR(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                if ident in ancestors:
                    raise StoreError(
                        f"symlink loop at {entry.path} -> {os.readlink(entry.path)}"
                        if entry.is_symlink()
                        else f"folder loop at {entry.path}"
                    )
                stack.append((entry.path, rel + os.sep, ancestors | {ident}))
            elif stat.S_ISREG(st.st_mode):
                found.append((rel, st))
            else:
                raise StoreError(f"not a regular file or folder: {entry.path}")
    return found
