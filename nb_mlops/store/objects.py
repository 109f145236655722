"""Content-addressed objects in DVC 3's layout, over any file system.

An object is named by the md5 of its bytes and lives at ``<root>/files/md5/<2 hex>/<30 hex>``; a
folder adds a ``.dir`` object holding its JSON listing (see :mod:`nb_mlops.store.hashing` and
:mod:`nb_mlops.store.listing`). The same layout serves this store's cache, DVC's cache and every
remote, so they are all :class:`ObjectDB` instances: this module holds the layout, the one way an
object is written (bytes go to a ``.tmp-*`` file beside the final name, are hashed on the way,
and are renamed only when they match it), listing reads and error messages. A subclass gives
the few file operations of its file system: :class:`ObjectStore` works on local folders with
direct system calls (the hot path of a 10,000-file snapshot), :class:`FsObjectDB`
(fsobjects.py) on anything fsspec reaches. Moving objects between two of them is
:func:`nb_mlops.store.transfer.transfer`.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nb_mlops.errors import ObjectCorrupt, RefusedError, StoreError
from nb_mlops.store.files import read_error, write_error
from nb_mlops.store.hashing import (
    CHUNK_SIZE,
    HashCache,
    default_workers,
    hash_tree,
    map_in_threads,
    md5_bytes,
    md5_file,
    unchanged,
)
from nb_mlops.store.listing import linked_folder, parse_listing
from nb_mlops.store.lock import hold_shared

__all__ = ["HashMismatch", "ObjectDB", "ObjectInfo", "ObjectStore", "bare", "check_hash"]

HASH = re.compile(r"[0-9a-f]{32}(\.dir)?")
TEMP_PREFIX = ".tmp-"
"""Temporary files of unfinished writes start with this, in every object store."""
OBJECTS_SUBDIR = ("files", "md5")
_SMALL_FILE = 1 << 20  # read whole and stored in one step (see ObjectStore._store_small)
_OBJECT_MODE = 0o444
_CHECKOUT_MODE = 0o644


@dataclass(frozen=True)
class ObjectInfo:
    """What was stored: the object's hash, its size in bytes and how many files it holds."""

    md5: str
    size: int
    nfiles: int

    @property
    def isdir(self) -> bool:
        return self.md5.endswith(".dir")

    def to_dict(self) -> dict:
        return asdict(self)


class HashMismatch(Exception):
    """Bytes written under an object's name hashed to something else (`.got`); nothing landed."""

    def __init__(self, got: str) -> None:
        super().__init__(got)
        self.got = got


def check_hash(md5: str) -> None:
    """Refuse anything that is not an object name (32 hex digits, optionally `.dir`)."""
    if not isinstance(md5, str) or not HASH.fullmatch(md5):
        raise StoreError(f"not an object hash: {md5!r}")


def bare(md5: str) -> str:
    """The md5 of an object's bytes: its name without the ``.dir`` suffix."""
    return md5.removesuffix(".dir")


class ObjectDB:
    """Objects in DVC 3's layout under one root, with the primitives left to subclasses.

    `name` and `where` label the store in messages ("origin", "remote origin (/mnt/x)"); `home`
    is True for this store's own cache, the side a push starts from and a pull ends at.
    """

    name = "objects"
    where = "the object store"
    home = False
    disk = "the"

    # -- layout -----------------------------------------------------------------------------

    def path_of(self, md5: str) -> Any:
        """Where the object ``md5`` (optionally ending in ``.dir``) lives."""
        check_hash(md5)
        return self._join(self._prefix_dir(md5[:2]), md5[2:])

    def _prefix_dir(self, prefix: str) -> Any:
        return self._join(self._join(self._root_dir(), *OBJECTS_SUBDIR), prefix)

    def describe(self, md5: str) -> str:
        """How messages name one of this store's objects."""
        return f"object {md5} in {self.where}"

    def missing(self, md5: str) -> str:
        """The message for an object this store was asked for and does not hold."""
        return f"object {md5} is not in {self.where}"

    # -- what is there ----------------------------------------------------------------------

    def connect(self) -> None:
        """Make sure the store can be reached (a remote is opened on first use)."""

    def has(self, md5: str) -> bool:
        """Whether the object is there (one stat; its bytes are not checked)."""
        return self._isfile(self.path_of(md5))

    def index(self, candidates: Iterable[str], jobs: int | None = None) -> dict[str, int | None]:
        """Which of ``candidates`` this store holds, with their sizes (None when not known)."""
        found = {}
        for h in candidates:
            size = self._size(h)
            if size is not None:
                found[h] = size
        return found

    def list_prefix(self, prefix: str) -> dict[str, int | None]:
        """The objects under one two-hex-digit folder, with their sizes (temps skipped)."""
        found: dict[str, int | None] = {}
        for name, size in self._ls(self._prefix_dir(prefix)):
            md5 = prefix + name
            if HASH.fullmatch(md5):
                found[md5] = size
        return found

    # -- reading ----------------------------------------------------------------------------

    def open_object(self, md5: str) -> BinaryIO:
        """The object's bytes as a stream (FileNotFoundError when it is not there)."""
        return self._open_read(self.path_of(md5))

    def fetch(self, md5: str) -> bytes:
        """The object's bytes, checked against its name: HashMismatch when they do not match,
        FileNotFoundError when the object is not there."""
        with self.open_object(md5) as fin:
            data = fin.read()
        got = md5_bytes(data)
        if got != bare(md5):
            raise HashMismatch(got)
        return data

    def read_bytes(self, md5: str) -> bytes:
        """The object's bytes, checked against its hash (StoreError naming its path if not)."""
        path = self.path_of(md5)
        try:
            return self.fetch(md5)
        except FileNotFoundError:
            raise StoreError(f"no such object: {md5} ({path})") from None
        except HashMismatch as exc:
            raise _corrupt(path, exc.got) from None
        except OSError as exc:
            raise read_error(path, exc) from exc

    def listing(self, dir_md5: str) -> list[dict]:
        """The checked entries of a ``.dir`` object: ``{"md5", "relpath"}`` dicts."""
        if not dir_md5.endswith(".dir"):
            raise StoreError(f"not a folder object: {dir_md5}")
        return parse_listing(self.read_bytes(dir_md5), str(self.path_of(dir_md5)))

    def expand(self, md5s: Iterable[str]) -> set[str]:
        """The given hashes plus the hash of every file listed in each ``.dir`` among them."""
        result: set[str] = set()
        for md5 in md5s:
            result.add(md5)
            if md5.endswith(".dir"):
                result.update(e["md5"] for e in self.listing(md5))
        return result

    # -- writing ----------------------------------------------------------------------------

    def write(
        self,
        source: BinaryIO | bytes,
        md5: str | None = None,
        *,
        on_bytes: Callable[[int], object] | None = None,
        size_hint: int = -1,
        doing: str | None = None,
        disk: str | None = None,
    ) -> tuple[str, int]:
        """Land one object whole and return (md5, size).

        The bytes (a stream, or bytes whose md5 the caller computed as ``md5``) go to a temp file
        beside the object's final name, hashed on the way; they are renamed to that name only
        when they match ``md5`` (else :class:`HashMismatch`, nothing landed). A failure of any
        kind removes the temp; an OSError becomes a StoreError saying what was being ``doing``
        (``disk`` names whose disk filled up, when the message should).
        """
        if md5 is not None:
            check_hash(md5)
            folder = self._prefix_dir(md5[:2])
        else:
            folder = self._join(self._root_dir(), *OBJECTS_SUBDIR)
        tmp = None
        try:
            tmp, fout = self._create_temp(folder)
            with fout:
                if isinstance(source, (bytes, bytearray, memoryview)):
                    _write_all(fout, memoryview(source))
                    got = bare(md5) if md5 is not None else md5_bytes(source)
                    size = len(source)
                else:
                    got, size = _copy_hashing(source, fout, on_bytes, size_hint)
            if md5 is not None and got != bare(md5):
                raise HashMismatch(got)
            name = md5 if md5 is not None else got
            self._commit(tmp, self._location(name), name)
        except BaseException as exc:
            if tmp is not None:
                self._discard(tmp)
            if isinstance(exc, OSError):
                where = f"object {md5} to {self.path_of(md5)}" if md5 else f"an object in {folder}"
                raise StoreError(write_error(exc, doing or f"writing {where}", disk)) from exc
            raise
        return (md5 if md5 is not None else got), size

    def link_in(self, source: ObjectDB, md5: str) -> bool:
        """Take `source`'s object by a hard link instead of a copy, where this store allows it."""
        return False

    def _location(self, md5: str) -> Any:
        """Where object `md5` (already checked) lives, in the form this file system takes."""
        return self.path_of(md5)

    def write_bytes(self, md5: str, data: bytes) -> None:
        """Store ``data`` as object ``md5`` (its md5, computed by the caller) unless it exists."""
        if not self._reuse(md5):
            self.write(data, md5)

    def add_bytes(self, data: bytes) -> str:
        """Store ``data`` (a JSON document, say) as an object; return its md5."""
        md5 = md5_bytes(data)
        self.write_bytes(md5, data)
        return md5

    def add_listing(self, data: bytes) -> str:
        """Store a folder listing (the bytes of a ``.dir`` object); return its ``.dir`` hash."""
        md5 = md5_bytes(data) + ".dir"
        self.write_bytes(md5, data)
        return md5

    def remove_stale_temps(self, older_than_s: float = 3600) -> int:
        """Delete temporary files left by interrupted writes; return how many were deleted.

        Only temps older than ``older_than_s`` go, so writes still in progress are left alone;
        on a local disk a temp some process still holds (a writer holds a shared lock on its
        temp while writing: a stalled write is not a dead one) stays too, however old. Where
        locks are not possible (remotes), age alone decides.
        """
        from nb_mlops.store.lock import remove_unless_held

        limit = time.time() - older_than_s
        local = isinstance(self._root_dir(), Path)  # ObjectStore: writers lock their temps
        top = self._join(self._root_dir(), *OBJECTS_SUBDIR)
        folders = [top] + [
            self._join(top, name) for name in self._subfolders(top) if len(name) == 2
        ]
        removed = 0
        for folder in folders:
            for path, mtime in self._temps(folder):
                if mtime >= limit:
                    continue
                if remove_unless_held(path) if local else self._discard(path):
                    removed += 1
        return removed

    # -- primitives of one file system ------------------------------------------------------

    def _root_dir(self) -> Any:
        raise NotImplementedError

    def _join(self, folder: Any, *names: str) -> Any:
        raise NotImplementedError

    def _isfile(self, path: Any) -> bool:
        raise NotImplementedError

    def _size(self, md5: str) -> int | None:
        """The object's size, or None when it is not there."""
        raise NotImplementedError

    def _ls(self, folder: Any) -> list[tuple[str, int | None]]:
        """(name, size) of the files in `folder` ([] when it does not exist)."""
        raise NotImplementedError

    def _subfolders(self, folder: Any) -> list[str]:
        raise NotImplementedError

    def _temps(self, folder: Any) -> list[tuple[Any, float]]:
        """(path, mtime) of the temporary files in `folder`."""
        raise NotImplementedError

    def _open_read(self, path: Any) -> BinaryIO:
        raise NotImplementedError

    def _create_temp(self, folder: Any) -> tuple[Any, BinaryIO]:
        """A new, uniquely named temp file in `folder` (made when missing), open for writing."""
        raise NotImplementedError

    def _commit(self, tmp: Any, final: Any, md5: str) -> None:
        """Rename a finished temp to its object name (or drop it when the object appeared)."""
        raise NotImplementedError

    def _discard(self, path: Any) -> bool:
        """Remove a file quietly; whether it went."""
        raise NotImplementedError

    def _reuse(self, md5: str) -> bool:
        return self.has(md5)


class ObjectStore(ObjectDB):
    """Objects on the local disk under ``cache_dir``: this store's cache, or DVC's.

    Objects are read-only (0o444). Adding a file copies it (never links: users edit their files
    in place); `link=True` lets objects arriving from another local store be hard-linked, which
    suits a cache of read-only objects such as DVC's.
    """

    home = True
    name = "the local cache"
    disk = "the local"

    def __init__(
        self,
        cache_dir: Path | str,
        hash_cache: HashCache | None = None,
        workers: int | None = None,
        *,
        name: str | None = None,
        home: bool = True,
        link: bool = False,
    ):
        self.cache_dir = Path(cache_dir)
        self.objects_dir = self.cache_dir.joinpath(*OBJECTS_SUBDIR)
        self._objects_str = str(self.objects_dir)
        self.hash_cache = hash_cache
        self.workers = workers or default_workers()
        self.home = home
        self.link = link
        if name is not None:
            self.name = name
        self.where = self.name

    # -- naming (the hot path: no generic joins) ----------------------------------------------

    def path_of(self, md5: str) -> Path:
        """Where the object ``md5`` (optionally ending in ``.dir``) lives."""
        check_hash(md5)
        return self.objects_dir / md5[:2] / md5[2:]

    def has(self, md5: str) -> bool:
        check_hash(md5)
        return os.path.isfile(self._location(md5))

    def describe(self, md5: str) -> str:
        return f"local object {md5}" if self.home else f"object {md5} in {self.name}"

    def _location(self, md5: str) -> str:
        # a string join: Path arithmetic costs more than the rest of storing a small file
        return f"{self._objects_str}/{md5[:2]}/{md5[2:]}"

    def _reuse(self, md5: str) -> bool:
        """Whether the object exists; if so its mtime is refreshed, so that a gc running now
        keeps it through the grace period while the caller writes the record that uses it."""
        check_hash(md5)
        try:
            os.utime(self._location(md5))
        except FileNotFoundError:
            return False
        except OSError:
            return self.has(md5)  # a shared cache we may not touch: existence is enough
        return True

    # -- adding -------------------------------------------------------------------------------

    def add(self, src: Path | str) -> ObjectInfo:
        """Store a file or a folder."""
        src = Path(src)
        if stat.S_ISDIR(_source_stat(src).st_mode):
            return self.add_tree(src)
        return self.add_file(src)

    def add_file(self, src: Path | str, md5: str | None = None) -> ObjectInfo:
        """Copy the file ``src`` into the store.

        When ``md5`` is given (or the hash cache knows the file) and the object exists, nothing is
        read. Otherwise the bytes are hashed while copied; a given ``md5`` that the bytes do not
        match raises :class:`StoreError` and stores nothing.
        """
        src = Path(src)
        seen_ns = time.time_ns()
        st = _source_stat(src)
        if stat.S_ISDIR(st.st_mode):
            raise StoreError(f"is a folder, not a file: {src}")
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"not a regular file: {src}")
        if md5 is not None:
            check_hash(md5)
            if md5.endswith(".dir"):
                raise StoreError(f"a file cannot be stored as folder object {md5}: {src}")
        elif self.hash_cache is not None:
            md5 = self.hash_cache.get(src, st)
        if md5 is not None and self._reuse(md5):
            return ObjectInfo(md5, st.st_size, 1)

        got, size = self._store_file(src, md5, st.st_size)
        if self.hash_cache is not None and md5 is None and unchanged(src, st):
            self.hash_cache.put(src, st, got, seen_ns=seen_ns)
        return ObjectInfo(got, size, 1)

    def ingest(self, root: Path | str, items: list[tuple[str, os.stat_result]]) -> dict[str, str]:
        """Store files whose hash is not known yet, hashing each while it is copied (one read).

        ``items`` are (relpath, stat) under ``root``; returns relpath -> md5 and remembers the
        hashes in the hash cache in one transaction.
        """
        root = Path(root)
        seen_ns = time.time_ns()

        def one(item: tuple[str, os.stat_result]) -> str:
            path = root / item[0]
            if item[1].st_size <= _SMALL_FILE:
                return self._store_small(path)
            return self._store_file(path, None, item[1].st_size)[0]

        # Large files cost CPU (hashing, copying); small ones cost file creations, which many
        # disks serialize. Two pools side by side keep both kinds of work going at once.
        large = [i for i, item in enumerate(items) if item[1].st_size > _SMALL_FILE]
        small = [i for i, item in enumerate(items) if item[1].st_size <= _SMALL_FILE]
        found: dict[int, str] = {}
        errors: list[BaseException] = []

        def run(indices: list[int], workers: int) -> None:
            md5s = map_in_threads(one, [items[i] for i in indices], workers)
            found.update(zip(indices, md5s, strict=True))

        def run_large() -> None:
            try:
                run(large, max(1, min(len(large), os.cpu_count() or 1)))
            except BaseException as exc:
                errors.append(exc)

        side = threading.Thread(target=run_large, name="nb-mlops-large")
        if large:
            side.start()
        try:
            run(small, self.workers)
        finally:
            if large:
                side.join()
        if errors:
            raise errors[0]
        md5s = [found[i] for i in range(len(items))]
        if self.hash_cache is not None:
            fresh = [
                (root / rel, st, md5)
                for (rel, st), md5 in zip(items, md5s, strict=True)
                if unchanged(root / rel, st)
            ]
            self.hash_cache.put_many(fresh, seen_ns=seen_ns)
        return {rel: md5 for (rel, _), md5 in zip(items, md5s, strict=True)}

    def add_tree(
        self, src_dir: Path | str, hashed: tuple[str, list[dict], bytes] | None = None
    ) -> ObjectInfo:
        """Store every file under ``src_dir`` and then its ``.dir`` listing; return the ``.dir``.

        The listing is written last, so a ``.dir`` object on disk means its files were stored.
        ``hashed`` is what :func:`hash_tree` returned for ``src_dir`` when the caller already has
        it (each file is still verified against its hash while it is copied).
        """
        src_dir = Path(src_dir)
        dir_md5, entries, listing = hashed or hash_tree(
            src_dir, cache=self.hash_cache, workers=self.workers
        )
        todo: dict[str, dict] = {}
        for entry in entries:
            if entry["md5"] not in todo and not self._reuse(entry["md5"]):
                todo[entry["md5"]] = entry

        def store(entry: dict) -> ObjectInfo:
            return self.add_file(src_dir.joinpath(*entry["relpath"].split("/")), entry["md5"])

        map_in_threads(store, list(todo.values()), self.workers)
        self.write_bytes(dir_md5, listing)
        return ObjectInfo(dir_md5, sum(e["size"] for e in entries), len(entries))

    def link_in(self, source: ObjectDB, md5: str) -> bool:
        """Hard-link `source`'s object (a local, read-only one) into this store; False when
        linking is not possible here (another file system, or links not allowed)."""
        src = source.path_of(md5)
        if not self.link or not isinstance(src, Path):
            return False
        folder = _mkdir(self.objects_dir / md5[:2])
        tmp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        try:
            os.link(src, tmp)
        except OSError:
            return False
        try:
            self._commit(str(tmp), self.path_of(md5), md5)
        except BaseException:
            self._discard(str(tmp))
            raise
        return True

    # -- reading ------------------------------------------------------------------------------

    def verify(self, md5: str) -> None:
        """Raise :class:`ObjectCorrupt` naming the object's path if its bytes no longer match."""
        path = self.path_of(md5)
        if not path.is_file():
            raise StoreError(f"no such object: {md5} ({path})")
        got = md5_file(path)  # never through the hash cache: the point is to read the bytes
        if got != bare(md5):
            raise _corrupt(path, got)

    def all_objects(self) -> Iterator[tuple[str, int]]:
        """Yield (md5, size) of every object on disk (temporary files excluded)."""
        for prefix in self._subfolders(self.objects_dir):
            if len(prefix) != 2:
                continue
            for md5, size in self.list_prefix(prefix).items():
                if size is not None:
                    yield md5, size

    # -- checking out -------------------------------------------------------------------------

    def checkout_file(self, md5: str, dest: Path | str) -> None:
        """Copy the object to ``dest`` (0o644), verifying it on the way; write-then-rename.

        A ``dest`` the hash cache already knows to hold these bytes is left untouched.
        """
        dest = Path(dest)
        if self._holds(dest, md5):
            return
        tmp = self.stage(md5, dest)
        try:
            os.replace(tmp, dest)
        except OSError as exc:
            self._discard(tmp)
            raise StoreError(write_error(exc, f"checking out object {md5} to {dest}")) from exc

    def stage(self, md5: str, dest: Path | str, label: Path | str | None = None) -> str:
        """Copy the object, verified, into a temporary file beside ``dest``; return its path.

        The caller renames it into place (or removes it): checking out many files in two phases,
        all staged and then all renamed, leaves the workspace untouched when one object is
        corrupt. ``label`` is the path errors name (the file being checked out, when ``dest``
        is a staging place).
        """
        dest = Path(dest)
        shown = label or dest
        src = self.path_of(md5)
        doing = f"checking out object {md5} to {shown}"
        try:
            fin = open(src, "rb", buffering=0)  # noqa: SIM115 (opened apart: own error message)
        except FileNotFoundError:
            raise StoreError(f"no such object: {md5} ({src})") from None
        except OSError as exc:
            raise read_error(src, exc) from exc
        with fin:
            size_hint = os.fstat(fin.fileno()).st_size
            if dest.is_dir() and not dest.is_symlink():
                raise StoreError(f"is a folder, cannot check out a file there: {dest}")
            folder = _mkdir(dest.parent)
            tmp = None
            try:
                tmp, fout = _new_temp(folder, 0o600)
                with fout:
                    got, _ = _copy_hashing(fin, fout, None, size_hint)
                if got != bare(md5):
                    raise _corrupt(src, got)
                os.chmod(tmp, _CHECKOUT_MODE)
            except BaseException as exc:
                if tmp is not None:
                    self._discard(tmp)
                if isinstance(exc, OSError):
                    raise StoreError(write_error(exc, doing)) from exc
                raise
        return tmp

    def checkout_tree(self, dir_md5: str, dest_dir: Path | str, prune: bool = False) -> None:
        """Copy every file of a ``.dir`` object under ``dest_dir``.

        With ``prune``, files under ``dest_dir`` that the listing does not hold are deleted, and
        so are empty folders (a listing holds none), so the folder ends up exactly as stored.
        A folder inside ``dest_dir`` that is a symbolic link on the way to a listed file is
        refused (RefusedError) before anything is written: it could lead outside ``dest_dir``.
        """
        dest_dir = Path(dest_dir)
        entries = self.listing(dir_md5)  # relpaths checked: none leaves dest_dir
        link = linked_folder(dest_dir, [e["relpath"] for e in entries])
        if link is not None:
            raise RefusedError(
                f"cannot check out into {dest_dir}: {link} is a symbolic link "
                f"(to {_link_target(link)}) and nothing is written through a link"
            )
        targets = [(e["md5"], dest_dir.joinpath(*e["relpath"].split("/"))) for e in entries]
        _mkdir(dest_dir)
        map_in_threads(lambda t: self.checkout_file(*t), targets, self.workers)
        if prune:
            _prune(dest_dir, {os.path.normpath(dest) for _, dest in targets})

    # -- removing -----------------------------------------------------------------------------

    def remove(self, md5: str) -> int:
        """Delete the object; return the bytes freed (0 when it was not there)."""
        path = self.path_of(md5)
        try:
            size = path.stat().st_size
            try:
                path.unlink()
            except PermissionError:  # read-only files cannot be deleted on Windows
                path.chmod(_CHECKOUT_MODE)
                path.unlink()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StoreError(f"cannot remove object {path}: {exc.strerror or exc}") from exc
        return size

    # -- internals ----------------------------------------------------------------------------

    def _store_file(self, src: Path, md5: str | None, size_hint: int) -> tuple[str, int]:
        """Copy ``src`` into the store, hashing it on the way."""
        doing = (
            f"writing object {md5} to {self.path_of(md5)}"
            if md5
            else f"writing the object for {src} in {self.objects_dir}"
        )
        try:
            fin = open(src, "rb", buffering=0)  # noqa: SIM115 (opened apart: own error message)
        except OSError as exc:
            raise read_error(src, exc) from exc
        with fin:
            try:
                return self.write(fin, md5, size_hint=size_hint, doing=doing)
            except HashMismatch as exc:
                raise StoreError(
                    f"{src} changed while being stored: expected md5 {md5}, read {exc.got}"
                ) from None

    def _store_small(self, src: Path) -> str:
        """Store a small file in one read: it is read whole, hashed, then written as bytes."""
        try:
            with open(src, "rb", buffering=0) as fin:
                data = fin.read()
        except OSError as exc:
            raise read_error(src, exc) from exc
        return self.add_bytes(data)

    def _holds(self, dest: Path, md5: str) -> bool:
        """Whether the hash cache vouches that ``dest`` already holds object ``md5``."""
        if self.hash_cache is None or md5.endswith(".dir"):
            return False
        try:
            st = os.stat(dest)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and self.hash_cache.get(dest, st) == md5

    # -- primitives: direct system calls ------------------------------------------------------

    def _root_dir(self) -> Path:
        return self.cache_dir

    def _join(self, folder: Any, *names: str) -> Path:
        return Path(folder).joinpath(*names)

    def _prefix_dir(self, prefix: str) -> str:
        return f"{self._objects_str}/{prefix}"

    def _isfile(self, path: Any) -> bool:
        return os.path.isfile(path)

    def _size(self, md5: str) -> int | None:
        check_hash(md5)
        try:
            st = os.stat(self._location(md5))
        except OSError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def _ls(self, folder: Any) -> list[tuple[str, int | None]]:
        out = []
        for entry in _scandir(folder):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed meanwhile
                continue
            if stat.S_ISREG(st.st_mode):
                out.append((entry.name, st.st_size))
        return out

    def _subfolders(self, folder: Any) -> list[str]:
        return [e.name for e in _scandir(folder) if e.is_dir(follow_symlinks=False)]

    def _temps(self, folder: Any) -> list[tuple[Any, float]]:
        out = []
        for entry in _scandir(folder):
            if entry.name.startswith(TEMP_PREFIX):
                try:
                    out.append((entry.path, entry.stat(follow_symlinks=False).st_mtime))
                except OSError:  # gone meanwhile
                    continue
        return out

    def _open_read(self, path: Any) -> BinaryIO:
        return open(path, "rb", buffering=0)  # the caller closes it

    def _create_temp(self, folder: Any) -> tuple[str, BinaryIO]:
        # Created read-only in the object's own folder and renamed there: creating files is
        # what costs most on many disks, so no chmod and no rename across folders.
        try:
            return _new_temp(folder, _OBJECT_MODE)
        except FileNotFoundError:
            _mkdir(Path(folder))
            return _new_temp(folder, _OBJECT_MODE)

    def _commit(self, tmp: Any, final: Any, md5: str) -> None:
        # Should another writer have landed the same object meanwhile, replacing it with the
        # same bytes is harmless; callers asked `_reuse` first, so that is rare.
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # written before its name was known: no prefix folder yet
            _mkdir(Path(final).parent)
            os.replace(tmp, final)

    def _discard(self, path: Any) -> bool:
        try:
            os.unlink(path)
        except OSError:  # gone meanwhile, or not ours to delete: leave it
            return False
        return True


def _scandir(folder: Any) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _link_target(link: Path) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def _corrupt(path: Any, got: str) -> ObjectCorrupt:
    return ObjectCorrupt(f"object {path} is corrupt: its bytes hash to {got}")


def _source_stat(src: Path) -> os.stat_result:
    try:
        return os.stat(src)
    except OSError as exc:
        raise read_error(src, exc) from exc


def _mkdir(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create folder {folder}: {exc.strerror or exc}") from exc
    return folder


def _new_temp(folder: Any, mode: int) -> tuple[str, BinaryIO]:
    """Create a recognisably temporary file in ``folder`` with ``mode``; open for writing, with
    a shared lock held until it is closed, so a sweep of stale temps leaves it alone."""
    path = f"{folder}/{TEMP_PREFIX}{secrets.token_hex(8)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    hold_shared(fd)
    return path, open(fd, "wb", buffering=0)  # the caller closes it


def _copy_hashing(
    fin: BinaryIO, fout: BinaryIO, on_bytes: Callable[[int], object] | None, size_hint: int
) -> tuple[str, int]:
    """Copy ``fin`` to ``fout`` in 1 MiB chunks; return (md5, size) of what went through.

    `on_bytes(n)` hears of each chunk (a progress bar; it raises to stop a copy midway).
    """
    h = hashlib.md5(usedforsecurity=False)
    size = 0
    readinto = getattr(fin, "readinto", None)
    if readinto is not None and size_hint >= 0:
        # A small file gets a buffer of its size: allocating 1 MiB per file would dominate.
        buf = bytearray(max(1, min(CHUNK_SIZE, size_hint + 1)))
        view = memoryview(buf)
        while n := readinto(buf):
            chunk = view[:n]
            h.update(chunk)
            _write_all(fout, chunk)
            size += n
            if on_bytes is not None:
                on_bytes(n)
    else:
        while chunk := fin.read(CHUNK_SIZE):
            h.update(chunk)
            _write_all(fout, memoryview(chunk))
            size += len(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return h.hexdigest(), size


def _write_all(fout: BinaryIO, data: memoryview) -> None:
    """Write all of ``data`` (an unbuffered write may be short)."""
    while data:
        n = fout.write(data)
        if n is None:  # a buffered stream took it all
            return
        data = data[n:]


def _prune(root: Path, keep: set[str]) -> None:
    """Delete files under ``root`` not in ``keep``, then empty folders (a listing has none)."""
    for folder, _, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = os.path.join(folder, name)
            if os.path.normpath(path) not in keep:
                try:
                    os.unlink(path)
                except OSError as exc:
                    raise StoreError(f"cannot remove {path}: {exc.strerror or exc}") from exc
        if folder != str(root) and not os.listdir(folder):
            os.rmdir(folder)
