"""Objects in DVC 3's layout on anything fsspec reaches: a remote folder, a bucket, memory.

The layout, the safe write and listing checks are :class:`ObjectDB`'s; this module gives the
file operations through fsspec. A store is opened on first use, so naming a remote costs
nothing and an unreachable one fails at the first question asked of it, with its name and URL.
A local folder that does not exist is created on a write only when its parent exists: a missing
parent usually means an unmounted drive, and filling the mount point on the local disk would
hide it.

On an object store whose PUT lands whole (S3: an object appears only once its upload, single or
multipart, completes), an object whose name is known is written straight to that name: a
rename there is a server-side copy plus a delete, and with the temp's folder checks a push of
1,000 small files to moto sent 7,500 requests in 25 s; written straight, 1,500 in 5 s.
Its bytes are still hashed on the way, and the upload is only completed once they match the
name; otherwise it is abandoned (a multipart upload aborted) and nothing appears. Such a store
is never asked to make folders (it has none) and a missing bucket is an error, not created.
Local folders keep the temp-then-rename write.

A push that was killed leaves `.tmp-*` files beside the objects. A remote has no way to tell
whether a writer still holds one, so age stands for it: a store open for writing (a push)
removes the temps older than STALE_TEMP_S it meets in the object folders it lists anyway.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from nb_mlops.errors import NbMlopsError, RemoteError
from nb_mlops.store.files import describe
from nb_mlops.store.hashing import default_workers, map_in_threads
from nb_mlops.store.objects import HASH, OBJECTS_SUBDIR, TEMP_PREFIX, HashMismatch, ObjectDB

PROBE_LIMIT = 32
"""Up to this many candidates, the store is asked about each object (one stat or HEAD each);
above it, the two-hex-digit folders the candidates fall in are listed instead (at most 256)."""
_LOCAL_PROTOCOLS = {None, "file", "local"}
WHOLE_PUT_PROTOCOLS = frozenset({"s3", "s3a"})
"""Object stores whose uploads land whole: written straight to the final name (module notes)."""
NETWORK_JOBS = 16
"""Objects moved at once to or from such a store. Each request there waits on the network, not
on the CPUs: with 30 ms added per PUT, 200 small objects took 3.4 s with 6 threads, 1.9 s with
16 and 1.7 s with 32 (against moto on loopback, which is itself the limit beyond 16)."""
UPLOAD_PART = 16 << 20
"""Bytes an upload holds in memory before sending them as one part of a multipart upload
(s3fs's default, 50 MiB, times NETWORK_JOBS threads would be 800 MiB). S3 allows 10,000 parts,
so an object may reach 156 GiB."""
SMALL_READ = 1 << 20
"""Objects up to this size (when a listing told it) are read from such a store in one GET."""
_CREDENTIAL_ERRORS = ("NoCredentialsError", "PartialCredentialsError", "ProfileNotFound")
_CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or the remote's profile) "
    "with ~/.aws/credentials"
)
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
    `options` go to the fsspec file system (s3fs: `client_kwargs`, `profile`); credentials
    never do, the backend finds them itself.
    """

    home = False
    disk = "the remote's"

    def __init__(
        self,
        url: str,
        name: str,
        *,
        base: Path | None = None,
        write: bool = False,
        options: Mapping[str, Any] | None = None,
    ):
        from fsspec.core import split_protocol

        self.url = url
        self.name = name
        self.where = f"remote {name} ({url})"
        self.base = base
        self.writable = write
        self.options = dict(options or {})
        self.whole_puts = split_protocol(url)[0] in WHOLE_PUT_PROTOCOLS
        self.jobs = max(NETWORK_JOBS, default_workers()) if self.whole_puts else default_workers()
        self._fs: Any = None
        self._root = ""
        self._writing = threading.local()  # the object name the current thread is writing
        self._sizes: dict[str, int] = {}  # object path -> size, as index() found them

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
        options = _s3_options(self.options) if self.whole_puts else self.options
        try:
            fs, root = url_to_fs(url, **options)
        except ValueError as exc:
            raise RemoteError(f"{self.where} is unreachable: {describe(exc)}") from None
        except ImportError as exc:
            if self.whole_puts:
                raise RemoteError(f"{self.where} needs s3fs: pip install 'nb-mlops[s3]'") from None
            raise RemoteError(f"{self.where} needs an fsspec plugin: {exc}") from None
        except Exception as exc:  # a backend's own (a profile that does not exist, say)
            raise RemoteError(_unusable(self.where, exc)) from exc
        if protocol in _LOCAL_PROTOCOLS:
            self._check_local(Path(url))
        if self.whole_puts:
            self._check_bucket(fs, root)
        elif self.writable:
            try:
                fs.makedirs("/".join([root.rstrip("/"), *OBJECTS_SUBDIR]), exist_ok=True)
            except Exception as exc:  # the backends' own errors (network, auth) vary by plugin
                raise RemoteError(f"{self.where} is unreachable: {describe(exc)}") from exc
        return fs, root

    def _check_bucket(self, fs: Any, root: str) -> None:
        """Ask for the bucket once: a missing one (never created here: a typo would make a new
        bucket), missing credentials or a dead endpoint fail now, in one line."""
        bucket = root.split("/", 1)[0]
        try:
            fs.info(bucket)
        except FileNotFoundError:
            raise RemoteError(
                f"{self.where}: bucket {bucket} does not exist (or these credentials cannot see "
                "it); create it first, nb-mlops never creates buckets"
            ) from None
        except Exception as exc:  # the backends' own errors (network, auth) vary by plugin
            raise RemoteError(_unusable(self.where, exc)) from exc

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
            sizes = map_in_threads(self._size, ordered, jobs or self.jobs)
            found = {h: size for h, size in zip(ordered, sizes, strict=True) if size is not None}
        else:
            found = {}
            prefixes = sorted({h[:2] for h in wanted})
            for listed in map_in_threads(self.list_prefix, prefixes, jobs or self.jobs):
                found.update((h, s) for h, s in listed.items() if h in wanted)
        if self.whole_puts:
            # An object's size never changes (its name is its content's hash): a small one is
            # then read in one GET (see _open_read).
            self._sizes.update(
                (self.path_of(h), size) for h, size in found.items() if isinstance(size, int)
            )
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
        """Write `data` to `relpath` under the root, whole (one PUT where that lands whole,
        else a temp file, then a rename)."""
        final = self._join(self.root, *relpath.split("/"))
        if self.whole_puts:
            try:
                self.fs.pipe_file(final, data)
            except Exception as exc:  # the backends' own errors (network, auth) vary by plugin
                raise RemoteError(f"cannot write {relpath} to {self.where}: {_why(exc)}") from exc
            return
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
        except OSError:
            raise
        except Exception as exc:  # the backends' own errors (network, auth) vary by plugin
            raise RemoteError(f"cannot read {relpath} from {self.where}: {_why(exc)}") from exc

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
        return _guarded(call, FileNotFoundError, f"cannot reach {self.where}")

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
        if not self.whole_puts:
            return self.fs.open(path, "rb")
        size = self._sizes.get(path)
        if size is not None and size <= SMALL_READ:
            # One GET: a ranged read through fs.open, or cat_file with its concurrent parts,
            # asks for the object's size (a HEAD) first, doubling a pull's requests.
            data = _reading(self.where, lambda: self.fs.cat_file(path, max_concurrency=1))
            return io.BytesIO(data)
        fin = self._reach(lambda: self.fs.open(path, "rb"))
        return _Download(fin, self.where)  # type: ignore[return-value]

    def write(
        self,
        source: BinaryIO | bytes,
        md5: str | None = None,
        **kwargs: Any,
    ) -> tuple[str, int]:
        """Land one object whole (see ObjectDB.write); straight to its name where a PUT lands
        whole and the name is known. A backend's own error (network, credentials) becomes a
        RemoteError naming the remote."""
        # ObjectDB.write asks _create_temp for a file by folder only, but an upload must know
        # its key from the first byte: the name goes beside the call, per thread (a transfer
        # writes from several).
        self._writing.name = md5 if self.whole_puts else None
        try:
            return super().write(source, md5, **kwargs)
        except (HashMismatch, NbMlopsError, OSError):
            raise
        except Exception as exc:  # the backends' own errors (network, auth) vary by plugin
            what = f"object {md5}" if md5 else "an object"
            raise RemoteError(f"cannot write {what} to {self.where}: {_why(exc)}") from exc
        finally:
            self._writing.name = None

    def _create_temp(self, folder: Any) -> tuple[Any, BinaryIO]:
        name = getattr(self._writing, "name", None)
        if name is not None:
            upload = _Upload(self.fs.open(self._location(name), "wb"))
            return upload, upload  # type: ignore[return-value]
        self.fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/{TEMP_PREFIX}{uuid.uuid4().hex}"
        return tmp, self.fs.open(tmp, "wb")

    def _commit(self, tmp: Any, final: Any, md5: str) -> None:
        if isinstance(tmp, _Upload):
            tmp.finish()
        else:
            self.fs.mv(tmp, final)

    def _discard(self, path: Any) -> bool:
        if isinstance(path, _Upload):
            path.abort()
            return True
        try:
            self.fs.rm_file(path)
        except Exception:  # best effort: a stale temp is ignored by listings and swept later
            return False
        return True


def _s3_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """s3fs arguments: the remote's own, parts of UPLOAD_PART, a connection pool as wide as the
    transfer threads (botocore's default of 10 would queue them), and no instance or listing
    cache, so each push or pull sees the bucket as it is now and the credentials the
    environment gives now."""
    config = {
        "max_pool_connections": max(NETWORK_JOBS, default_workers()),
        **options.get("config_kwargs", {}),
    }
    return {
        "default_block_size": UPLOAD_PART,
        **options,
        "config_kwargs": config,
        "skip_instance_cache": True,
        "use_listings_cache": False,
    }


def _unusable(where: str, exc: BaseException) -> str:
    """Why a store cannot be used at all, from the backend's error met on opening it."""
    if type(exc).__name__ in _CREDENTIAL_ERRORS:
        return f"{where}: no usable AWS credentials ({describe(exc)}); {_CREDENTIALS_HINT}"
    if isinstance(exc, PermissionError):
        return (
            f"{where}: access denied ({describe(exc)}): the credentials are wrong or may not "
            "use this bucket"
        )
    return f"{where} is unreachable: {describe(exc)}"


def _why(exc: BaseException) -> str:
    """One line about a backend's error; missing credentials say where they are looked for."""
    text = describe(exc)
    if type(exc).__name__ in _CREDENTIAL_ERRORS:
        return f"{text}; {_CREDENTIALS_HINT}"
    return text


class _Upload:
    """An object being uploaded to its final name (see the module notes).

    ObjectDB.write closes what it writes to before checking the hash, so `close` here only
    ends the writing; `finish` completes the upload (the one PUT of a small object, or the last
    part and the completion of a multipart one) and `abort` abandons it, nothing landed.
    """

    def __init__(self, file: Any) -> None:
        self._file = file

    def write(self, data: Any) -> int:
        return self._file.write(data)

    def close(self) -> None:
        """Writing is over; whether the object lands is up to finish() or abort()."""

    def __enter__(self) -> _Upload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def finish(self) -> None:
        self._file.close()

    def abort(self) -> None:
        try:
            self._file.discard()  # aborts a multipart upload begun for a large object
        except Exception:  # best effort: an unfinished multipart upload is never visible
            pass
        finally:
            self._file.closed = True  # so that neither close() nor the collector lands it


class _Download:
    """An object being read from a remote: a backend's own error midway (the network) becomes
    a RemoteError naming the remote, so the local copy being written is dropped in one line."""

    def __init__(self, file: Any, where: str) -> None:
        self._file = file
        self._where = where

    def read(self, size: int = -1) -> bytes:
        return _reading(self._where, lambda: self._file.read(size))

    def readinto(self, buffer: Any) -> int:
        return _reading(self._where, lambda: self._file.readinto(buffer))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _Download:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reading(where: str, call: Callable[[], Any]) -> Any:
    """`call()` (a read from the store `where`): OSErrors (FileNotFoundError above all) as they
    are, the backend's own errors (the network) as a RemoteError naming the store."""
    return _guarded(call, OSError, f"cannot read from {where}")


def _guarded(call: Callable[[], Any], passes: type[BaseException], failure: str) -> Any:
    """`call()`, letting `passes` through as it is and turning any other error of the backend
    into a RemoteError that starts with `failure`."""
    try:
        return call()
    except passes:
        raise
    except Exception as exc:  # the backends' own errors (network, auth) vary by plugin
        raise RemoteError(f"{failure}: {_why(exc)}") from exc
