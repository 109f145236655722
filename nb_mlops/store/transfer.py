"""Moving objects from one object store to another: the one copy path between them.

A push is a transfer from this store's cache to a remote, a pull the other way, and placing a
version in DVC's cache (or taking one from it) a transfer between two local caches. Only objects
the destination lacks move, several at a time, each hashed as its bytes stream through and
landed whole (see ObjectDB.write). A folder's ``.dir`` object always lands last, once every file
it lists is there, because a ``.dir`` present in a store means its files are there too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from nb_mlops.errors import RemoteError, StoreError
from nb_mlops.results import Result
from nb_mlops.store.files import describe, write_error
from nb_mlops.store.hashing import default_workers, map_in_threads
from nb_mlops.store.listing import parse_listing
from nb_mlops.store.objects import HASH, HashMismatch, ObjectDB
from nb_mlops.text import human_bytes, plural

__all__ = ["TransferReport", "transfer"]


@dataclass
class TransferReport(Result):
    """What a push or pull did: objects moved, objects already there, bytes moved, failures.

    `remote` names the other side (a remote, or DVC's cache); `direction` is seen from this
    store's cache: `push` sends from it, `pull` brings into it.
    """

    remote: str
    direction: Literal["push", "pull"]
    moved: int = 0
    skipped: int = 0
    bytes: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        pushing = self.direction == "push"
        verb = "pushed" if pushing else "pulled"
        prep = "to" if pushing else "from"
        there = "already there" if pushing else "already here"
        if self.moved == 0 and not self.failed:
            if not self.skipped:
                return f"nothing to {self.direction} ({prep} {self.remote})"
            return (
                f"nothing to {self.direction}: {plural(self.skipped, 'object')} {there} "
                f"({prep} {self.remote})"
            )
        moved = f"{plural(self.moved, 'object')} ({human_bytes(self.bytes)})"
        text = f"{verb} {moved} {prep} {self.remote}"
        if self.skipped:
            text += f"; {self.skipped} {there}"
        if self.failed:
            text += f"; {len(self.failed)} failed"
        return text

    def to_html(self) -> str:
        import html

        return f"<code>{html.escape(self.to_text())}</code>"


def transfer(
    src: ObjectDB,
    dst: ObjectDB,
    hashes: Iterable[str],
    *,
    jobs: int | None = None,
    progress: bool = True,
) -> TransferReport:
    """Copy the objects ``hashes`` (``.dir`` ones with their files) from `src` to `dst`.

    Objects `dst` holds are skipped. Each object that is absent, corrupt or cannot be written
    is listed in the report's `failed` (a folder object too, when one of its files failed), the
    rest still move, and a RemoteError naming the first problem and the count is raised at the
    end, carrying the report. When `src` is this store's cache and holds none of the objects,
    nothing is asked of `dst` (a remote folder is not even made). A write that fails for lack of
    space or permission stops the transfer at once, removing partial copies.
    """
    started = time.monotonic()
    pushing = src.home
    report = TransferReport((dst if pushing else src).name, "push" if pushing else "pull")
    wanted = _hash_list(hashes)
    problems: dict[str, str] = {}

    def fail(md5: str, problem: str) -> None:
        problems[md5] = problem
        report.failed.append(md5)

    if pushing:
        for h in [h for h in wanted if not src.has(h)]:
            fail(h, src.missing(h))
        if wanted and len(problems) == len(wanted):
            raise RemoteError(
                f"cannot push to {dst.name}: {plural(len(wanted), 'object')} not in "
                f"{src.name}: {_sample(wanted)}",
                report,
            )
        wanted = [h for h in wanted if h not in problems]
    src.connect()
    dst.connect()

    # 1. Folder listings: read on this store's side when it has them; a listing that must come
    # from the other side is checked, kept in memory and written once its files arrived.
    dirs = [h for h in wanted if h.endswith(".dir")]
    present_dirs = set(dst.index(dirs, jobs)) if dirs else set()
    listings: dict[str, list[dict]] = {}
    fetched: dict[str, bytes] = {}
    for h in dirs:
        side = dst if (h in present_dirs and dst.home) else src
        try:
            if side.home:
                listings[h] = side.listing(h)
            else:
                data = src.fetch(h)
                listings[h] = parse_listing(data, f"{h} from {src.where}")
                fetched[h] = data
        except FileNotFoundError:
            fail(h, src.missing(h))
        except HashMismatch as exc:
            fail(h, _corrupt(src, dst, h, exc.got))
        except StoreError as exc:  # a listing that does not parse, a local object unreadable
            fail(h, str(exc))
        except OSError as exc:
            raise RemoteError(write_error(exc, _doing(src, dst, h), src.disk)) from exc
    report.skipped += len(present_dirs)

    # 2. Files: those asked for or listed that the destination lacks.
    files = {h for h in wanted if not h.endswith(".dir")}
    for entries in listings.values():
        files.update(e["md5"] for e in entries)
    present = dst.index(files, jobs)
    report.skipped += len(present)
    todo = sorted(files.difference(present))
    sizes = src.index(todo, jobs)
    for h in todo:
        if h not in sizes:
            fail(h, src.missing(h))
    todo = [h for h in todo if h in sizes]
    arrived = set(present)
    direction = report.direction
    with _Progress(
        progress, sum(sizes[h] or 0 for h in todo), f"{direction} {report.remote}"
    ) as bar:

        def copy(h: str) -> tuple[int, str | None]:
            return _copy_one(src, dst, h, bar)

        copied = map_in_threads(copy, todo, jobs or _workers(src, dst), bar.cancel)
        for h, (size, problem) in zip(todo, copied, strict=True):
            _tally(report, fail, h, problem, size)
            if problem is None:
                arrived.add(h)

        # 3. Folder objects last, each once all of its files are in the destination.
        for h in dirs:
            if h in present_dirs or h not in listings:
                continue
            lacking = [e["md5"] for e in listings[h] if e["md5"] not in arrived]
            if lacking:
                fail(
                    h,
                    f"folder object {h} was not {direction}ed: {len(lacking)} of its files failed",
                )
            elif h in fetched:
                _land(dst, h, fetched[h], report)
            else:
                size, problem = _copy_one(src, dst, h, bar)
                _tally(report, fail, h, problem, size)
    report.seconds = time.monotonic() - started
    if problems:
        first = next(iter(problems.values()))
        more = f"; and {len(problems) - 1} more (see .report.failed)" if len(problems) > 1 else ""
        raise RemoteError(f"{first}{more}", report)
    return report


def _copy_one(src: ObjectDB, dst: ObjectDB, md5: str, bar: Any) -> tuple[int, str | None]:
    """Copy one object, verified on the way: (bytes moved, None) or (0, the problem)."""
    if dst.link_in(src, md5):
        size = src.index([md5]).get(md5) or 0
        bar(size)
        return size, None
    doing = _doing(src, dst, md5)
    try:
        fin = src.open_object(md5)
    except FileNotFoundError:
        return 0, src.missing(md5)
    except OSError as exc:
        if src.home:
            raise RemoteError(f"cannot read {src.describe(md5)}: {describe(exc)}") from exc
        raise RemoteError(write_error(exc, doing, src.disk)) from exc
    with fin:
        try:
            _, size = dst.write(fin, md5, on_bytes=bar, doing=doing, disk=dst.disk)
        except HashMismatch as exc:
            return 0, _corrupt(src, dst, md5, exc.got)
        except StoreError as exc:
            raise RemoteError(str(exc)) from exc
    return size, None


def _land(dst: ObjectDB, md5: str, data: bytes, report: TransferReport) -> None:
    try:
        dst.write(data, md5, doing=f"writing object {md5}", disk=dst.disk)
    except StoreError as exc:
        raise RemoteError(str(exc)) from exc
    report.moved += 1
    report.bytes += len(data)


def _workers(src: ObjectDB, dst: ObjectDB) -> int:
    """Copies at once: as many as the slower side wants (a store over the network asks for
    more threads than the CPUs suggest, its requests wait on latency; see FsObjectDB.jobs)."""
    return max(getattr(src, "jobs", 0), getattr(dst, "jobs", 0)) or default_workers()


def _doing(src: ObjectDB, dst: ObjectDB, md5: str) -> str:
    if src.home:
        return f"pushing object {md5} to {dst.where}"
    return f"pulling object {md5} from {src.where}"


def _corrupt(src: ObjectDB, dst: ObjectDB, md5: str, got: str) -> str:
    text = f"{src.describe(md5)} is corrupt (bytes hash to {got})"
    return f"{text}; it was not pushed to {dst.name}" if src.home else text


def _tally(
    report: TransferReport,
    fail: Callable[[str, str], None],
    md5: str,
    problem: str | None,
    size: int,
) -> None:
    if problem is None:
        report.moved += 1
        report.bytes += size
    else:
        fail(md5, problem)


def _hash_list(hashes: Iterable[str]) -> list[str]:
    """The hashes, checked and without repeats, in the order given."""
    if isinstance(hashes, str):
        hashes = [hashes]
    seen: dict[str, None] = {}
    for h in hashes:
        if not isinstance(h, str) or not HASH.fullmatch(h):
            raise RemoteError(f"not an object hash: {h!r}")
        seen[h] = None
    return list(seen)


def _sample(items: list[str], limit: int = 3) -> str:
    head = ", ".join(items[:limit])
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")


class _Cancelled(BaseException):
    """Raised inside a copy when another one failed or the user pressed Ctrl-C."""


class _Progress:
    """The byte counter the copies feed: a tqdm bar when wanted (the notebook widget in
    Jupyter, stderr elsewhere), and the signal that tells them to stop."""

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
