"""File writes that land whole, and the one error every unwritable-store case raises."""

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
