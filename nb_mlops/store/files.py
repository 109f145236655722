"""File writes that land whole, and OSErrors turned into one-line errors that name the path.

Every OSError the store meets while reading or writing files (its own, the workspace's, a
remote's) goes through `read_error`, `write_error` or `unwritable`, so a full disk or a
symlink loop reads the same wherever it happens.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from nb_mlops.errors import StoreError


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is out (one call is not guaranteed to take all of them)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def atomic_write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write `path` so that readers see the old content or the new one, never a mix."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise unwritable(path.parent, exc) from None


def make_folder(folder: Path) -> None:
    """Make `folder` and its parents when missing; a one-line StoreError when it cannot be."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise unwritable(Path(folder).parent, exc) from None


def append_line(path: Path, data: bytes) -> None:
    """Append whole records (O_APPEND, one write) to a per-run or per-session file.

    The append lands whole or not at all: when the write fails part-way (a full disk), what did
    land is cut off again, so the caller may keep the records and retry without writing any of
    them twice. These files have one writer each (a run's process, a kernel's session), which
    is what makes cutting our own tail safe; nothing extra is done when the write succeeds.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise unwritable(Path(path).parent, exc) from None
    try:
        landed = 0
        view = memoryview(data)
        try:
            while view:
                n = os.write(fd, view)
                landed += n
                view = view[n:]
        except OSError as exc:
            whole = landed == 0 or _cut_own_tail(fd, landed)
            raise unwritable(Path(path).parent, exc, whole=whole) from None
    finally:
        os.close(fd)


def _cut_own_tail(fd: int, landed: int) -> bool:
    """Drop the last `landed` bytes (our own partial write); True when that worked."""
    try:
        return cut_back(fd, os.fstat(fd).st_size - landed)
    except OSError:
        return False


def cut_back(fd: int, before: int, expected: int | None = None) -> bool:
    """Truncate the file open on `fd` to `before` bytes when it now holds `expected` bytes (only
    our own partial write after `before`; None: the caller knows nobody else writes); True when
    the file is back to `before` bytes."""
    try:
        if expected is not None and os.fstat(fd).st_size != expected:
            return False
        os.ftruncate(fd, before)
        return True
    except OSError:
        return False


def unwritable(folder: Path, exc: OSError, whole: bool = True) -> StoreError:
    """A one-line StoreError naming the folder and what to do about it.

    `whole` says whether the failed write left nothing behind (the caller removed or cut back
    what landed); when it did not, the message says that the last record may be cut short.
    """
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    hint = ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "; make it writable or point NB_MLOPS_HOME at a writable folder"
    elif exc.errno in DISK_FULL:
        if whole:
            hint = "; free some space and try again (nothing was half-written)"
        else:
            hint = (
                "; free some space and try again (the last record may be cut short; "
                "readers skip a cut record)"
            )
    return StoreError(f"cannot write to the store folder {folder}: {reason.lower()}{hint}")


DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def describe(exc: BaseException) -> str:
    """One line about `exc`: strerror and filename for OS errors, else type and message."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror.lower()}: {exc.filename}" if exc.filename else exc.strerror.lower()
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def read_error(path: Path | str, exc: OSError) -> StoreError:
    """An OSError met while reading `path` (a file to hash or store) as a one-line StoreError."""
    if exc.errno == errno.ELOOP:
        return StoreError(f"symlink loop at {path}")
    if isinstance(exc, FileNotFoundError):
        if os.path.islink(path):
            return StoreError(f"broken symlink: {path} -> {os.readlink(path)}")
        return StoreError(f"no such file or folder: {path}")
    if isinstance(exc, PermissionError):
        return StoreError(f"permission denied: {path}")
    return StoreError(f"cannot read {path}: {exc.strerror or exc}")


def write_error(exc: OSError, doing: str, disk: str | None = None) -> str:
    """The message for an OSError met while `doing` a write (the partial copy being removed).

    `disk` names whose disk filled up when two are involved ("the remote's", "the local").
    """
    if exc.errno in DISK_FULL:
        if disk is None:
            return f"disk full while {doing}; the partial copy was removed"
        return (
            f"{disk} disk is full while {doing}; the partial copy was removed: free some "
            "space and run it again"
        )
    if isinstance(exc, PermissionError):
        return f"permission denied while {doing}"
    return f"failed {doing}: {describe(exc)}"
