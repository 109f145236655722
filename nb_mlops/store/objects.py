"""The content-addressed object store, laid out as DVC 3's cache.

Objects live at ``<cache>/files/md5/<2 hex>/<30 hex>``; a folder adds a ``.dir`` object holding its
JSON listing (see :mod:`nb_mlops.store.hashing`). Objects are read-only (0o444) and always land
whole: bytes go to a ``.tmp-*`` file in the cache, are hashed while they are copied and only then
renamed to their final name, so no half-written object ever carries a hash for a name.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from nb_mlops.errors import ObjectCorrupt, StoreError
from nb_mlops.store.hashing import (
    CHUNK_SIZE,
    HashCache,
    default_workers,
    hash_tree,
    map_in_threads,
    md5_bytes,
    md5_file,
)

__all__ = ["ObjectInfo", "ObjectStore"]

_HASH = re.compile(r"[0-9a-f]{32}(\.dir)?")
_TEMP_PREFIX = ".tmp-"
_SMALL_FILE = 1 << 20  # read whole and stored in one step (see _store_small)
_OBJECT_MODE = 0o444
_CHECKOUT_MODE = 0o644
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


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


class ObjectStore:
    """Content-addressed objects under ``cache_dir`` in DVC 3's layout."""

    def __init__(
        self, cache_dir: Path | str, hash_cache: HashCache | None = None, workers: int | None = None
    ):
        self.cache_dir = Path(cache_dir)
        self.objects_dir = self.cache_dir / "files" / "md5"
        self.hash_cache = hash_cache
        self.workers = workers or default_workers()

    # -- naming -------------------------------------------------------------------------------

    def path_of(self, md5: str) -> Path:
        """Where the object ``md5`` (optionally ending in ``.dir``) lives."""
        _check_hash(md5)
        return self.objects_dir / md5[:2] / md5[2:]

    def has(self, md5: str) -> bool:
        """Whether the object is on disk (one stat; its bytes are not checked)."""
        return self.path_of(md5).is_file()

    def _reuse(self, md5: str) -> bool:
        """Whether the object exists; if so its mtime is refreshed, so that a gc running now
        keeps it through the grace period while the caller writes the record that uses it."""
        try:
            os.utime(self.path_of(md5))
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
        """Copy the file ``src`` into the store (never linked: users edit their files in place).

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
            _check_hash(md5)
            if md5.endswith(".dir"):
                raise StoreError(f"a file cannot be stored as folder object {md5}: {src}")
        elif self.hash_cache is not None:
            md5 = self.hash_cache.get(src, st)
        if md5 is not None and self._reuse(md5):
            return ObjectInfo(md5, st.st_size, 1)

        got, size = self._store_file(src, md5, st.st_size)
        if self.hash_cache is not None and md5 is None and _same_file(src, st):
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
                if _same_file(root / rel, st)
            ]
            self.hash_cache.put_many(fresh, seen_ns=seen_ns)
        return {rel: md5 for (rel, _), md5 in zip(items, md5s, strict=True)}

    def add_bytes(self, data: bytes) -> str:
        """Store ``data`` (a JSON document, say) as an object; return its md5."""
        md5 = md5_bytes(data)
        self._store_bytes(md5, data)
        return md5

    def add_listing(self, data: bytes) -> str:
        """Store a folder listing (the bytes of a ``.dir`` object); return its ``.dir`` hash."""
        md5 = md5_bytes(data) + ".dir"
        self._store_bytes(md5, data)
        return md5

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
            return self.add_file(_join_relpath(src_dir, entry["relpath"]), entry["md5"])

        map_in_threads(store, list(todo.values()), self.workers)
        self._store_bytes(dir_md5, listing)
        return ObjectInfo(dir_md5, sum(e["size"] for e in entries), len(entries))

    # -- reading ------------------------------------------------------------------------------

    def read_bytes(self, md5: str) -> bytes:
        """The object's bytes, checked against its hash."""
        path = self.path_of(md5)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"no such object: {md5} ({path})") from None
        except OSError as exc:
            raise StoreError(f"cannot read object {path}: {exc.strerror or exc}") from exc
        got = md5_bytes(data)
        if got != _bare(md5):
            raise _corrupt(path, got)
        return data

    def listing(self, dir_md5: str) -> list[dict]:
        """The parsed listing of a ``.dir`` object: ``{"md5", "relpath"}`` dicts."""
        if not dir_md5.endswith(".dir"):
            raise StoreError(f"not a folder object: {dir_md5}")
        data = self.read_bytes(dir_md5)
        path = self.path_of(dir_md5)
        try:
            entries = json.loads(data)
        except ValueError:
            raise ObjectCorrupt(f"folder object {path} is not valid JSON") from None
        if not isinstance(entries, list) or not all(_is_entry(e) for e in entries):
            raise ObjectCorrupt(f"folder object {path} is not a list of md5/relpath entries")
        return entries

    def verify(self, md5: str) -> None:
        """Raise :class:`ObjectCorrupt` naming the object's path if its bytes no longer match."""
        path = self.path_of(md5)
        if not path.is_file():
            raise StoreError(f"no such object: {md5} ({path})")
        got = md5_file(path)  # never through the hash cache: the point is to read the bytes
        if got != _bare(md5):
            raise _corrupt(path, got)

    def expand(self, md5s: Iterable[str]) -> set[str]:
        """The given hashes plus the hash of every file listed in each ``.dir`` among them."""
        result: set[str] = set()
        for md5 in md5s:
            result.add(md5)
            if md5.endswith(".dir"):
                result.update(e["md5"] for e in self.listing(md5))
        return result

    def all_objects(self) -> Iterator[tuple[str, int]]:
        """Yield (md5, size) of every object on disk (temporary files excluded)."""
        try:
            prefixes = list(os.scandir(self.objects_dir))
        except FileNotFoundError:
            return
        for prefix in prefixes:
            if len(prefix.name) != 2 or not prefix.is_dir(follow_symlinks=False):
                continue
            try:
                items = list(os.scandir(prefix.path))
            except FileNotFoundError:
                continue
            for item in items:
                md5 = prefix.name + item.name
                if not _HASH.fullmatch(md5):
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:  # removed meanwhile
                    continue
                if stat.S_ISREG(st.st_mode):
                    yield md5, st.st_size

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
            _unlink_quiet(tmp)
            raise _write_error(exc, f"checking out object {md5} to {dest}") from exc

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
        try:
            fin = open(src, "rb", buffering=0)  # noqa: SIM115 (opened apart: own error message)
        except FileNotFoundError:
            raise StoreError(f"no such object: {md5} ({src})") from None
        except OSError as exc:
            raise StoreError(f"cannot read object {src}: {exc.strerror or exc}") from exc
        with fin:
            size_hint = os.fstat(fin.fileno()).st_size
            if dest.is_dir() and not dest.is_symlink():
                raise StoreError(f"is a folder, cannot check out a file there: {dest}")
            folder = _mkdir(dest.parent)
            tmp = _temp_file(folder, f"checking out object {md5} to {shown}")
            try:
                got, _ = _copy_hashing(fin, tmp, size_hint)
                if got != _bare(md5):
                    raise _corrupt(src, got)
                os.chmod(tmp, _CHECKOUT_MODE)
            except BaseException as exc:
                _unlink_quiet(tmp)
                if isinstance(exc, OSError):
                    raise _write_error(exc, f"checking out object {md5} to {shown}") from exc
                raise
        return tmp

    def checkout_tree(self, dir_md5: str, dest_dir: Path | str, prune: bool = False) -> None:
        """Copy every file of a ``.dir`` object under ``dest_dir``.

        With ``prune``, files under ``dest_dir`` that the listing does not hold are deleted, and
        so are empty folders (a listing holds none), so the folder ends up exactly as stored.
        """
        dest_dir = Path(dest_dir)
        entries = self.listing(dir_md5)
        obj_path = self.path_of(dir_md5)
        targets = [(e["md5"], _safe_join(dest_dir, e["relpath"], obj_path)) for e in entries]
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

    def remove_stale_temps(self, older_than_s: float = 3600) -> int:
        """Delete temporary files left by interrupted writes; return how many were deleted.

        Only temps older than ``older_than_s`` go, so writes still in progress are left alone.
        """
        limit = time.time() - older_than_s
        removed = 0
        folders = [self.objects_dir]
        try:
            folders += [Path(e.path) for e in os.scandir(self.objects_dir) if len(e.name) == 2]
        except FileNotFoundError:
            return 0
        for folder in folders:
            try:
                items = list(os.scandir(folder))
            except OSError:
                continue
            for item in items:
                if not item.name.startswith(_TEMP_PREFIX):
                    continue
                try:
                    if item.stat(follow_symlinks=False).st_mtime < limit:
                        os.unlink(item.path)
                        removed += 1
                except OSError:  # gone meanwhile, or not ours to delete: leave it
                    continue
        return removed

    # -- internals ----------------------------------------------------------------------------

    def _store_file(self, src: Path, md5: str | None, size_hint: int) -> tuple[str, int]:
        """Copy ``src`` into a temp, hashing it, then rename to the object's name."""
        doing = (
            f"writing object {md5} to {self.path_of(md5)}"
            if md5
            else f"writing the object for {src} in {self.objects_dir}"
        )
        try:
            fin = open(src, "rb", buffering=0)  # noqa: SIM115 (opened apart: own error message)
        except OSError as exc:
            raise _read_error(src, exc) from exc
        with fin:
            folder = _mkdir(self.objects_dir / md5[:2] if md5 else self.objects_dir)
            tmp = _temp_file(folder, doing)
            try:
                got, size = _copy_hashing(fin, tmp, size_hint)
                if md5 is not None and got != md5:
                    raise StoreError(
                        f"{src} changed while being stored: expected md5 {md5}, read {got}"
                    )
                self._land(tmp, got)
            except BaseException as exc:
                _unlink_quiet(tmp)
                if isinstance(exc, OSError):
                    raise _write_error(exc, doing) from exc
                raise
        return got, size

    def _store_bytes(self, md5: str, data: bytes) -> None:
        """Write ``data`` as object ``md5`` unless it exists, with the fewest file operations:
        the temp is created read-only in the object's own folder and renamed there (creating
        files is what costs most on many disks; no chmod, no rename across folders).
        """
        if self._reuse(md5):
            return
        folder = self.objects_dir / md5[:2]
        final = folder / md5[2:]
        tmp = f"{folder}/{_TEMP_PREFIX}{md5[2:10]}-{os.getpid()}-{threading.get_ident()}"
        try:
            try:
                _write_new(tmp, data)
            except FileNotFoundError:
                _mkdir(folder)
                _write_new(tmp, data)
            os.replace(tmp, final)
        except BaseException as exc:
            _unlink_quiet(tmp)
            if isinstance(exc, OSError):
                raise _write_error(exc, f"writing object {md5} to {final}") from exc
            raise

    def _store_small(self, src: Path) -> str:
        """Store a small file in one read: it is read whole, hashed, then written as bytes."""
        try:
            with open(src, "rb", buffering=0) as fin:
                data = fin.read()
        except OSError as exc:
            raise _read_error(src, exc) from exc
        md5 = md5_bytes(data)
        self._store_bytes(md5, data)
        return md5

    def _land(self, tmp: str, md5: str) -> None:
        """Make the finished temp read-only and rename it to its object name."""
        final = self.path_of(md5)
        if self._reuse(md5):  # another writer got there first; its bytes are the same
            _unlink_quiet(tmp)
            return
        final.parent.mkdir(exist_ok=True)
        os.chmod(tmp, _OBJECT_MODE)
        os.replace(tmp, final)

    def _holds(self, dest: Path, md5: str) -> bool:
        """Whether the hash cache vouches that ``dest`` already holds object ``md5``."""
        if self.hash_cache is None or md5.endswith(".dir"):
            return False
        try:
            st = os.stat(dest)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and self.hash_cache.get(dest, st) == md5


def _check_hash(md5: str) -> None:
    if not isinstance(md5, str) or not _HASH.fullmatch(md5):
        raise StoreError(f"not an object hash: {md5!r}")


def _bare(md5: str) -> str:
    """The md5 of an object's bytes: its name without the ``.dir`` suffix."""
    return md5.removesuffix(".dir")


def _corrupt(path: Path, got: str) -> ObjectCorrupt:
    return ObjectCorrupt(f"object {path} is corrupt: its bytes hash to {got}")


def _is_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("relpath"), str)
        and isinstance(entry.get("md5"), str)
        and _HASH.fullmatch(entry["md5"]) is not None
    )


def _source_stat(src: Path) -> os.stat_result:
    try:
        return os.stat(src)
    except OSError as exc:
        raise _read_error(src, exc) from exc


def _same_file(path: Path, before: os.stat_result) -> bool:
    try:
        after = os.stat(path)
    except OSError:
        return False
    return (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )


def _read_error(src: Path, exc: OSError) -> StoreError:
    if exc.errno == errno.ELOOP:
        return StoreError(f"symlink loop at {src}")
    if isinstance(exc, FileNotFoundError):
        if os.path.islink(src):
            return StoreError(f"broken symlink: {src}")
        return StoreError(f"no such file or folder: {src}")
    if isinstance(exc, PermissionError):
        return StoreError(f"permission denied: {src}")
    return StoreError(f"cannot read {src}: {exc.strerror or exc}")


def _write_error(exc: OSError, doing: str) -> StoreError:
    if exc.errno in _DISK_FULL:
        return StoreError(f"disk full while {doing}; the partial copy was removed")
    return StoreError(f"failed {doing}: {exc.strerror or exc}")


def _mkdir(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create folder {folder}: {exc.strerror or exc}") from exc
    return folder


def _temp_file(folder: Path, doing: str) -> str:
    """Create an empty, recognisably temporary file in ``folder`` and return its path."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=folder)
    except OSError as exc:
        raise _write_error(exc, doing) from exc
    os.close(fd)
    return tmp


def _copy_hashing(fin: BinaryIO, tmp: str, size_hint: int) -> tuple[str, int]:
    """Copy ``fin`` into the file ``tmp`` in 1 MiB chunks; return (md5, size) of what was copied."""
    h = hashlib.md5(usedforsecurity=False)
    # A small file gets a buffer of its size: allocating 1 MiB per file would dominate.
    buf = bytearray(max(1, min(CHUNK_SIZE, size_hint + 1)))
    view = memoryview(buf)
    size = 0
    with open(tmp, "wb", buffering=0) as fout:
        while n := fin.readinto(buf):
            chunk = view[:n]
            h.update(chunk)
            _write_all(fout, chunk)
            size += n
    return h.hexdigest(), size


def _write_new(path: str, data: bytes) -> None:
    """Create ``path`` (read-only from the start: no chmod afterwards) holding ``data``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _OBJECT_MODE)
    with open(fd, "wb", buffering=0) as fout:
        _write_all(fout, memoryview(data))


def _write_all(fout: BinaryIO, data: memoryview) -> None:
    """Write all of ``data`` (an unbuffered write may be short)."""
    while data:
        n = fout.write(data)
        data = data[n:]


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _join_relpath(root: Path, relpath: str) -> Path:
    return root.joinpath(*relpath.split("/"))


def _safe_join(root: Path, relpath: str, obj_path: Path) -> Path:
    """``root/relpath``, refusing listings that would write outside ``root``."""
    parts = relpath.split("/")
    if relpath.startswith("/") or any(p in ("", ".", "..") or os.sep in p for p in parts):
        raise ObjectCorrupt(f"folder object {obj_path} lists an unsafe path: {relpath!r}")
    return root.joinpath(*parts)


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
