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


def append_line(path: Path, data: bytes) -> None:
    """Append one whole record (O_APPEND, one write) to a per-run or per-session file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise unwritable(Path(path).parent, exc) from None


def unwritable(folder: Path, exc: OSError) -> StoreError:
    """A one-line StoreError naming the folder and what to do about it."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    hint = ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "; make it writable or point NB_MLOPS_HOME at a writable folder"
    elif exc.errno == errno.ENOSPC:
        hint = "; free some space and try again (nothing was half-written)"
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
