"""Packed points: the points of small finished runs, one line per run in `runs/points.pack`.

While a run lives its points go to its own folder's file (series.py), flushed every second. A
folder costs a directory block and a file block (8 KB on most file systems) for what is often
a few hundred bytes, so at a clean end a run whose folder holds nothing but its points (and the
heartbeat), at most `PACK_MAX_POINTS` of them in at most `PACK_MAX_BYTES`, is packed:

1. its points are appended as one whole line to the shared pack, under the pack's lock;
2. the run's catalog document records where (`points`: pack name, offset, length, count), in
   the same `set` that records how the run ended;
3. the folder is removed.

A process killed between any two steps loses nothing: after 1 the pack holds a line nothing
names (harmless) and the folder is still there; after 2 the folder and the line hold the same
points, and readers take the folder's. Since a document names a line only once the line is
whole, a reader never meets a cut line. The pack only grows: a deleted run's line is
overwritten with spaces where it is (`blank_run_line`), so no other line moves.

A line: `{"run":"k3x9a2bc","points":[["loss",0.25,3,1764185400.123456],...]}` (JSON; NaN and
Infinity as Python's json writes them). A run that kept its cells and output for its end (a
`%%track` cell: `Run.record_cell(at_end=True)`) packs them in the same line when they are
small, as `"cells":[{...}]` and `"output":{"stdout":TEXT,"stderr":TEXT}`: such a run never makes
a folder at all, unless it lives long enough for a heartbeat.

The location is untrusted input (a hand-edited catalog): only the pack's own name is accepted,
and the line read must be a whole line naming the run, with points of the right shape and
number, cells that are records and output that is text; anything else is a one-line
StoreError.

`read_run_points(ws, doc)` is the one reader of a run's points, packed or not.
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nb_mlops.errors import StoreError
from nb_mlops.store.files import cut_back, read_error, unwritable, write_all
from nb_mlops.store.layout import LOCKS_DIR, PACKED_POINTS_FILE, RunFiles
from nb_mlops.store.lock import StoreLock, holding
from nb_mlops.store.series import Point, columns_of, load_columns, parse_points
from nb_mlops.store.workspace import Workspace

__all__ = [
    "PACK_MAX_BYTES",
    "PACK_MAX_POINTS",
    "PACK_MAX_TEXT",
    "append_points",
    "blank",
    "blank_run_line",
    "encode_line",
    "load_run_columns",
    "pack_locked",
    "pack_path",
    "pack_run",
    "packable_points",
    "read_packed",
    "read_packed_line",
    "read_run_cells",
    "read_run_output",
    "read_run_points",
    "remove_packed_folder",
]

PACK_MAX_POINTS = 10
"""A run with more points keeps its folder."""
PACK_MAX_BYTES = 4096
"""Nor is a run packed whose points file is larger than this (long metric names)."""
PACK_MAX_TEXT = 16 * 1024
"""Nor are a run's cells and output packed when as JSON they take more than this (a long
cell's source, a chatty cell's output): they go to its folder."""
MAX_LINE = 64 * 1024
"""A location saying a line is longer than this is damaged (no pack line comes near it)."""
LOCK_TIMEOUT_S = 10.0
"""A run end waits this long at most for the pack's lock (held only for a write of a line or
a scrub of the pack); then the run keeps its folder."""


def pack_path(ws: Workspace) -> Path:
    """The shared pack file of the store `ws`."""
    return ws.runs_dir / PACKED_POINTS_FILE


_LOCKS: weakref.WeakKeyDictionary[Workspace, StoreLock] = weakref.WeakKeyDictionary()


@contextmanager
def pack_locked(ws: Workspace) -> Iterator[None]:
    """Hold the pack's lock (`locks/points.pack.lock`), taken for every write to the pack;
    re-entrant in one thread. A one-line StoreError when it stays taken past the timeout."""
    lock = _LOCKS.get(ws)
    if lock is None:
        path = ws.home / LOCKS_DIR / f"{PACKED_POINTS_FILE}.lock"
        lock = _LOCKS.setdefault(ws, StoreLock(path, LOCK_TIMEOUT_S))
    with holding(lock, "the lock of the points pack"):
        yield


# ------------------------------------------------------------------------------------ writing
def pack_run(
    ws: Workspace, files: RunFiles, run_id: str, extra: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Append the points of a finished run to the pack when its folder may be packed (see the
    module's docstring), with `extra` (its `cells` and `output`); the location to record in its
    document, or None to keep the folder.

    The caller has closed the run's writer: nothing writes to the folder any more.
    """
    points = packable_points(files)
    if points is None:
        return None
    line = encode_line(run_id, points, extra)
    if extra and len(line) - len(encode_line(run_id, points)) > PACK_MAX_TEXT:
        return None  # a long cell or a chatty one: its text goes to the folder
    return _append_located(ws, line, len(points))


def packable_points(files: RunFiles) -> list[Point] | None:
    """The run's points when its folder holds nothing else and they are few enough, else None.

    A points file with a line that does not read (cut by a failed write) is left as it is.
    """
    allowed = {files.metrics.name, files.heartbeat.name}
    try:
        names = os.listdir(files.folder)
        if not set(names) <= allowed:
            return None
        with open(files.metrics, "rb") as fh:
            raw = fh.read(PACK_MAX_BYTES + 1)
    except FileNotFoundError:
        raw = b""  # no points at all (the file is made with the first flush)
    except OSError:
        return None
    if len(raw) > PACK_MAX_BYTES or (raw and not raw.endswith(b"\n")):
        return None
    points = parse_points(raw)
    if len(points) > PACK_MAX_POINTS or len(points) != raw.count(b"\n"):
        return None
    return points


def encode_line(
    run_id: str, points: list[Point] | list[list[Any]], extra: dict[str, Any] | None = None
) -> bytes:
    """The pack line holding `points` of run `run_id`, and its `cells` and `output` when given
    in `extra` (newline included)."""
    body = {"run": run_id, "points": [list(p) for p in points]}
    if extra:
        body.update((k, extra[k]) for k in _EXTRA_FIELDS if extra.get(k))
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def append_points(
    ws: Workspace,
    run_id: str,
    points: list[Point] | list[list[Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one line holding `points` (and `extra`) to the pack; its location (the
    document's `points`)."""
    return _append_located(ws, encode_line(run_id, points, extra), len(points))


def _append_located(ws: Workspace, line: bytes, count: int) -> dict[str, Any]:
    with pack_locked(ws):
        offset = _append(pack_path(ws), line)
    return {"pack": PACKED_POINTS_FILE, "offset": offset, "length": len(line), "count": count}


def _append(path: Path, line: bytes) -> int:
    """Append `line` whole (the caller holds the pack's lock); the offset it starts at.

    A write that fails part-way is cut off again. Should that cut fail too, the next append
    starts on a new line, so every line a document names is whole.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise unwritable(path.parent, exc) from None
    try:
        size = os.fstat(fd).st_size
        data = line
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + line  # the tail of a write that failed and could not be cut off
        try:
            write_all(fd, data)
        except OSError as exc:
            whole = cut_back(fd, size)
            raise unwritable(path.parent, exc, whole=whole) from None
        return size + len(data) - len(line)
    except OSError as exc:
        raise unwritable(path.parent, exc) from None
    finally:
        os.close(fd)


def blank(ws: Workspace, offset: int, nbytes: int) -> None:
    """Overwrite `nbytes` of the pack from `offset` with spaces: how scrub removes a string from
    a line nothing names any more. The file keeps its length, so every line the catalog names
    stays where it is."""
    path = pack_path(ws)
    with pack_locked(ws):
        try:
            fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise unwritable(path.parent, exc) from None
        try:
            if offset >= 0 and offset + nbytes <= os.fstat(fd).st_size:
                os.pwrite(fd, b" " * nbytes, offset)
        except OSError as exc:
            raise unwritable(path.parent, exc) from None
        finally:
            os.close(fd)


def blank_run_line(ws: Workspace, run_id: str, location: Any) -> bool:
    """Overwrite the pack line of a deleted run with spaces (its points, cell source and
    output go with the run); False, and nothing touched, when `location` does not name a whole
    line of that run (a damaged or forged record must not blank another run's line)."""
    try:
        read_packed_line(ws, run_id, location)
    except StoreError:
        return False
    blank(ws, location["offset"], location["length"] - 1)
    return True


def remove_packed_folder(files: RunFiles) -> None:
    """Remove a packed run's folder (its points file and heartbeat); best effort: a folder left
    behind holds the same points as the pack, and readers take either."""
    if not os.path.isdir(files.folder):
        return  # a quick run never made one
    for _ in range(3):  # a heartbeat touched in the same instant is removed on the next turn
        for path in (files.metrics, files.heartbeat):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                return
        try:
            files.folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            continue


# ------------------------------------------------------------------------------------ reading
def read_run_points(ws: Workspace, doc: dict[str, Any]) -> list[Point]:
    """The points of the run `doc` (a catalog document), in the order they were written: from
    its folder's file while there is one, else from the pack. [] for a run without points."""
    run_id = doc["run_id"]
    files = ws.run_files(run_id)
    try:
        return parse_points(files.metrics.read_bytes())
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise read_error(files.metrics, exc) from None
    location = _location_of(ws, doc)
    return [] if location is None else read_packed(ws, run_id, location)


def read_run_cells(ws: Workspace, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The cells the run `doc` executed, in order: from its folder's file while there is one,
    else from its pack line. [] for a run without cells."""
    from nb_mlops.jsonl import read_jsonl

    path = ws.run_files(doc["run_id"]).cells
    if path.exists():
        return read_jsonl(path)
    return list(_packed_extra(ws, doc).get("cells", []))


def read_run_output(ws: Workspace, doc: dict[str, Any], stream: str) -> str | None:
    """What the run `doc` printed to `stream` (stdout or stderr): from its folder's file while
    there is one, else from its pack line. None when it kept nothing."""
    path = ws.run_files(doc["run_id"]).output(stream)
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise read_error(path, exc) from None
    return _packed_extra(ws, doc).get("output", {}).get(stream)


def _packed_extra(ws: Workspace, doc: dict[str, Any]) -> dict[str, Any]:
    location = _location_of(ws, doc)
    if location is None:
        return {}
    return read_packed_line(ws, doc["run_id"], location)


def load_run_columns(ws: Workspace, doc: dict[str, Any]) -> dict[str, tuple[Any, Any, Any]]:
    """The points of the run `doc` in columns, as `series.load_columns` gives them: from its
    folder (with the column cache of a long run) while there is one, else from the pack."""
    files = ws.run_files(doc["run_id"])
    if files.metrics.is_file():
        columns = load_columns(files.folder)
        if columns or files.metrics.is_file():
            return columns
    return columns_of(read_run_points(ws, doc))


def _location_of(ws: Workspace, doc: dict[str, Any]) -> Any:
    """Where the run's points are packed; the catalog is asked again when `doc` says nowhere
    (the run may have been packed since `doc` was read)."""
    if "points" in doc and doc["points"] is not None:
        return doc["points"]
    fresh = ws.catalog.get("runs", doc["run_id"])
    return None if fresh is None else fresh.get("points")


def read_packed(ws: Workspace, run_id: str, location: Any) -> list[Point]:
    """The points of run `run_id` from the pack line at `location`, checked: a one-line
    StoreError naming the pack and the run when the location or the line is not right."""
    return read_packed_line(ws, run_id, location)["points"]


def read_packed_line(ws: Workspace, run_id: str, location: Any) -> dict[str, Any]:
    """The pack line at `location` of run `run_id`, checked: `points` as tuples, and `cells`
    and `output` when the line has them (see `read_packed`)."""
    path = pack_path(ws)
    offset, length, count = _check_location(path, run_id, location)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise StoreError(
            f"run {run_id}: its points are packed in {path}, which is missing"
        ) from None
    except OSError as exc:
        raise read_error(path, exc) from None
    try:
        size = os.fstat(fd).st_size
        if offset + length > size:
            raise _damaged(path, run_id, f"its line ({offset}+{length}) ends past the file's end")
        start = offset - 1 if offset else 0
        data = os.pread(fd, offset + length - start, start)
    except OSError as exc:
        raise read_error(path, exc) from None
    finally:
        os.close(fd)
    if offset and data[:1] != b"\n":
        raise _damaged(path, run_id, f"offset {offset} is not the start of a line")
    line = data[offset - start :]
    if len(line) != length or not line.endswith(b"\n"):
        raise _damaged(path, run_id, f"the {length} bytes at offset {offset} are not a whole line")
    return _line_of(path, run_id, line, count)


_EXTRA_FIELDS = ("cells", "output")
_STREAMS = ("stdout", "stderr")


def _line_of(path: Path, run_id: str, line: bytes, count: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise _damaged(path, run_id, "its line is not JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("points"), list):
        raise _damaged(path, run_id, "its line is not a line of packed points")
    if obj.get("run") != run_id:
        raise _damaged(path, run_id, f"its line holds the points of run {_show(obj.get('run'))}")
    raw = obj["points"]
    if len(raw) != count:
        raise _damaged(path, run_id, f"its line holds {len(raw)} points, not {count}")
    points = []
    for i, point in enumerate(raw):
        if not _is_point(point):
            raise _damaged(path, run_id, f"point {i} of its line is {_show(point)}")
        key, value, step, ts = point
        points.append((key, float(value), int(step), float(ts)))
    out: dict[str, Any] = {"points": points}
    cells = obj.get("cells")
    if cells is not None:
        if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
            raise _damaged(path, run_id, f"its cells are {_show(cells)}, not a list of records")
        out["cells"] = cells
    output = obj.get("output")
    if output is not None:
        if not isinstance(output, dict) or not all(
            k in _STREAMS and isinstance(v, str) for k, v in output.items()
        ):
            raise _damaged(path, run_id, f"its output is {_show(output)}, not stdout and stderr")
        out["output"] = output
    return out


def _is_point(point: Any) -> bool:
    """Whether `point` is `[key, value, step, time]` as series.py writes it."""
    if not isinstance(point, list) or len(point) != 4:
        return False
    key, value, step, ts = point
    return (
        isinstance(key, str)
        and _is_number(value)
        and type(step) is int
        and step >= 0
        and _is_number(ts)
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_location(path: Path, run_id: str, location: Any) -> tuple[int, int, int]:
    """(offset, length, count) of a location the catalog holds, once checked."""

    def bad(why: str) -> StoreError:
        return StoreError(
            f"run {run_id}: the catalog's record of where its points are in {path} is "
            f"damaged ({why}); its folder is gone, so its points cannot be read"
        )

    if not isinstance(location, dict):
        raise bad(f"expected a mapping, got {_show(location)}")
    if location.get("pack") != PACKED_POINTS_FILE:
        raise bad(f"pack {_show(location.get('pack'))}, not {PACKED_POINTS_FILE!r}")
    values = []
    for field, low, high in (("offset", 0, None), ("length", 2, MAX_LINE), ("count", 0, None)):
        value = location.get(field)
        if type(value) is not int or value < low or (high is not None and value > high):
            limits = f"from {low}" + (f" to {high}" if high is not None else "")
            raise bad(f"{field} {_show(value)} is not a whole number {limits}")
        values.append(value)
    offset, length, count = values
    if count > length:
        raise bad(f"count {count} is more than a line of {length} bytes can hold")
    return offset, length, count


def _damaged(path: Path, run_id: str, why: str) -> StoreError:
    return StoreError(f"run {run_id}: its packed points in {path} are damaged: {why}")


def _show(value: Any) -> str:
    """A short one-line rendering of an untrusted value for a message."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
