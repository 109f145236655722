"""Remotes: where objects are pushed to and pulled from, laid out as DVC 3's remotes.

A remote is a name and a URL (a local folder or any fsspec URL) kept in ``.nbmlops/config.toml``::

    [core]
    default = "origin"

    [remotes.origin]
    url = "/mnt/backup/project"

Objects sit at ``<url>/files/md5/ab/cdef...`` exactly as ``dvc push`` leaves them, so ``dvc push``
and ``dvc pull`` against the same folder interoperate with ours. Only missing objects move, on a
thread pool, each hashed as its bytes stream through and landed whole: a push writes a ``.tmp-*``
file beside the object on the remote and renames it; a pull writes a temp in the local cache and
renames it only once its bytes match its name. A folder's ``.dir`` object always travels last,
because a ``.dir`` present on either side means its files are there too.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from nb_mlops.errors import NbMlopsError
from nb_mlops.store.files import atomic_write
from nb_mlops.store.hashing import CHUNK_SIZE, default_workers, md5_bytes

if TYPE_CHECKING:
    from nb_mlops.store.workspace import Workspace

__all__ = [
    "Remote",
    "RemoteError",
    "TransferReport",
    "add_remote",
    "get_remote",
    "list_remotes",
    "pull",
    "push",
    "remove_remote",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HASH = re.compile(r"[0-9a-f]{32}(\.dir)?")
_TEMP_PREFIX = ".tmp-"  # the local cache's temp prefix too, so its stale-temp sweep finds ours
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_PROBE_LIMIT = 32
"""Up to this many candidates, the remote is asked about each object (one stat or HEAD each);
above it, the two-hex-digit folders the candidates fall in are listed instead (at most 256)."""
_LOCAL_PROTOCOLS = {None, "file", "local"}
_ADD_HINT = "add one with `%track remote add NAME URL`"


class RemoteError(NbMlopsError):
    """A remote cannot be named, reached, written or read, or some objects did not transfer.

    When raised after a transfer, ``report`` holds what did move and what failed.
    """

    def __init__(self, message: str, report: TransferReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Remote:
    """A configured remote: its name, its URL as written, and whether it is the default."""

    name: str
    url: str
    default: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- configuration --------------------------------------------------------------------------


def add_remote(ws: Workspace, name: str, url: str, *, default: bool = False) -> Remote:
    """Record remote ``name`` at ``url`` in config.toml (comments kept); return it.

    The first remote becomes the default, as does any added with ``default=True``. Adding a
    name again is allowed only with the same URL (so scripts can re-run it). A relative local path
    is stored as written and resolved against the workspace root when used, so the project folder
    can move with its remote beside it.
    """
    _check_name(name)
    url = _check_url(name, url)
    with _editing(ws) as doc:
        remotes = _table(doc, "remotes", super_table=True)
        old = remotes.get(name)
        if old is not None:
            old_url = old.get("url") if hasattr(old, "get") else None
            if old_url != url:
                raise RemoteError(
                    f"a remote named {name} already exists with URL {old_url}; "
                    f"remove it first with `%track remote remove {name}`"
                )
        else:
            import tomlkit

            entry = tomlkit.table()
            entry["url"] = url
            remotes[name] = entry
        core = doc.get("core")
        current = core.get("default") if hasattr(core, "get") else None
        if default or current is None or current not in remotes:
            _table(doc, "core")["default"] = name
    return get_remote(ws, name)


def remove_remote(ws: Workspace, name: str) -> None:
    """Forget remote ``name`` (its objects stay where they are); unset it as the default."""
    with _editing(ws) as doc:
        remotes = doc.get("remotes")
        if not hasattr(remotes, "get") or name not in remotes:
            raise RemoteError(_no_such(name, _names(remotes)))
        del remotes[name]
        core = doc.get("core")
        if hasattr(core, "get") and core.get("default") == name:
            del core["default"]
            if not core:
                del doc["core"]


def list_remotes(ws: Workspace) -> list[Remote]:
    """The configured remotes, in the order config.toml lists them."""
    table, default = _read_config(ws)
    return [Remote(n, u, n == default) for n, u in table.items()]


def get_remote(ws: Workspace, name: str | None = None) -> Remote:
    """Remote ``name``, or the default one (the only one, when just one is configured)."""
    table, default = _read_config(ws)
    if name is None:
        if default is not None:
            if default not in table:
                raise RemoteError(
                    f"the default remote {default} (config.toml [core] default) is not "
                    f"defined; {_ADD_HINT}"
                )
            name = default
        elif len(table) == 1:
            name = next(iter(table))
        elif not table:
            raise RemoteError(f"no default remote: no remote is configured; {_ADD_HINT}")
        else:
            raise RemoteError(
                f"no default remote among {', '.join(table)}; name the one to use, or "
                "re-add one with default=True"
            )
    if name not in table:
        raise RemoteError(_no_such(name, list(table)))
    return Remote(name, table[name], name == default)


def _read_config(ws: Workspace) -> tuple[dict[str, str], str | None]:
    """(name -> url, default name) from config.toml, read afresh: another process (the CLI in a
    `!` cell, say) may have changed it since this workspace last looked."""
    ws.__dict__.pop("config", None)
    config = ws.config
    path = ws.home / "config.toml"
    raw = config.get("remotes", {})
    if not isinstance(raw, dict):
        raise RemoteError(f"{path}: `remotes` must be a table of [remotes.NAME] sections")
    table: dict[str, str] = {}
    for name, entry in raw.items():
        url = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not url.strip():
            raise RemoteError(f'{path}: [remotes.{name}] needs url = "..."')
        table[name] = url
    core = config.get("core")
    default = core.get("default") if isinstance(core, dict) else None
    return table, default if isinstance(default, str) else None


@contextmanager
def _editing(ws: Workspace) -> Iterator[Any]:
    """Parse config.toml with tomlkit under the store's writers' lock, let the caller edit the
    document, then write it whole (comments kept) and drop the workspace's cached config."""
    import tomlkit

    path = ws.home / "config.toml"
    with ws.catalog.locked():
        try:
            doc = tomlkit.parse(path.read_text(encoding="utf-8") if path.exists() else "")
        except (ValueError, tomlkit.exceptions.TOMLKitError) as exc:
            raise RemoteError(f"config file {path} is not valid TOML: {exc}") from None
        try:
            yield doc
            atomic_write(path, tomlkit.dumps(doc))
        finally:
            ws.__dict__.pop("config", None)


def _table(doc: Any, key: str, super_table: bool = False) -> Any:
    """``doc[key]``, created as an (implicit-header) table when missing."""
    import tomlkit

    found = doc.get(key)
    if found is None:
        found = tomlkit.table(is_super_table=super_table)
        doc[key] = found
    elif not hasattr(found, "get"):
        raise RemoteError(f"config.toml: `{key}` must be a table")
    return found


def _names(remotes: Any) -> list[str]:
    return list(remotes) if hasattr(remotes, "keys") else []


def _no_such(name: str, names: list[str]) -> str:
    known = f" (remotes: {', '.join(names)})" if names else ""
    return f"no remote named {name}{known}; {_ADD_HINT}"


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RemoteError(
            f"bad remote name {name!r}: use letters, digits, '-', '_' and '.', starting with "
            "a letter or digit (at most 64 characters)"
        )


def _check_url(name: str, url: object) -> str:
    """The URL stripped; refuse empty ones, control characters and protocols fsspec lacks."""
    if not isinstance(url, str) or not url.strip():
        raise RemoteError(f"remote {name}: the URL is empty")
    url = url.strip()
    if any(ord(c) < 32 for c in url):
        raise RemoteError(f"remote {name}: the URL holds a control character: {url!r}")
    from fsspec.core import split_protocol
    from fsspec.registry import known_implementations, registry

    protocol, _ = split_protocol(url)
    if protocol is not None and protocol not in known_implementations and protocol not in registry:
        raise RemoteError(f"remote {name} ({url}): unknown protocol {protocol!r}")
    return url


# -- transfers ------------------------------------------------------------------------------


@dataclass
class TransferReport:
    """What a push or pull did: objects moved, objects already there, bytes moved, failures."""

    remote: str
    direction: Literal["push", "pull"]
    moved: int = 0
    skipped: int = 0
    bytes: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        pushing = self.direction == "push"
        verb = "pushed" if pushing else "pulled"
        prep = "to" if pushing else "from"
        there = "already there" if pushing else "already here"
        if self.moved == 0 and not self.failed:
            if not self.skipped:
                return f"nothing to {self.direction} ({prep} {self.remote})"
            return (
                f"nothing to {self.direction}: {_count(self.skipped)} {there} "
                f"({prep} {self.remote})"
            )
        text = f"{verb} {_count(self.moved)} ({_size(self.bytes)}) {prep} {self.remote}"
        if self.skipped:
            text += f"; {self.skipped} {there}"
        if self.failed:
            text += f"; {len(self.failed)} failed"
        return text

    def _repr_html_(self) -> str:
        import html

        return f"<code>{html.escape(str(self))}</code>"


def push(
    ws: Workspace,
    hashes: Iterable[str],
    remote: str | None = None,
    *,
    jobs: int | None = None,
    progress: bool = True,
) -> TransferReport:
    """Copy the objects ``hashes`` (``.dir`` ones with their files) to the remote, skipping any
    it has. Files go before their ``.dir``; a ``.dir`` whose files did not all arrive stays home.

    Raises :class:`RemoteError` when the remote is unreachable or a write fails (the partial copy
    is removed: running the push again completes it), and after the rest finished when some local
    objects turned out corrupt (they are never sent).
    """
    started = time.monotonic()
    wanted = _hash_list(hashes)
    target = get_remote(ws, remote)
    missing_here = [h for h in wanted if not ws.objects.has(h)]
    if missing_here:
        raise RemoteError(
            f"cannot push to {target.name}: {_count(len(missing_here))} not in the local "
            f"cache: {_sample(missing_here)}"
        )
    listings = {h: ws.objects.listing(h) for h in wanted if h.endswith(".dir")}
    everything = set(wanted).union(*({e["md5"] for e in es} for es in listings.values()))
    conn = _Connection(ws, target, write=True)
    report = TransferReport(target.name, "push")
    there = conn.index(everything, jobs)
    files = sorted(h for h in everything if not h.endswith(".dir") and h not in there)
    dirs = sorted(h for h in everything if h.endswith(".dir") and h not in there)
    report.skipped = len(everything) - len(files) - len(dirs)
    problems: dict[str, str] = {}

    sizes = {h: _local_size(ws, h) for h in files + dirs}
    total = sum(sizes[h] for h in files + dirs)
    with _Progress(progress, total, f"push {conn.remote.name}") as bar:
        for h, problem in _run_all(lambda h: conn.send(h, bar), files, jobs, bar.cancel):
            _tally(report, problems, h, problem, sizes[h])
        ready = []
        for h in dirs:
            bad = [e["md5"] for e in listings[h] if e["md5"] in problems]
            if bad:
                problems[h] = f"folder object {h} was not pushed: {len(bad)} of its files failed"
                report.failed.append(h)
            else:
                ready.append(h)
        for h, problem in _run_all(lambda h: conn.send(h, bar), ready, jobs, bar.cancel):
            _tally(report, problems, h, problem, sizes[h])
    return _finish(report, problems, started)


def pull(
    ws: Workspace,
    hashes: Iterable[str],
    remote: str | None = None,
    *,
    jobs: int | None = None,
    progress: bool = True,
) -> TransferReport:
    """Fetch the objects ``hashes`` the local cache lacks (``.dir`` ones with their files).

    A ``.dir`` is fetched first to learn its files and lands last, once they all did. Every
    object is hashed as it arrives and renamed into the cache only if it matches its name; a
    corrupt or absent one is listed in ``report.failed`` and, once the rest finished, raises
    :class:`RemoteError` naming it.
    """
    started = time.monotonic()
    wanted = _hash_list(hashes)
    conn = _Connection(ws, get_remote(ws, remote), write=False)
    report = TransferReport(conn.remote.name, "pull")
    problems: dict[str, str] = {}

    # 1. Folder listings: from the local cache when there, else from the remote (held in memory).
    dir_bytes: dict[str, bytes] = {}
    listings: dict[str, list[dict]] = {}
    remote_dirs = []
    for h in wanted:
        if not h.endswith(".dir"):
            continue
        if ws.objects.has(h):
            listings[h] = ws.objects.listing(h)
            report.skipped += 1
        else:
            remote_dirs.append(h)
    for h, (data, problem) in _run_all(conn.fetch_listing, remote_dirs, jobs):
        if problem is not None:
            problems[h] = problem
            report.failed.append(h)
        else:
            dir_bytes[h], listings[h] = data, _parse_listing(data)

    # 2. Files: those listed or asked for that the cache lacks.
    files: set[str] = {h for h in wanted if not h.endswith(".dir")}
    for entries in listings.values():
        files.update(e["md5"] for e in entries)
    todo = sorted(h for h in files if not ws.objects.has(h))
    report.skipped += len(files) - len(todo)
    there = conn.index(set(todo), jobs)
    for h in todo:
        if h not in there:
            problems[h] = f"object {h} is not on remote {conn.remote.name} ({conn.remote.url})"
            report.failed.append(h)
    todo = [h for h in todo if h in there]
    total = sum(there[h] or 0 for h in todo)
    with _Progress(progress, total, f"pull {conn.remote.name}") as bar:
        received = _run_all(lambda h: conn.receive(h, bar), todo, jobs, bar.cancel)
        for h, (size, problem) in received:
            _tally(report, problems, h, problem, size)

    # 3. Folder objects last, each only once all its files are in the cache.
    for h, data in dir_bytes.items():
        lacking = [e["md5"] for e in listings[h] if not ws.objects.has(e["md5"])]
        if lacking:
            problems[h] = f"folder object {h} was not pulled: {len(lacking)} of its files failed"
            report.failed.append(h)
            continue
        ws.objects._store_bytes(h, data)  # the store's own whole-object landing
        report.moved += 1
        report.bytes += len(data)
    return _finish(report, problems, started)


class _Connection:
    """One remote opened through fsspec: where its objects live and how they move."""

    def __init__(self, ws: Workspace, remote: Remote, write: bool) -> None:
        self.ws = ws
        self.remote = remote
        self.fs, root = open_remote_fs(ws, remote, write)
        self.base = root.rstrip("/") + "/files/md5"

    def where(self, md5: str) -> str:
        return f"{self.base}/{md5[:2]}/{md5[2:]}"

    def _doing(self, verb: str, md5: str) -> str:
        prep = "to" if verb == "pushing" else "from"
        return f"{verb} object {md5} {prep} remote {self.remote.name} ({self.remote.url})"

    # -- what is there

    def index(self, candidates: set[str], jobs: int | None) -> dict[str, int | None]:
        """Which of ``candidates`` the remote holds, with their sizes (None when not known)."""
        if not candidates:
            return {}
        if len(candidates) <= _PROBE_LIMIT:
            probed = _run_all(self._probe, sorted(candidates), jobs)
            return {h: size for h, size in probed if size is not None}
        prefixes = sorted({h[:2] for h in candidates})
        found: dict[str, int | None] = {}
        for _, listed in _run_all(self._list_prefix, prefixes, jobs):
            found.update((h, s) for h, s in listed.items() if h in candidates)
        return found

    def _probe(self, md5: str) -> int | None:
        try:
            info = self._reach(lambda: self.fs.info(self.where(md5)))
        except FileNotFoundError:
            return None
        if info.get("type") == "directory":
            return None
        return int(info.get("size") or 0)

    def _list_prefix(self, prefix: str) -> dict[str, int | None]:
        try:
            items = self._reach(lambda: self.fs.ls(f"{self.base}/{prefix}", detail=True))
        except FileNotFoundError:
            return {}
        found: dict[str, int | None] = {}
        for item in items:
            name = str(item.get("name", "")).rstrip("/").rsplit("/", 1)[-1]
            md5 = prefix + name
            if item.get("type") != "directory" and _HASH.fullmatch(md5):
                found[md5] = item.get("size")
        return found

    def _reach(self, call: Callable[[], Any]) -> Any:
        """Run one listing call; FileNotFoundError passes, anything else names the remote."""
        try:
            return call()
        except FileNotFoundError:
            raise
        except Exception as exc:  # the backends' own errors (network, auth) vary by plugin
            raise RemoteError(
                f"cannot reach remote {self.remote.name} ({self.remote.url}): {_why(exc)}"
            ) from exc

    # -- moving

    def send(self, md5: str, on_bytes: Callable[[int], object]) -> str | None:
        """Upload one local object via a temp beside its final name; a problem message or None."""
        src = self.ws.objects.path_of(md5)
        final = self.where(md5)
        tmp = f"{final.rsplit('/', 1)[0]}/{_TEMP_PREFIX}{uuid.uuid4().hex}"
        doing = self._doing("pushing", md5)
        try:
            fin = open(src, "rb")  # noqa: SIM115 (opened apart: its errors are about the cache)
        except OSError as exc:
            raise RemoteError(f"cannot read local object {src}: {_why(exc)}") from exc
        with fin:
            try:
                self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
                with self.fs.open(tmp, "wb") as fout:
                    got = _copy_stream(fin, fout, on_bytes)
                if got != _bare(md5):
                    _rm_quiet(self.fs, tmp)
                    return (
                        f"local object {md5} is corrupt (bytes hash to {got}); it was not "
                        f"pushed to {self.remote.name}"
                    )
                self.fs.mv(tmp, final)
            except BaseException as exc:
                _rm_quiet(self.fs, tmp)
                if isinstance(exc, OSError):
                    raise _transfer_error(exc, doing, disk="the remote's") from exc
                raise
        return None

    def receive(self, md5: str, on_bytes: Callable[[int], object]) -> tuple[int, str | None]:
        """Download one object into a temp in the cache, check it, land it: (size, problem)."""
        doing = self._doing("pulling", md5)
        try:
            fin = self.fs.open(self.where(md5), "rb")
        except FileNotFoundError:
            return 0, f"object {md5} is not on remote {self.remote.name} ({self.remote.url})"
        except OSError as exc:
            raise _transfer_error(exc, doing, disk="the remote's") from exc
        with fin:
            folder = self.ws.objects.path_of(md5).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=folder)
            except OSError as exc:
                raise _transfer_error(exc, doing, disk="the local") from exc
            try:
                with os.fdopen(fd, "wb") as fout:
                    got = _copy_stream(fin, fout, on_bytes)
                    size = fout.tell()
                if got != _bare(md5):
                    _unlink_quiet(tmp)
                    return 0, _corrupt_remote(md5, self.remote.name, got)
                self.ws.objects._land(tmp, md5)
            except BaseException as exc:
                _unlink_quiet(tmp)
                if isinstance(exc, OSError):
                    raise _transfer_error(exc, doing, disk="the local") from exc
                raise
        return size, None

    def fetch_listing(self, md5: str) -> tuple[bytes, str | None]:
        """The bytes of a remote ``.dir`` object, checked: (data, problem)."""
        try:
            data = self.fs.cat_file(self.where(md5))
        except FileNotFoundError:
            return b"", f"object {md5} is not on remote {self.remote.name} ({self.remote.url})"
        except OSError as exc:
            raise _transfer_error(exc, self._doing("pulling", md5), disk="the remote's") from exc
        got = md5_bytes(data)
        if got != _bare(md5):
            return b"", _corrupt_remote(md5, self.remote.name, got)
        try:
            _parse_listing(data)
        except ValueError:
            return b"", (
                f"folder object {md5} from remote {self.remote.name} is not a valid listing"
            )
        return data, None


def open_remote_fs(ws: Workspace, remote: Remote, write: bool) -> tuple[Any, str]:
    """The fsspec filesystem and root path of ``remote``, checked reachable.

    A local remote folder is created on push only when its parent exists: a missing parent
    usually means an unmounted drive, and filling the mount point on the local disk would hide it.
    """
    from fsspec.core import split_protocol, url_to_fs

    where = f"remote {remote.name} ({remote.url})"
    protocol, path = split_protocol(remote.url)
    url = remote.url
    if protocol in _LOCAL_PROTOCOLS:
        local = Path(path).expanduser()
        if not local.is_absolute():
            local = ws.root / local
        url = str(local)
    try:
        fs, root = url_to_fs(url)
    except ValueError as exc:
        raise RemoteError(f"{where} is unreachable: {_why(exc)}") from None
    except ImportError as exc:
        raise RemoteError(f"{where} needs an fsspec plugin: {exc}") from None
    if protocol in _LOCAL_PROTOCOLS:
        _check_local(Path(url), where, write)
    if write:
        try:
            fs.makedirs(root.rstrip("/") + "/files/md5", exist_ok=True)
        except Exception as exc:  # the backends' own errors (network, auth) vary by plugin
            raise RemoteError(f"{where} is unreachable: {_why(exc)}") from exc
    return fs, root


def _check_local(folder: Path, where: str, write: bool) -> None:
    try:
        if folder.is_dir():
            return
        if folder.exists():
            raise RemoteError(f"{where} is unreachable: {folder} is not a folder")
        if not write:
            raise RemoteError(f"{where} is unreachable: folder {folder} does not exist")
        if not folder.parent.is_dir():
            raise RemoteError(
                f"{where} is unreachable: {folder.parent} does not exist (is its drive mounted?)"
            )
        folder.mkdir()
    except OSError as exc:
        raise RemoteError(f"{where} is unreachable: {_why(exc)}") from exc


# -- helpers --------------------------------------------------------------------------------


def _copy_stream(fin: BinaryIO, fout: BinaryIO, on_bytes: Callable[[int], object]) -> str:
    """Copy ``fin`` to ``fout`` in 1 MiB chunks; return the md5 of the bytes that went through."""
    h = hashlib.md5(usedforsecurity=False)
    while chunk := fin.read(CHUNK_SIZE):
        h.update(chunk)
        fout.write(chunk)
        on_bytes(len(chunk))
    return h.hexdigest()


def _run_all(
    fn: Callable[[str], Any],
    items: list[str],
    jobs: int | None,
    cancel: threading.Event | None = None,
) -> list[tuple[str, Any]]:
    """``[(x, fn(x)) for x in items]`` on a thread pool, in completion order.

    The first exception (or Ctrl-C) sets ``cancel``, so running copies stop at their next chunk
    and remove their partial files, cancels the queued calls, and propagates once the workers are
    done: none is left writing behind the caller's back.
    """
    workers = min(jobs or default_workers(), len(items))
    if workers <= 1:
        return [(x, fn(x)) for x in items]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nb-mlops-transfer")
    try:
        futures = {pool.submit(fn, x): x for x in items}
        return [(futures[f], f.result()) for f in as_completed(futures)]
    except BaseException:
        if cancel is not None:
            cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Cancelled(BaseException):
    """Raised inside a transfer thread when another one failed or the user pressed Ctrl-C."""


class _Progress:
    """The byte counter the transfer threads feed: a tqdm bar when wanted (the notebook widget
    in Jupyter, stderr elsewhere), and the signal that tells them to stop."""

    def __init__(self, progress: bool, total: int, desc: str) -> None:
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._bar: Any = None
        if progress and total > 0:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False
            )

    def __call__(self, n: int) -> None:
        if self.cancel.is_set():
            raise _Cancelled
        if self._bar is not None:
            with self._lock:
                self._bar.update(n)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


def _tally(
    report: TransferReport, problems: dict[str, str], md5: str, problem: str | None, size: int
) -> None:
    if problem is None:
        report.moved += 1
        report.bytes += size
    else:
        problems[md5] = problem
        report.failed.append(md5)


def _finish(report: TransferReport, problems: dict[str, str], started: float) -> TransferReport:
    report.seconds = time.monotonic() - started
    if problems:
        first = next(iter(problems.values()))
        more = f"; and {len(problems) - 1} more (see .report.failed)" if len(problems) > 1 else ""
        raise RemoteError(f"{first}{more}", report)
    return report


def _hash_list(hashes: Iterable[str]) -> list[str]:
    """The hashes, checked and without repeats, in the order given."""
    if isinstance(hashes, str):
        hashes = [hashes]
    seen: dict[str, None] = {}
    for h in hashes:
        if not isinstance(h, str) or not _HASH.fullmatch(h):
            raise RemoteError(f"not an object hash: {h!r}")
        seen[h] = None
    return list(seen)


def _parse_listing(data: bytes) -> list[dict]:
    """A ``.dir`` object's entries; ValueError when it is not a list of md5/relpath dicts."""
    entries = json.loads(data)
    if not isinstance(entries, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("relpath"), str)
        and isinstance(e.get("md5"), str)
        and _HASH.fullmatch(e["md5"])
        for e in entries
    ):
        raise ValueError("not a listing")
    return entries


def _local_size(ws: Workspace, md5: str) -> int:
    try:
        return ws.objects.path_of(md5).stat().st_size
    except OSError:
        return 0


def _transfer_error(exc: OSError, doing: str, disk: str) -> RemoteError:
    if exc.errno in _DISK_FULL:
        return RemoteError(
            f"{disk} disk is full while {doing}; the partial copy was removed: free some "
            "space and run it again"
        )
    if isinstance(exc, PermissionError):
        return RemoteError(f"permission denied while {doing}")
    return RemoteError(f"failed {doing}: {_why(exc)}")


def _corrupt_remote(md5: str, remote: str, got: str) -> str:
    return f"object {md5} from remote {remote} is corrupt (bytes hash to {got})"


def _why(exc: BaseException) -> str:
    """One line about ``exc``: strerror and filename for OS errors, else type and message."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror.lower()}: {exc.filename}" if exc.filename else exc.strerror.lower()
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _rm_quiet(fs: Any, path: str) -> None:
    try:
        fs.rm_file(path)
    except Exception:  # best effort: a stale temp is ignored by listings and swept later
        pass


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _bare(md5: str) -> str:
    return md5.removesuffix(".dir")


def _count(n: int) -> str:
    return f"{n} object" if n == 1 else f"{n} objects"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _sample(items: list[str], limit: int = 3) -> str:
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")
