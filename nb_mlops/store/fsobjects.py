"""Objects in DVC 3's layout on anything fsspec reaches: a remote folder, a bucket, memory.

The layout, the safe write and listing checks are :class:`ObjectDB`'s; this module gives the
file operations through fsspec. A store is opened on first use, so naming a remote costs
nothing and an unreachable one fails at the first question asked of it, with its name and URL.
A local folder that does not exist is created on a write only when its parent exists: a missing
parent usually means an unmounted drive, and filling the mount point on the local disk would
hide it.

A push that was killed leaves `.tmp-*` files beside the objects. A remote has no way to tell
whether a writer still holds one, so age stands for it: a store open for writing (a push)
removes the temps older than STALE_TEMP_S it meets in the object folders it lists anyway.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

from nb_mlops.errors import RemoteError
from nb_mlops.store.files import describe
from nb_mlops.store.hashing import default_workers, map_in_threads
from nb_mlops.store.objects import HASH, OBJECTS_SUBDIR, TEMP_PREFIX, ObjectDB

PROBE_LIMIT = 32
"""Up to this many candidates, the store is asked about each object (one stat or HEAD each);
above it, the two-hex-digit folders the candidates fall in are listed instead (at most 256)."""
_LOCAL_PROTOCOLS = {None, "file", "local"}
STALE_TEMP_S = 3600.0
"""A temp on a remote this old (seconds since its last change) was left by a killed push."""
_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")


def unknown_protocol(url: str) -> str | None:
    """The URL's protocol when fsspec has no implementation for it (None when it has one)."""
    from fsspec.core import split_protocol
    from fsspec.registry import known_implementations, registry

    protocol, _ = split_protocol(url)
    if protocol is not None and protocol not in known_implementations and protocol not in registry:
        return protocol
    return None


class FsObjectDB(ObjectDB):
    """The objects under `url`, named `name` in messages ("remote origin (URL)").

    A relative local path is taken relative to `base` (the workspace root). `write=True` opens
    it for pushing: the folder holding the objects is made when missing (see the module notes).
    """

    home = False
    disk = "the remote's"

    def __init__(self, url: str, name: str, *, base: Path | None = None, write: bool = False):
        self.url = url
        self.name = name
        self.where = f"remote {name} ({url})"
        self.base = base
        self.writable = write
        self._fs: Any = None
        self._root = ""

    def describe(self, md5: str) -> str:
        return f"object {md5} from remote {self.name}"

    def connect(self) -> None:
        _ = self.fs

    @property
    def fs(self) -> Any:
        """The fsspec file system, opened and checked reachable on first use."""
        if self._fs is None:
            self._fs, self._root = self._open()
        return self._fs

    @property
    def root(self) -> str:
        """The store's root path on its file system (objects are under `files/md5/`)."""
        _ = self.fs
        return self._root

    def _open(self) -> tuple[Any, str]:
        from fsspec.core import split_protocol, url_to_fs

        protocol, path = split_protocol(self.url)
        url = self.url
        if protocol in _LOCAL_PROTOCOLS:
            local = Path(path).expanduser()
            if not local.is_absolute() and self.base is not None:
                local = self.base / local
            url = str(local)
        try:
            fs, root = url_to_fs(url)
        except ValueError as exc:
            raise RemoteError(f"{self.where} is unreachable: {describe(exc)}") from None
        except ImportError as exc:
            raise RemoteError(f"{self.where} needs an fsspec plugin: {exc}") from None
        if protocol in _LOCAL_PROTOCOLS:
            self._check_local(Path(url))
        if self.writable:
            try:
                fs.makedirs("/".join([root.rstrip("/"), *OBJECTS_SUBDIR]), exist_ok=True)
            except Exception as exc:  # the backends' own errors (network, auth) vary by plugin
                raise RemoteError(f"{self.where} is unreachable: {describe(exc)}") from exc
        return fs, root

    def _check_local(self, folder: Path) -> None:
        try:
            if folder.is_dir():
                return
            if folder.exists():
                raise RemoteError(f"{self.where} is unreachable: {folder} is not a folder")
            if not self.writable:
                raise RemoteError(f"{self.where} is unreachable: folder {folder} does not exist")
            if not folder.parent.is_dir():
                raise RemoteError(
                    f"{self.where} is unreachable: {folder.parent} does not exist "
                    "(is its drive mounted?)"
                )
            folder.mkdir()
        except OSError as exc:
            raise RemoteError(f"{self.where} is unreachable: {describe(exc)}") from exc

    # -- what is there ----------------------------------------------------------------------

    def index(self, candidates: Iterable[str], jobs: int | None = None) -> dict[str, int | None]:
        """Which of ``candidates`` are here, with sizes: one probe each for a few, else a
        listing of each two-hex-digit folder they fall in, several at a time."""
        wanted = set(candidates)
        if not wanted:
            return {}
        if len(wanted) <= PROBE_LIMIT:
            ordered = sorted(wanted)
            sizes = map_in_threads(self._size, ordered, jobs or default_workers())
            return {h: size for h, size in zip(ordered, sizes, strict=True) if size is not None}
        found: dict[str, int | None] = {}
        prefixes = sorted({h[:2] for h in wanted})
        for listed in map_in_threads(self.list_prefix, prefixes, jobs or default_workers()):
            found.update((h, s) for h, s in listed.items() if h in wanted)
        return found

    def list_prefix(self, prefix: str) -> dict[str, int | None]:
        """The objects under one two-hex-digit folder, with their sizes.

        Open for writing, the store also removes the stale temps it finds there (see the
        module notes): the listing is paid for already.
        """
        folder = self._prefix_dir(prefix)
        try:
            items = self._reach(lambda: self.fs.ls(folder, detail=True))
        except FileNotFoundError:
            return {}
        limit = time.time() - STALE_TEMP_S
        found: dict[str, int | None] = {}
        for item in items:
            if item.get("type") == "directory":
                continue
            path = str(item.get("name", "")).rstrip("/")
            name = path.rsplit("/", 1)[-1]
            if name.startswith(TEMP_PREFIX):
                if self.writable and self._mtime(item, path) < limit:
                    self._discard(path)
            elif HASH.fullmatch(prefix + name):
                found[prefix + name] = item.get("size")
        return found

    def _mtime(self, item: dict[str, Any], path: str) -> float:
        """When a listed file last changed (seconds since the epoch; inf when nobody says)."""
        for key in _MTIME_KEYS:
            value = item.get(key)
            if value is None:
                continue
            try:
                if isinstance(value, (int, float)):
                    return float(value)
                if isinstance(value, str):
                    value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                if isinstance(value, dt.datetime):
                    if value.tzinfo is None:
                        value = value.replace(tzinfo=dt.timezone.utc)
                    return value.timestamp()
            except (ValueError, OverflowError, OSError):
                continue
        try:
            return self.fs.modified(path).timestamp()
        except Exception:  # a backend without modification times: never stale
            return float("inf")

    def missing(self, md5: str) -> str:
        return f"object {md5} is not on {self.where}"

    # -- files beside the objects (version lists) -------------------------------------------

    def put_file(self, relpath: str, data: bytes) -> None:
        """Write `data` to `relpath` under the root, whole (temp file, then rename)."""
        final = self._join(self.root, *relpath.split("/"))
        tmp, fout = self._create_temp(final.rsplit("/", 1)[0])
        try:
            with fout:
                fout.write(data)
            self.fs.mv(tmp, final)
        except BaseException:
            self._discard(tmp)
            raise

    def read_file(self, relpath: str) -> bytes | None:
        """The bytes at `relpath` under the root, or None when there is no such file."""
        try:
            with self.fs.open(self._join(self.root, *relpath.split("/")), "rb") as fin:
                return fin.read()
        except FileNotFoundError:
            return None

    def list_files(self, relpath: str) -> list[str]:
        """Names of the finished files in a folder under the root (temps skipped)."""
        names = [name for name, _ in self._ls(self._join(self.root, *relpath.split("/")))]
        return [n for n in names if not n.startswith(TEMP_PREFIX)]

    # -- primitives through fsspec ----------------------------------------------------------

    def _root_dir(self) -> str:
        return self.root.rstrip("/")

    def _join(self, folder: Any, *names: str) -> str:
        return "/".join([str(folder).rstrip("/"), *names])

    def _reach(self, call: Callable[[], Any]) -> Any:
        """Run one listing call; FileNotFoundError passes, anything else names the remote."""
        try:
            return call()
        except FileNotFoundError:
            raise
        except Exception as exc:  # the backends' own errors (network, auth) vary by plugin
            raise RemoteError(f"cannot reach {self.where}: {describe(exc)}") from exc

    def _isfile(self, path: Any) -> bool:
        try:
            return self._reach(lambda: self.fs.info(path)).get("type") != "directory"
        except FileNotFoundError:
            return False

    def _size(self, md5: str) -> int | None:
        path = self.path_of(md5)
        try:
            info = self._reach(lambda: self.fs.info(path))
        except FileNotFoundError:
            return None
        if info.get("type") == "directory":
            return None
        return int(info.get("size") or 0)

    def _ls(self, folder: Any) -> list[tuple[str, int | None]]:
        try:
            items = self._reach(lambda: self.fs.ls(folder, detail=True))
        except FileNotFoundError:
            return []
        return [
            (str(item.get("name", "")).rstrip("/").rsplit("/", 1)[-1], item.get("size"))
            for item in items
            if item.get("type") != "directory"
        ]

    def _subfolders(self, folder: Any) -> list[str]:
        try:
            items = self._reach(lambda: self.fs.ls(folder, detail=True))
        except FileNotFoundError:
            return []
        return [
            str(item.get("name", "")).rstrip("/").rsplit("/", 1)[-1]
            for item in items
            if item.get("type") == "directory"
        ]

    def _temps(self, folder: Any) -> list[tuple[Any, float]]:
        try:
            items = self._reach(lambda: self.fs.ls(folder, detail=True))
        except FileNotFoundError:
            return []
        out = []
        for item in items:
            path = str(item.get("name", "")).rstrip("/")
            if path.rsplit("/", 1)[-1].startswith(TEMP_PREFIX):
                try:
                    mtime = self.fs.modified(path).timestamp()
                except Exception:  # a backend without modification times: leave it
                    continue
                out.append((path, mtime))
        return out

    def _open_read(self, path: Any) -> BinaryIO:
        return self.fs.open(path, "rb")

    def _create_temp(self, folder: Any) -> tuple[str, BinaryIO]:
        self.fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/{TEMP_PREFIX}{uuid.uuid4().hex}"
        return tmp, self.fs.open(tmp, "wb")

    def _commit(self, tmp: Any, final: Any, md5: str) -> None:
        self.fs.mv(tmp, final)

    def _discard(self, path: Any) -> bool:
        try:
            self.fs.rm_file(path)
        except Exception:  # best effort: a stale temp is ignored by listings and swept later
            return False
        return True
