"""Unpacking a record: an untrusted zip, checked before anything is written, verified as written.

A record comes from someone else, so the zip's central directory is read and judged whole
first: every entry's name must be a safe relative path (no `..`, no absolute path, drive
letter or backslash, see record.safe_path), no entry may be a link or a special file, be
encrypted, be named twice (also when only the case differs, which a case-insensitive disk
would merge), or be both a file and a folder; the number of entries, the declared total size
and each large entry's compression ratio are bounded, and entries may not overlap in the file
(the trick of the smallest zip bombs). `record.json` is then read (bounded) and checked by
record.read_manifest, and the zip must hold exactly the files the manifest lists, at the sizes
it gives. Only then is anything written: each entry is streamed into place, its bytes counted
as they come (a header that lies about a size is caught there) and its sha256 checked against
the manifest. Any refusal removes what was written and raises one RecordError naming the entry.

Nothing is unpickled and nothing runs: this only moves bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from nb_mlops.records.record import (
    CRATE_METADATA,
    MANIFEST,
    MAX_FILES,
    MAX_MANIFEST_BYTES,
    RecordError,
    read_manifest,
    safe_path,
)
from nb_mlops.text import human_bytes

DEFAULT_MAX_BYTES = 4 << 30
"""Uncompressed bytes a record may unpack to (4 GiB) unless the caller allows more."""
DEFAULT_MAX_ENTRIES = MAX_FILES + 2
"""Entries a record's zip may hold unless the caller allows fewer: the files a manifest may
list, the manifest and the crate metadata."""
DEFAULT_MAX_RATIO = 100.0
"""A large entry that inflates more than this many times its compressed size is refused."""
RATIO_FROM = 1 << 20
"""Entries smaller than this (uncompressed) are not judged on their ratio: a small file of
zeros compresses very well and can do no harm."""
_CHUNK = 1 << 20
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_LOCAL_HEADER = 30  # bytes of a local file header before its name
# what reading a damaged member raises (bad CRC, bad deflate stream, cut short)
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError)


def unpack(
    record_path: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> Path:
    """Unpack the record at `record_path` into `dest` (new, or an empty folder); return `dest`.

    Raises RecordError, with nothing left in `dest`, for anything unsafe or not as the
    record's manifest says (see the module notes); the bounds are `max_bytes` (uncompressed
    total), `max_entries` and `max_ratio`.
    """
    path = Path(record_path)
    label = path.name
    dest = Path(dest)
    zf = _open(path)
    with zf:
        files = _check_directory(zf, label, max_bytes, max_entries, max_ratio)
        manifest_bytes = _read_manifest_bytes(zf, files, label)
        manifest = read_manifest(manifest_bytes)
        _check_listing(files, manifest, label)
        made = _prepare(dest)
        try:
            _extract(zf, files, manifest, manifest_bytes, dest, label, max_bytes)
        except BaseException:
            _clear(dest, made)
            raise
    return dest


# ------------------------------------------------------------------------------ the checks
def _open(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise RecordError(f"no such record: {path}") from None
    except IsADirectoryError:
        raise RecordError(f"{path} is a folder, not a record (a .zip file)") from None
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
        raise RecordError(f"{path} is not a record (not a readable zip: {exc})") from None


def _check_directory(
    zf: zipfile.ZipFile, label: str, max_bytes: int, max_entries: int, max_ratio: float
) -> dict[str, zipfile.ZipInfo]:
    """Judge the central directory whole; the file entries by name."""
    infos = zf.infolist()
    if len(infos) > max_entries:
        raise RecordError(
            f"{label}: {len(infos)} zip entries, more than the {max_entries} a record may hold"
        )
    files: dict[str, zipfile.ZipInfo] = {}
    folders: set[str] = set()
    folded: dict[str, str] = {}
    total = 0
    for info in infos:
        name = info.filename
        where = f"{label}: zip entry {name!r}"
        if info.orig_filename != name:  # zipfile cut it at a NUL byte, or changed separators
            raise RecordError(f"{label}: zip entry {info.orig_filename!r} has an unusable name")
        is_dir = name.endswith("/")
        safe_path(name[:-1] if is_dir else name, f"{label}: refused zip entry")
        _check_kind(info, where)
        key = name.rstrip("/").casefold()
        if key in folded:
            raise RecordError(f"{where} is named twice in the zip (as {folded[key]!r} too)")
        folded[key] = name
        if is_dir:
            folders.add(name[:-1])
            continue
        total += info.file_size
        if info.file_size > max_bytes or total > max_bytes:
            raise RecordError(
                f"{where}: the record unpacks to more than {human_bytes(max_bytes)} "
                f"({human_bytes(total)} so far); pass a larger max_bytes if it is expected"
            )
        if info.file_size > RATIO_FROM and info.file_size > max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise RecordError(
                f"{where} inflates {ratio:.0f} times ({human_bytes(info.compress_size)} to "
                f"{human_bytes(info.file_size)}), more than {max_ratio:g}: refused as a zip bomb"
            )
        files[name] = info
        parts = name.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    for name in files:
        if name in folders:
            raise RecordError(f"{label}: zip entry {name!r} is both a file and a folder")
    _check_overlap(zf, infos, label)
    return files


def _check_kind(info: zipfile.ZipInfo, where: str) -> None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        raise RecordError(f"{where} is a symbolic link; a record holds only files")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise RecordError(f"{where} is a special file (mode {mode:o}); a record holds only files")
    if info.flag_bits & 0x1:
        raise RecordError(f"{where} is encrypted; a record is not")
    if info.compress_type not in _METHODS:
        raise RecordError(f"{where} uses compression method {info.compress_type}, not one we read")


def _check_overlap(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], label: str) -> None:
    """Entries whose data overlap (or run into the central directory) are refused: that is how
    a few kilobytes inflate to gigabytes while each entry looks modest."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    ends = [i.header_offset for i in ordered[1:]] + [getattr(zf, "start_dir", None)]
    for info, limit in zip(ordered, ends, strict=True):
        end = info.header_offset + _LOCAL_HEADER + len(info.filename.encode()) + info.compress_size
        if limit is not None and end > limit:
            raise RecordError(
                f"{label}: zip entry {info.filename!r} overlaps the next one in the file: "
                "refused as a zip bomb"
            )


def _read_manifest_bytes(
    zf: zipfile.ZipFile, files: dict[str, zipfile.ZipInfo], label: str
) -> bytes:
    info = files.get(MANIFEST)
    if info is None:
        raise RecordError(f"{label} is not a record: it has no {MANIFEST}")
    if info.file_size > MAX_MANIFEST_BYTES:
        raise RecordError(
            f"{label}: {MANIFEST} declares {human_bytes(info.file_size)}, more than the "
            f"{human_bytes(MAX_MANIFEST_BYTES)} a manifest may take"
        )
    chunks = []
    size = 0
    try:
        with zf.open(info) as src:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                if size > info.file_size:
                    raise RecordError(f"{label}: {MANIFEST} holds more bytes than it declares")
                chunks.append(chunk)
    except _READ_ERRORS as exc:
        raise RecordError(f"{label}: {MANIFEST} is damaged ({exc})") from None
    return b"".join(chunks)


def _check_listing(files: dict[str, zipfile.ZipInfo], manifest: dict[str, Any], label: str) -> None:
    """The zip holds exactly the files the manifest lists, at the sizes it gives."""
    listed = manifest["files"]
    for name, info in files.items():
        if name in (MANIFEST, CRATE_METADATA):
            continue
        entry = listed.get(name)
        if entry is None:
            raise RecordError(f"{label}: zip entry {name!r} is not listed in {MANIFEST}")
        if entry["size"] != info.file_size:
            raise RecordError(
                f"{label}: zip entry {name!r} holds {info.file_size} bytes; {MANIFEST} says "
                f"{entry['size']}"
            )
    for name in listed:
        if name not in files:
            raise RecordError(f"{label}: {MANIFEST} lists {name!r}, which the zip does not hold")


# ------------------------------------------------------------------------------ writing
def _prepare(dest: Path) -> bool:
    """Make `dest` ready (whether it was made here); refuse one that holds anything."""
    if dest.is_symlink():
        raise RecordError(f"cannot unpack into {dest}: it is a symbolic link")
    if dest.exists():
        if not dest.is_dir():
            raise RecordError(f"cannot unpack into {dest}: it is a file")
        if any(dest.iterdir()):
            raise RecordError(f"cannot unpack into {dest}: the folder is not empty")
        return False
    try:
        dest.mkdir(parents=True)
    except OSError as exc:
        raise RecordError(f"cannot unpack into {dest}: {exc.strerror or exc}") from None
    return True


def _extract(
    zf: zipfile.ZipFile,
    files: dict[str, zipfile.ZipInfo],
    manifest: dict[str, Any],
    manifest_bytes: bytes,
    dest: Path,
    label: str,
    max_bytes: int,
) -> None:
    listed = manifest["files"]
    written = 0
    for name, info in files.items():
        target = dest.joinpath(*name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with _create(target, name, label) as out:
            if name == MANIFEST:
                out.write(manifest_bytes)  # the bytes that were checked, not a second read
                written += len(manifest_bytes)
                continue
            digest = hashlib.sha256()
            size = 0
            try:
                with zf.open(info) as src:
                    while chunk := src.read(_CHUNK):
                        size += len(chunk)
                        written += len(chunk)
                        if size > info.file_size:
                            raise RecordError(
                                f"{label}: zip entry {name!r} holds more than the "
                                f"{info.file_size} bytes it declares"
                            )
                        if written > max_bytes:
                            raise RecordError(
                                f"{label}: zip entry {name!r}: the record unpacks to more than "
                                f"{human_bytes(max_bytes)}; pass a larger max_bytes if expected"
                            )
                        digest.update(chunk)
                        out.write(chunk)
            except _READ_ERRORS as exc:
                raise RecordError(f"{label}: zip entry {name!r} is damaged ({exc})") from None
        expected = listed.get(name, {}).get("sha256")
        if expected is not None and digest.hexdigest() != expected:
            raise RecordError(
                f"{label}: zip entry {name!r} does not match its sha256 in {MANIFEST} "
                "(the record was changed or damaged)"
            )


def _create(target: Path, name: str, label: str) -> BinaryIO:
    """A new file, never through a link and never over an existing one."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        raise RecordError(f"{label}: zip entry {name!r} would overwrite a file") from None
    except OSError as exc:
        raise RecordError(f"{label}: cannot write {name!r}: {exc.strerror or exc}") from None
    return os.fdopen(fd, "wb")


def _clear(dest: Path, made: bool) -> None:
    """Remove what an unpack that failed had written."""
    if made:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
