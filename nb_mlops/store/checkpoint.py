"""A checkpoint of the catalog journal's replay, so a cold reader replays only the journal's tail.

The journal stays the record of truth; a checkpoint is derived data that deleting loses nothing
of. It holds the state replayed from the journal's first `offset` bytes: the small tables whole,
the runs table as each run's journal lines (offset and length, read and checked again when a run
is first needed), and the runs' fields as columns (store/columns.py) for scans and frames.

File: MAGIC, the header's length (8 bytes, little-endian), the header (JSON), then the sections.
The header names the checkpoint format, the catalog shapes its records were checked against, the
journal prefix it was replayed from (length, CRC-32 of those bytes, lines and records), and each
section's place, encoding and CRC-32. A reader checks all of it against the journal before using
anything, and each section's CRC when it first reads it; a checkpoint that fails any check, was
made by another format, or is simply older than a rewrite of the journal (compaction, repair) is
ignored, the journal is replayed in full, and a fresh checkpoint replaces it.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import secrets
import shutil
import struct
import sys
import tempfile
import threading
import zlib
from array import array
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - an environment without it (a replay's kernel may
    orjson = None  # hold only the packages a record names): json alone, slower, the same

from nb_mlops.store.columns import MISSING, Path_
from nb_mlops.store.lock import hold_shared

MAGIC = b"NBMLOPS-CHECKPOINT\n"
FORMAT = 2
"""Bumped whenever the file's layout changes: a checkpoint of another format is not read.
2: the summaries are checked by blocks (SUM_BLOCK bytes, a CRC-32 each), read as needed."""
SUM_BLOCK = 4096
"""A query for 1% of 100,000 runs reads ~4 MB of the 23 MB of summaries, not all of them."""
TAIL_REFRESH_BYTES = 8 << 20
"""A cold reader that had to replay more than this past the checkpoint asks for a fresh one."""
_CHUNK = 4 << 20
_WINDOW = 64 << 20
_MAX_SUMMARY = 16 << 20
_MAX_HEADER = 64 << 20
CRC_THREAD_FROM = 16 << 20
"""A journal prefix at least this long is checked in a thread while the rows load."""
_LITTLE = sys.byteorder == "little"


class Unusable(ValueError):
    """The checkpoint cannot be used (damaged, stale, or of another format): replay in full."""


def shapes_digest(shapes: Any) -> str:
    """A digest of the catalog shapes: records checked against other shapes are checked again."""
    text = json.dumps(shapes, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def crc_of(fd: int, length: int, start_crc: int = 0, start: int = 0) -> int:
    """CRC-32 of the file's bytes [start, length), mapped (or read) a window at a time, so
    memory stays flat however long the journal is."""
    crc = start_crc
    pos = start
    if pos % mmap.ALLOCATIONGRANULARITY == 0:
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        try:
            while pos < length:
                size = min(_WINDOW, length - pos)
                with mmap.mmap(fd, size, flags=flags, prot=mmap.PROT_READ, offset=pos) as window:
                    crc = zlib.crc32(window, crc)
                pos += size
            return crc
        except (OSError, ValueError):  # a file system without mmap: read it
            crc, pos = start_crc, start
    while pos < length:
        chunk = os.pread(fd, min(_CHUNK, length - pos), pos)
        if not chunk:
            raise Unusable("the journal is shorter than the checkpoint says")
        crc = zlib.crc32(chunk, crc)
        pos += len(chunk)
    return crc


class _PrefixCrc:
    """`crc_of` the journal's prefix, in a thread when the prefix is long, while the caller
    loads the checkpoint's rows (zlib and mmap release the GIL; at 100,000 runs each takes
    about as long as the other). `result()` waits for it: nothing is used before."""

    def __init__(self, fd: int, length: int) -> None:
        self._value: int | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if length < CRC_THREAD_FROM:
            self._value = crc_of(fd, length)
            return
        self._thread = threading.Thread(target=self._run, args=(fd, length), daemon=True)
        self._thread.start()

    def _run(self, fd: int, length: int) -> None:
        try:
            self._value = crc_of(fd, length)
        except BaseException as exc:  # re-raised by result(), in the caller's thread
            self._error = exc

    def result(self) -> int:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


# --------------------------------------------------------------------------- encoding
def _ints(values: list[int]) -> bytes:
    data = array("q", values)
    if not _LITTLE:  # pragma: no cover - big-endian machines
        data.byteswap()
    return data.tobytes()


def _floats(values: list[float]) -> bytes:
    data = array("d", values)
    if not _LITTLE:  # pragma: no cover
        data.byteswap()
    return data.tobytes()


def _read_array(kind: str, raw: bytes, as_list: bool = True) -> Any:
    data = array(kind)
    try:
        data.frombytes(raw)
    except ValueError:
        raise Unusable("a section's length does not fit its type") from None
    if not _LITTLE:  # pragma: no cover
        data.byteswap()
    return data.tolist() if as_list else data


def _lines(values: list[Any]) -> bytes | None:
    """Strings without a newline as UTF-8 lines (read back 5x faster than a JSON list), or
    None when the values are not all such strings."""
    if not values or set(map(type, values)) != {str}:
        return None
    text = "\n".join(values)
    if text.count("\n") != len(values) - 1:
        return None  # a value holds a newline
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate: JSON writes it escaped
        return None


def _split_lines(raw: bytes, count: int) -> list[str]:
    try:
        values = raw.decode().split("\n")
    except UnicodeDecodeError:
        raise Unusable("a section of lines is not UTF-8") from None
    if len(values) != count:
        raise Unusable("a section of lines does not match its count")
    return values


def json_bytes(obj: Any) -> bytes:
    """Compact JSON as UTF-8; escaped (ASCII) when a string holds a lone surrogate, which a
    journal line may spell (`"\\ud800"`) but UTF-8 cannot hold."""
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode()


_json = json_bytes


class _Writer:
    """Sections go to a scratch file as they are made (a million runs' sections are ~400 MB
    that need not sit in memory until the header, which comes first, is known)."""

    def __init__(self, folder: Path) -> None:
        self.scratch = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (closed by write_checkpoint)
        self.size = 0
        self.sections: dict[str, list] = {}
        self.columns: list[dict[str, Any]] = []
        self.ids_kind = "json"

    def add(self, name: str, data: bytes) -> str:
        self.sections[name] = [self.size, len(data), zlib.crc32(data)]
        self.scratch.write(data)
        self.size += len(data)
        return name


def write_checkpoint(
    path: Path,
    *,
    journal: dict[str, Any],
    shapes: str,
    tables: Mapping[str, Mapping[str, Any]],
    lazy_table: str,
    lazy_ids: list[str],
    lazy_locs: list[list[int]],
    columns: list[tuple[Path_, list[Any]]],
    summaries: list[bytes],
    zdict: bytes,
) -> None:
    """Write a checkpoint whole (temp file, fsync, rename): readers see the old one or this.

    `journal`: {"offset", "crc", "lines", "records"} of the prefix replayed; `lazy_locs[i]`:
    the flat [offset, length, ...] of the journal lines that make run `lazy_ids[i]`;
    `summaries[i]`: its listing fields (columns.summary_of) as `compress_summary` made them
    with `zdict`.
    """
    w = _Writer(path.parent)
    try:
        _write_sections(w, tables, lazy_ids, lazy_locs, columns, summaries, zdict)
        header = _json(
            {
                "format": FORMAT,
                "shapes": shapes,
                "journal": journal,
                "lazy": lazy_table,
                "rows": len(lazy_ids),
                "ids": w.ids_kind,
                "columns": w.columns,
                "sections": w.sections,
            }
        )
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(3)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            hold_shared(fd)  # gc leaves a temp alone while its writer lives
            try:
                with os.fdopen(fd, "wb", closefd=False) as fh:
                    fh.write(MAGIC + struct.pack("<Q", len(header)) + header)
                    w.scratch.seek(0)
                    shutil.copyfileobj(w.scratch, fh, 1 << 20)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        w.scratch.close()


def _write_sections(
    w: _Writer,
    tables: Mapping[str, Mapping[str, Any]],
    lazy_ids: list[str],
    lazy_locs: list[list[int]],
    columns: list[tuple[Path_, list[Any]]],
    summaries: list[bytes],
    zdict: bytes,
) -> None:
    w.add("tables", _json({tb: dict(docs) for tb, docs in tables.items()}))
    lines = _lines(lazy_ids)
    w.ids_kind = "lines" if lines is not None else "json"
    w.add("ids", lines if lines is not None else _json(lazy_ids))
    starts = [0]
    flat: list[int] = []
    for locs in lazy_locs:
        flat.extend(locs)
        starts.append(len(flat))
    w.add("loc_start", _ints(starts))
    w.add("locs", _ints(flat))
    ends = [0]
    for text in summaries:
        ends.append(ends[-1] + len(text))
    w.add("sum_start", _ints(ends))
    sums = b"".join(summaries)
    w.add("sums", sums)
    w.add("sum_crcs", _block_crcs(sums))
    w.add("sum_zdict", zdict)
    described = []
    for i, (col_path, values) in enumerate(columns):
        missing = values.count(MISSING)
        entry: dict[str, Any] = {"path": list(col_path), "rows": None}
        if not missing:
            present = values
        elif 2 * missing < len(values):  # mostly there: name the rows without a value
            absent = [r for r, v in enumerate(values) if v is MISSING]
            present = [v for v in values if v is not MISSING]
            entry["absent"] = w.add(f"a{i}", _ints(absent))
        else:
            rows = [r for r, v in enumerate(values) if v is not MISSING]
            present = [values[r] for r in rows]
            entry["rows"] = w.add(f"r{i}", _ints(rows))
        entry["count"] = len(present)
        floats = all(type(v) is float for v in present)
        lines = None if floats else _lines(present)
        if floats:
            entry["kind"], entry["values"] = "f8", w.add(f"v{i}", _floats(present))
        elif lines is not None:
            entry["kind"], entry["values"] = "lines", w.add(f"v{i}", lines)
        else:
            entry["kind"], entry["values"] = "json", w.add(f"v{i}", _json(present))
        described.append(entry)
    w.columns = described


def _block_crcs(data: bytes) -> bytes:
    """The CRC-32 of each SUM_BLOCK bytes of `data`, as little-endian uint32s."""
    view = memoryview(data)
    crcs = array("I", (zlib.crc32(view[i : i + SUM_BLOCK]) for i in range(0, len(data), SUM_BLOCK)))
    if not _LITTLE:  # pragma: no cover
        crcs.byteswap()
    return crcs.tobytes()


def compress_summary(data: bytes, zdict: bytes) -> bytes:
    """One run's summary JSON, deflated against `zdict` (a typical summary): ~230 bytes
    instead of ~800 for a run of 20 params and 10 metrics, 9 µs to read back."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
    return packer.compress(data) + packer.flush()


def expand_summary(data: bytes, zdict: bytes) -> bytes:
    unpacker = zlib.decompressobj(-15, zdict)
    out = unpacker.decompress(data, _MAX_SUMMARY)
    if unpacker.unconsumed_tail or unpacker.unused_data or not unpacker.eof:
        raise zlib.error("a summary that does not end where it should")
    return out


# --------------------------------------------------------------------------- reading
class Checkpoint:
    """A checked checkpoint, open: the header, and sections read on demand."""

    def __init__(self, path: Path, fh: Any, header: dict, body: int) -> None:
        self.path = path
        self._fh = fh
        self.header = header
        self._body = body
        self.journal = header["journal"]
        self.lazy_table: str = header["lazy"]
        self.ids: list[str] = []
        self.base_row: dict[str, int] = {}
        self._loc_start: Any = []
        self._locs: Any = []
        self._columns = {tuple(c["path"]): c for c in header["columns"]}
        self._sum_start: Any = None
        self._sum_crcs: Any = []
        self._sums: dict[int, bytes] = {}  # summary blocks read and checked
        self._zdict = b""

    def section(self, name: str) -> bytes:
        where = self.header["sections"].get(name)
        if where is None:
            raise Unusable(f"no section {name!r}")
        offset, length, crc = where
        data = os.pread(self._fh.fileno(), length, self._body + offset)
        if len(data) != length or zlib.crc32(data) != crc:
            raise Unusable(f"section {name!r} is damaged")
        return data

    def load_rows(self) -> None:
        raw = self.section("ids")
        if self.header.get("ids") == "lines":  # strings by construction
            ids: Any = _split_lines(raw, self.header["rows"]) if self.header["rows"] else []
        else:
            ids = _loads(raw)
            if not isinstance(ids, list) or set(map(type, ids)) - {str}:
                raise Unusable("the ids are not a list of strings")
        base_row = dict(zip(ids, range(len(ids)), strict=False))  # same length: no check
        if len(ids) != self.header["rows"] or len(base_row) != len(ids):
            raise Unusable("the ids do not match the rows")
        starts = _read_array("q", self.section("loc_start"), as_list=False)
        locs = _read_array("q", self.section("locs"), as_list=False)
        if len(starts) != len(ids) + 1 or starts[0] != 0 or starts[-1] != len(locs):
            raise Unusable("the line index does not match the rows")
        # each run's lines are checked when the run is read (Journal._decode)
        self.ids, self._loc_start, self._locs = ids, starts, locs
        self.base_row = base_row

    def tables(self) -> dict[str, dict[str, dict]]:
        tables = _loads(self.section("tables"))
        if not isinstance(tables, dict) or not all(
            isinstance(docs, dict) and all(isinstance(d, dict) for d in docs.values())
            for docs in tables.values()
        ):
            raise Unusable("the tables are not tables of documents")
        return tables

    def locs(self, row: int) -> list[int]:
        return self._locs[self._loc_start[row] : self._loc_start[row + 1]].tolist()

    def _load_summaries(self) -> bool:
        """Read the summaries' index (their starts and block CRCs), not the summaries."""
        if self._sum_start is None:
            try:
                starts = _read_array("q", self.section("sum_start"), as_list=False)
                crcs = _read_array("I", self.section("sum_crcs"))
                self._zdict = self.section("sum_zdict")
                _offset, length, _crc = self.header["sections"]["sums"]
            except (Unusable, KeyError):
                starts, crcs, length = array("q"), [], 0
            blocks = -(-length // SUM_BLOCK)
            if len(starts) != len(self.ids) + 1 or len(crcs) != blocks or starts[-1] != length:
                starts, crcs = array("q"), []
            self._sum_start, self._sum_crcs = starts, crcs
        return bool(self._sum_crcs)

    def _sum_bytes(self, start: int, end: int) -> bytes | None:
        """Bytes [start, end) of the summaries, from blocks read and checked once each (None
        when one is damaged, or the range is not inside the section)."""
        if not 0 <= start < end <= self._sum_start[-1]:  # a summary is never empty
            return None
        first, last = start // SUM_BLOCK, max(start, end - 1) // SUM_BLOCK
        parts = []
        for i in range(first, last + 1):
            block = self._sums.get(i)
            if block is None:
                try:
                    block = self._read_block(i)
                except (Unusable, OSError):
                    return None
                self._sums[i] = block
            parts.append(block)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        skip = first * SUM_BLOCK
        return data[start - skip : end - skip]

    def _read_block(self, i: int) -> bytes:
        offset, length, _crc = self.header["sections"]["sums"]
        size = min(SUM_BLOCK, length - i * SUM_BLOCK)
        data = os.pread(self._fh.fileno(), size, self._body + offset + i * SUM_BLOCK)
        if len(data) != size or zlib.crc32(data) != self._sum_crcs[i]:
            raise Unusable(f"summary block {i} is damaged")
        return data

    @property
    def zdict(self) -> bytes:
        """The dictionary the summaries are deflated against (b"" when there are none)."""
        return self._zdict if self._load_summaries() else b""

    def summary_bytes(self, row: int) -> bytes | None:
        """Run `row`'s summary as the checkpoint holds it (deflated JSON), or None."""
        if not self._load_summaries():
            return None
        return self._sum_bytes(self._sum_start[row], self._sum_start[row + 1])

    def summary(self, row: int) -> dict[str, Any] | None:
        """Run `row`'s listing fields as the checkpoint's writer saw them (None if unreadable:
        the caller reads the run's document instead)."""
        packed = self.summary_bytes(row)
        if packed is None:
            return None
        try:
            doc = fast_loads(expand_summary(packed, self._zdict))
        except (ValueError, UnicodeDecodeError, zlib.error):
            return None
        if type(doc) is not dict or doc.get("run_id") != self.ids[row]:
            return None
        return doc

    def counts(self) -> dict[Path_, int]:
        return {p: c["count"] for p, c in self._columns.items()}

    def column(self, path: Path_) -> list[Any] | None:
        """The base rows' values at `path` (MISSING where absent); None if no row has one."""
        entry = self._columns.get(path)
        if entry is None:
            return None
        n = len(self.ids)
        raw = self.section(entry["values"])
        if entry["kind"] == "f8":
            present = _read_array("d", raw)
        elif entry["kind"] == "lines":
            present = _split_lines(raw, entry["count"])
        else:
            present = _loads(raw)
            if not isinstance(present, list):
                raise Unusable(f"column {path!r} is not a list")
        if entry.get("absent") is not None:
            absent = _read_array("q", self.section(entry["absent"]))
            if len(absent) + len(present) != n or (
                absent and (min(absent) < 0 or max(absent) >= n)
            ):
                raise Unusable(f"column {path!r} does not match the rows")
            return _with_gaps(present, absent, n)
        if entry["rows"] is None:
            if len(present) != n:
                raise Unusable(f"column {path!r} does not match the rows")
            return present
        rows = _read_array("q", self.section(entry["rows"]))
        if len(rows) != len(present) or (rows and (min(rows) < 0 or max(rows) >= n)):
            raise Unusable(f"column {path!r} does not match the rows")
        col = [MISSING] * n
        for r, v in zip(rows, present, strict=True):
            col[r] = v
        return col

    def close(self) -> None:
        self._fh.close()


def _with_gaps(present: list[Any], absent: list[int], n: int) -> list[Any]:
    """`present` spread over n rows, MISSING at the `absent` ones (ascending, distinct): copied
    a run of present values at a time, so the cost in Python is per gap, not per row."""
    col: list[Any] = []
    taken = last = 0
    for r in absent:
        if r < last:
            raise Unusable("a column's gaps are not in order")
        col.extend(present[taken : taken + r - last])
        taken += r - last
        col.append(MISSING)
        last = r + 1
    col.extend(present[taken:])
    if len(col) != n:
        raise Unusable("a column's gaps do not match its rows")
    return col


_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19


def fast_loads(text: bytes) -> Any:
    """json.loads, 2x faster through orjson where the two agree. orjson refuses NaN, lone
    surrogates and byte order marks, and reads an integer past 64 bits as a float: text with
    a run of 19 digits or more (found in C: every digit made "0"), or that orjson refuses, goes
    to json."""
    if orjson is not None and _LONG_RUN not in text.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Unusable("a section is not valid JSON") from None


def open_checkpoint(path: Path, journal_fd: int, shapes: str) -> Checkpoint:
    """The checkpoint at `path`, checked against the journal open on `journal_fd`; Unusable
    when it is missing, damaged, of another format or shapes, or not a prefix of the journal."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 (kept open by the Checkpoint; closed on failure)
    except FileNotFoundError:
        raise Unusable("no checkpoint") from None
    except OSError as exc:
        raise Unusable(f"unreadable: {exc}") from None
    try:
        head = fh.read(len(MAGIC) + 8)
        if len(head) != len(MAGIC) + 8 or not head.startswith(MAGIC):
            raise Unusable("not a checkpoint")
        (size,) = struct.unpack("<Q", head[len(MAGIC) :])
        if size > _MAX_HEADER:
            raise Unusable("the header is too long")
        raw = fh.read(size)
        header = _loads(raw) if len(raw) == size else None
        _check_header(header, shapes)
        assert isinstance(header, dict)
        body = len(MAGIC) + 8 + size
        total = os.fstat(fh.fileno()).st_size
        for offset, length, _crc in header["sections"].values():
            if body + offset + length > total:
                raise Unusable("a section lies past the end of the file")
        journal = header["journal"]
        if os.fstat(journal_fd).st_size < journal["offset"]:
            raise Unusable("the journal is shorter than the checkpoint's prefix")
        prefix = _PrefixCrc(journal_fd, journal["offset"])
        checkpoint = Checkpoint(path, fh, header, body)
        try:
            checkpoint.load_rows()
        finally:
            crc = prefix.result()
        if crc != journal["crc"]:
            raise Unusable("the journal's prefix is not the one the checkpoint was made from")
        return checkpoint
    except Unusable:
        fh.close()
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, struct.error) as exc:
        fh.close()
        raise Unusable(f"unreadable: {exc.__class__.__name__}") from None


def _check_header(header: Any, shapes: str) -> None:
    if not isinstance(header, dict):
        raise Unusable("the header is not an object")
    if header.get("format") != FORMAT:
        raise Unusable(f"format {header.get('format')!r}, not {FORMAT}")
    if header.get("shapes") != shapes:
        raise Unusable("made against other catalog shapes")
    journal = header.get("journal")
    if not isinstance(journal, dict) or not all(
        type(journal.get(k)) is int and journal[k] >= 0
        for k in ("offset", "crc", "lines", "records")
    ):
        raise Unusable("the journal prefix is not described")
    if type(header.get("lazy")) is not str or type(header.get("rows")) is not int:
        raise Unusable("the runs table is not described")
    if header.get("ids", "json") not in ("json", "lines"):
        raise Unusable("the ids' encoding is not one this nb-mlops reads")
    sections = header.get("sections")
    if not isinstance(sections, dict) or not all(
        type(v) is list and len(v) == 3 and all(type(x) is int and x >= 0 for x in v)
        for v in sections.values()
    ):
        raise Unusable("the sections are not described")
    columns = header.get("columns")
    if not isinstance(columns, list):
        raise Unusable("the columns are not described")
    for c in columns:
        if not (
            isinstance(c, dict)
            and isinstance(c.get("path"), list)
            and c["path"]
            and all(type(p) is str for p in c["path"])
            and type(c.get("count")) is int
            and c.get("kind") in ("f8", "json", "lines")
            and c.get("values") in sections
            and (c.get("rows") is None or c.get("rows") in sections)
            and (c.get("absent") is None or c.get("absent") in sections)
            and not (c.get("rows") is not None and c.get("absent") is not None)
        ):
            raise Unusable("a column is not described")


# --------------------------------------------------------------------------- lazy runs
class LazyDocs(MutableMapping):
    """The runs table from a checkpoint: a run's document is rebuilt from its journal lines the
    first time it is read, and checked as the replay checks it. Iteration order is the replay's.
    """

    def __init__(self, checkpoint: Checkpoint, decode: Any) -> None:
        self._slots: dict[str, Any] = dict(checkpoint.base_row)
        self._decode = decode  # row -> document

    def _value(self, doc_id: str, slot: Any) -> dict:
        if type(slot) is int:
            slot = self._slots[doc_id] = self._decode(doc_id, slot)
        return slot

    def __getitem__(self, doc_id: str) -> dict:
        return self._value(doc_id, self._slots[doc_id])

    def get(self, doc_id: str, default: Any = None) -> Any:
        slot = self._slots.get(doc_id)
        if slot is None:
            return default
        return self._value(doc_id, slot)

    def __setitem__(self, doc_id: str, doc: dict) -> None:
        self._slots[doc_id] = doc

    def __delitem__(self, doc_id: str) -> None:
        del self._slots[doc_id]

    def pop(self, doc_id: str, default: Any = None) -> Any:
        slot = self._slots.get(doc_id)
        if slot is None:
            return default
        doc = self._value(doc_id, slot)
        del self._slots[doc_id]
        return doc

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slots

    def scan(self) -> Iterator[dict]:
        """Every document, without keeping the ones read from the journal (a pass over a
        million runs must not hold a million documents)."""
        for doc_id, slot in list(self._slots.items()):
            yield self._decode(doc_id, slot) if type(slot) is int else slot

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._slots))

    def __len__(self) -> int:
        return len(self._slots)
