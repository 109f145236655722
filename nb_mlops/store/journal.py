"""An append-only journal of catalog changes, replayed into memory.

Why not TinyDB's JSONStorage: it rewrites the whole file on every insert (16 ms per insert at
1,000 runs, 49 ms at 3,000). Here a write appends one whole JSON line under a file lock, and a
reader replays only the bytes it has not seen yet. When dead records dominate, the journal is
compacted into a fresh file that replaces the old one by rename.

A line is one of::

    {"op": "put", "tb": TABLE, "id": ID, "doc": {...}}
    {"op": "set", "tb": TABLE, "id": ID, "set": [[[KEY, ...], VALUE], ...]}
    {"op": "del", "tb": TABLE, "id": ID}

A process killed while appending leaves at most one partial last line, however long; readers
ignore it and the next writer cuts it off. A complete line that does not parse, or whose fields
do not have the kinds the catalog's views read (`shapes`, see catalog.SHAPES), was damaged by
hand: reading stops with an error naming the file and line, and `Journal.repair` sets the
damaged lines aside in a copy of the old file (which gc reads: their objects stay).

A cold reader starts from the checkpoint beside the journal when there is a usable one
(store/checkpoint.py: the state at a journal offset, checked by the CRC of the bytes before it)
and replays only the tail; the runs table then rebuilds a run from its journal lines when the
run is first read. A checkpoint is derived data: without one, or with one that fails a check,
the journal is replayed in full, as before.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import secrets
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from nb_mlops.clock import compact_stamp
from nb_mlops.errors import CatalogDamaged
from nb_mlops.store import checkpoint as ckpt
from nb_mlops.store.files import cut_back, read_error, unwritable, write_all
from nb_mlops.store.lock import StoreLock, holding

Tables = dict[str, MutableMapping[str, dict[str, Any]]]
Shapes = dict[str, dict[str, str]]
Listener = Callable[[str, str, "dict | None", "dict | None"], None]
ResetListener = Callable[["ckpt.Checkpoint | None"], None]

_COMPACT_MIN_RECORDS = 4000
_COMPACT_RATIO = 3
_LOCK_TIMEOUT_S = 60
_TAIL_CHUNK = 1 << 16
_LEAN_CHUNK = 16 << 20
_INTERN_MAX = 10_000
LEAN_FROM_BYTES = 64 << 20
"""A journal bigger than this, with no usable checkpoint, is replayed lean (`_build_lean`)."""
DAMAGED_MARK = ".damaged-"
"""`repair` keeps the whole old journal as `journal.jsonl.damaged-<stamp>` beside it."""


def dumps(obj: Any) -> str:
    """Compact JSON for one journal line (NaN/Infinity allowed: metric summaries may hold them)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)


class Journal:
    """The journal file plus its in-memory replay (`tables`)."""

    def __init__(
        self,
        path: Path,
        lock_path: Path | None = None,
        shapes: Shapes | None = None,
        *,
        checkpoint: Path | None = None,
        lazy: str | None = None,
        layout: Any = None,
        columns: tuple[tuple[tuple[str, ...], ...], tuple[str, ...]] | None = None,
    ) -> None:
        """`checkpoint`: where the replay's checkpoint is kept (none: always replay in full);
        `lazy`: the table whose documents a checkpoint keeps as journal lines (runs);
        `layout`: what else a checkpoint must have been made with (the columns it holds);
        `columns`: (fixed paths, sections) of the lazy table's columns, for `_build_lean`."""
        self.path = Path(path)
        self.shapes = shapes
        self._checks = compile_shapes(shapes)
        self.checkpoint_path = Path(checkpoint) if checkpoint else None
        self.lazy = lazy
        self.shapes_digest = ckpt.shapes_digest({"shapes": shapes, "layout": layout})
        self.columns = columns
        self.base: ckpt.Checkpoint | None = None  # the checkpoint the replay started from
        self._fd: int | None = None  # the journal file the base's lines are read from
        self._crc = 0  # CRC-32 of the journal's bytes before _offset
        self._locs: dict[str, list[int]] = {}  # lazy table: id -> [offset, length, ...]
        self._reset_listeners: list[ResetListener] = []
        self.on_stale: Callable[[], None] | None = None
        self._cold = True
        self.lock_path = Path(lock_path) if lock_path else self.path.with_suffix(".lock")
        self._lock = StoreLock(self.lock_path, timeout=_LOCK_TIMEOUT_S)
        self.tables: Tables = {}
        self._ino: int | None = None
        self._offset = 0
        self._lineno = 0
        self._records = 0
        self._own = (0, 0)  # the byte range this process appended last (no need to re-check it)
        self._listeners: list[Listener] = []
        self._replay_lock = threading.RLock()

    # ----------------------------------------------------------------- reading
    def sync(self) -> bool:
        """Replay what other writers appended since the last call; True when anything changed."""
        with self._replay_lock:  # two threads must not apply the same bytes twice
            return self._sync()

    def _sync(self) -> bool:
        if self._ino is None and self.checkpoint_path is not None:
            self._load_checkpoint()
            if self.base is None and self._wants_lean() and self._build_lean():
                self._load_checkpoint()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._ino is not None:
                self._reset()
                return True
            return False
        changed = False
        if st.st_ino != self._ino or st.st_size < self._offset:
            changed = bool(self._ino is not None or self.tables)
            self._reset()
            self._ino = st.st_ino
        if st.st_size == self._offset:
            return changed
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read(st.st_size - self._offset)
        end = chunk.rfind(b"\n") + 1
        if end == 0:
            return changed  # only a partial line so far: a writer is mid-append or was killed
        self._replay_lines(chunk[:end])
        return True

    def _replay_lines(self, chunk: bytes) -> None:
        """Apply whole lines that start at `_offset`, advancing the replayed prefix."""
        own_from, own_to = self._own
        for line in chunk.splitlines(keepends=True):
            if line.strip():
                # offset and line number advance only past applied lines, so a damaged line
                # is reported at the same place however often the read is retried
                if own_from <= self._offset < own_to:
                    rec = ckpt.fast_loads(line)  # written by this process a moment ago: well formed
                else:
                    rec = self._parse(line, self._lineno + 1)
                self._apply(rec, self._offset, len(line))
            self._lineno += 1
            self._offset += len(line)
            self._crc = zlib.crc32(line, self._crc)
        if self._cold:
            self._cold = False
            self._check_tail()

    # ------------------------------------------------------------- checkpoint
    def add_reset_listener(self, listener: ResetListener) -> None:
        """Call `listener(base)` whenever the replay starts again: from a checkpoint (`base`)
        or from nothing (None), after the journal was replaced."""
        self._reset_listeners.append(listener)

    def _load_checkpoint(self) -> None:
        """Start from the checkpoint when it is a checked prefix of the journal."""
        assert self.checkpoint_path is not None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            base = ckpt.open_checkpoint(self.checkpoint_path, fd, self.shapes_digest)
        except ckpt.Unusable:
            os.close(fd)
            return
        try:
            tables: Tables = dict(base.tables())
            for tb, docs in tables.items():
                for doc_id, doc in docs.items():
                    if _problem({"op": "put", "tb": tb, "id": doc_id, "doc": doc}, self._checks):
                        raise ckpt.Unusable(f"a {tb} document is not a whole record")
        except ckpt.Unusable:
            base.close()
            os.close(fd)
            return
        journal = base.journal
        self._close_base()
        self.base, self._fd = base, fd
        if self.lazy is not None:
            tables[self.lazy] = ckpt.LazyDocs(base, self._decode)
        self.tables = tables
        self._ino = os.fstat(fd).st_ino
        self._offset, self._crc = journal["offset"], journal["crc"]
        self._lineno, self._records = journal["lines"], journal["records"]
        self._locs = {}
        self._own = (0, 0)
        for listener in self._reset_listeners:
            listener(base)

    def _decode(self, doc_id: str, row: int) -> dict:
        """Rebuild one document of the lazy table from its journal lines, checked as the replay
        checks them; a line that is not what the checkpoint says means it was not made from
        this journal (it is removed, and the error says to run the command again)."""
        assert self.base is not None and self._fd is not None
        doc = self._from_lines(doc_id, self.base.locs(row), self._fd, self.base.journal["offset"])
        if doc is None:
            raise self.distrust()
        return doc

    def _from_lines(self, doc_id: str, locs: Any, fd: int, limit: int) -> dict | None:
        """A document of the lazy table from its lines ([offset, length, ...]: a put, then
        sets), or None when they are not that."""
        if not locs or len(locs) % 2:
            return None
        doc: dict | None = None
        for i in range(0, len(locs), 2):
            offset, length = locs[i], locs[i + 1]
            raw = os.pread(fd, length, offset) if offset + length <= limit else b""
            try:
                rec = ckpt.fast_loads(raw) if raw.endswith(b"\n") else None
            except (ValueError, UnicodeDecodeError):
                rec = None
            want = "put" if i == 0 else "set"
            if (
                rec is None
                or _problem(rec, self._checks)
                or rec["tb"] != self.lazy
                or rec["id"] != doc_id
                or rec["op"] != want
            ):
                return None
            if want == "put":
                doc = rec["doc"]
            else:
                assert doc is not None
                doc = dict(doc)
                for path, value in rec["set"]:
                    _set_path(doc, path, value)
        assert doc is not None
        return doc

    def _wants_lean(self) -> bool:
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return False
        return self.lazy is not None and self.columns is not None and size > LEAN_FROM_BYTES

    def _build_lean(self) -> bool:
        """Write a checkpoint of the whole journal without holding the lazy table's documents
        in memory (1,000,000 runs replayed as documents take ~11 GB; this, ~2): one pass notes
        each run's lines and replays the other tables; a second rebuilds one run at a time into
        the columns. Every line is checked as the replay checks it. False if it cannot write."""
        assert self.checkpoint_path is not None and self.columns is not None
        from nb_mlops.store.columns import MISSING, paths_of, summary_of, value_at

        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            tables: dict[str, dict[str, dict]] = {}
            locs: dict[str, list[int]] = {}
            offset = lineno = records = crc = 0
            size = os.fstat(fd).st_size
            carry = b""
            while offset + len(carry) < size:
                chunk = carry + os.pread(
                    fd, min(_LEAN_CHUNK, size - offset - len(carry)), offset + len(carry)
                )
                end = chunk.rfind(b"\n") + 1
                if end == 0:
                    if len(chunk) >= size - offset:
                        break  # only a partial last line: a writer is mid-append
                    carry = chunk
                    continue
                for line in chunk[:end].splitlines(keepends=True):
                    if line.strip():
                        rec = self._parse(line, lineno + 1)
                        records += 1
                        tb, doc_id, op = rec["tb"], rec["id"], rec["op"]
                        if tb == self.lazy:
                            if op == "put":
                                locs[doc_id] = [offset, len(line)]
                            elif op == "del":
                                locs.pop(doc_id, None)
                            elif doc_id in locs:
                                locs[doc_id] += (offset, len(line))
                        else:
                            _apply_to(tables.setdefault(tb, {}), rec)
                    lineno += 1
                    offset += len(line)
                    crc = zlib.crc32(line, crc)
                carry = chunk[end:]
            fixed, sections = self.columns
            ids = list(locs)
            cols: dict[tuple[str, ...], list[Any]] = {}
            seen: dict[tuple[str, ...], dict[str, str] | None] = {}
            summaries = []
            zdict = b""
            for r, doc_id in enumerate(ids):
                doc = self._from_lines(doc_id, locs[doc_id], fd, offset)
                if doc is None:  # the file changed under us (a compaction): replay instead
                    return False
                summary = ckpt.json_bytes(summary_of(doc, fixed, sections))
                zdict = zdict or summary
                summaries.append(ckpt.compress_summary(summary, zdict))
                for path in paths_of(doc, fixed, sections):
                    col = cols.get(path)
                    if col is None:
                        col = cols[path] = [MISSING] * len(ids)
                        seen[path] = {}
                    value = value_at(doc, path)
                    memo = seen[path]
                    if type(value) is str and memo is not None:  # one object per repeated value
                        value = memo.setdefault(value, value)
                        if len(memo) > _INTERN_MAX:
                            seen[path] = None  # mostly distinct values: not worth a table
                    col[r] = value
            ckpt.write_checkpoint(
                self.checkpoint_path,
                journal={"offset": offset, "crc": crc, "lines": lineno, "records": records},
                shapes=self.shapes_digest,
                tables=tables,
                lazy_table=self.lazy or "",
                lazy_ids=ids,
                lazy_locs=[locs[i] for i in ids],
                columns=list(cols.items()),
                summaries=summaries,
                zdict=zdict,
            )
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def distrust(self) -> CatalogDamaged:
        """The error for a checkpoint found not to match the journal; the checkpoint is
        removed first, so the next reader replays the journal and writes a fresh one."""
        where = self.checkpoint_path
        try:
            if where is not None:
                where.unlink()
        except OSError:
            pass
        return CatalogDamaged(
            f"catalog checkpoint {where} does not match the journal {self.path}; it was "
            "removed and will be made again: run the command again"
        )

    def _close_base(self) -> None:
        if self.base is not None:
            self.base.close()
            self.base = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _check_tail(self) -> None:
        """After a cold open: ask for a fresh checkpoint when much was replayed past it."""
        if self.checkpoint_path is None or self.on_stale is None:
            return
        start = self.base.journal["offset"] if self.base is not None else 0
        if self._offset - start > ckpt.TAIL_REFRESH_BYTES:
            self.on_stale()

    def locs_of(self, doc_id: str) -> list[int]:
        """The journal lines ([offset, length, ...]) that make a document of the lazy table."""
        locs = self._locs.get(doc_id)
        if locs is None:
            assert self.base is not None
            locs = self.base.locs(self.base.base_row[doc_id])
        return locs

    @contextmanager
    def frozen(self) -> Iterator[dict[str, int]]:
        """Hold the replay still; yields the prefix replayed (offset, crc, lines, records)."""
        with self._replay_lock:
            yield {
                "offset": self._offset,
                "crc": self._crc,
                "lines": self._lineno,
                "records": self._records,
                "inode": self._ino or 0,
            }

    def _reset(self) -> None:
        self._close_base()
        self.tables = {}
        self._ino = None
        self._offset = 0
        self._crc = 0
        self._lineno = 0
        self._records = 0
        self._locs = {}
        self._own = (0, 0)
        for listener in self._reset_listeners:
            listener(None)

    def _parse(self, line: bytes, lineno: int) -> dict:
        try:
            rec = ckpt.fast_loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._damaged(lineno, f"not valid JSON ({exc.__class__.__name__})") from None
        why = _problem(rec, self._checks)
        if why:
            raise self._damaged(lineno, why)
        return rec

    def _damaged(self, lineno: int, why: str) -> CatalogDamaged:
        return CatalogDamaged(
            f"catalog file {self.path} is damaged at line {lineno}: {why}; "
            "run `nb-mlops repair` to set the damaged lines aside and keep every readable record"
        )

    def _apply(self, rec: dict, offset: int = 0, length: int = 0) -> None:
        self._records += 1
        tb, doc_id = rec["tb"], rec["id"]
        table = self.tables.setdefault(tb, {})
        old = table.get(doc_id)
        op = rec["op"]
        lazy = tb == self.lazy
        if op == "put":
            new = rec["doc"]
            table[doc_id] = new
            if lazy:
                self._locs[doc_id] = [offset, length]
        elif op == "del":
            table.pop(doc_id, None)
            new = None
            if lazy:
                self._locs.pop(doc_id, None)
        else:
            if old is None:
                return  # a change to a record deleted meanwhile
            new = dict(old)
            for path, value in rec["set"]:
                _set_path(new, path, value)
            table[doc_id] = new
            if lazy:
                self._locs[doc_id] = [*self.locs_of(doc_id), offset, length]
        self._notify(tb, doc_id, old, new)

    def _notify(self, tb: str, doc_id: str, old: dict | None, new: dict | None) -> None:
        for listener in self._listeners:
            listener(tb, doc_id, old, new)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(table, id, old_doc, new_doc)` for every change replayed from now on."""
        self._listeners.append(listener)

    def live_count(self) -> int:
        return sum(len(t) for t in self.tables.values())

    # ----------------------------------------------------------------- writing
    def _held(self) -> AbstractContextManager[None]:
        return holding(self._lock, "the catalog lock", "; is a write stuck?")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the writers' lock with the replay up to date (for check-then-write)."""
        with self._held():
            self.sync()
            yield

    def append(self, records: Iterable[dict]) -> None:
        """Append whole records under the lock, then replay them (and anything before them).

        The append lands whole or not at all: a write that fails part-way (a full disk) is cut
        back to the journal's size before it, so no partial line is left for the next writer.
        """
        data = "".join(dumps(r) + "\n" for r in records).encode()
        with self.locked():
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise unwritable(self.path.parent, exc) from None
            try:
                st = os.fstat(fd)
                before = self._cut_partial_tail(fd, st)
                try:
                    write_all(fd, data)
                except OSError as exc:
                    # under the lock no one else appends: the bytes past `before` are ours
                    whole = cut_back(fd, before)
                    raise unwritable(self.path.parent, exc, whole=whole) from None
                self._own = (before, before + len(data))
            except OSError as exc:  # fstat, or reading the tail
                raise unwritable(self.path.parent, exc) from None
            finally:
                os.close(fd)
            if st.st_ino == self._ino and before == self._offset:
                # the replay had every byte before ours (synced under this lock): apply our
                # lines as they were written, without reading them back
                with self._replay_lock:
                    self._replay_lines(data)
            else:
                self.sync()
            if self._records > _COMPACT_MIN_RECORDS and (
                self._records > _COMPACT_RATIO * max(1, self.live_count())
            ):
                self._compact()

    def _cut_partial_tail(self, fd: int, st: os.stat_result) -> int:
        """Drop a partial last line left by a writer that was killed mid-append; the size the
        file is left with.

        The replayed prefix ends after a whole line, so a file that ends where the replay does
        has no partial line. Otherwise the last newline is searched backwards in chunks however
        far back it is, so a partial record of any length is cut; a file holding no newline at
        all is one partial line and is emptied. Called under the writers' lock, so no writer is
        mid-append.
        """
        size = st.st_size
        if size == 0 or (st.st_ino == self._ino and size == self._offset):
            return size
        if os.pread(fd, 1, size - 1) == b"\n":
            return size
        end = size
        cut = 0  # no newline anywhere: the whole file is one partial line
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            found = os.pread(fd, end - start, start).rfind(b"\n")
            if found >= 0:
                cut = start + found + 1
                break
            end = start
        os.ftruncate(fd, cut)
        return cut

    def _compact(self) -> None:
        """Rewrite the journal with one put per live record; readers notice the new inode."""
        tmp = self.path.with_name(f".{self.path.name}.compact-{os.getpid()}")
        tables: Tables = {tb: dict(docs.items()) for tb, docs in self.tables.items()}
        locs: dict[str, list[int]] = {}
        crc = offset = 0
        with open(tmp, "wb") as fh:
            for tb, docs in tables.items():
                for doc_id, doc in docs.items():
                    line = (
                        dumps({"op": "put", "tb": tb, "id": doc_id, "doc": doc}) + "\n"
                    ).encode()
                    fh.write(line)
                    if tb == self.lazy:
                        locs[doc_id] = [offset, len(line)]
                    offset += len(line)
                    crc = zlib.crc32(line, crc)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._close_base()
        st = os.stat(self.path)
        self.tables, self._locs = tables, locs
        self._ino, self._offset, self._crc = st.st_ino, offset, crc
        self._records = self._lineno = self.live_count()
        for listener in self._reset_listeners:
            listener(None)
        for tb, docs in tables.items():
            for doc_id, doc in docs.items():
                self._notify(tb, doc_id, None, doc)
        if self.on_stale is not None:  # the old checkpoint names lines of the old journal
            self.on_stale()

    # ------------------------------------------------------------------ repair
    def repair(self) -> tuple[int, int, Path | None]:
        """Set damaged lines aside; return (records kept, lines set aside, where they went)."""
        with self._held():
            raw = self.path.read_bytes() if self.path.exists() else b""
            good: list[bytes] = []
            bad: list[bytes] = []
            for line in raw.splitlines(keepends=True):
                if not line.strip():
                    continue
                if self._whole(line):
                    good.append(line)
                else:
                    bad.append(line if line.endswith(b"\n") else line + b"\n")
            if not bad:
                return len(good), 0, None
            stamp = f"{compact_stamp()}-{secrets.token_hex(3)}"
            aside = self.path.with_name(f"{self.path.name}{DAMAGED_MARK}{stamp}")
            with open(aside, "xb") as fh:  # never overwrite an earlier set-aside copy
                fh.write(raw)
            tmp = self.path.with_name(f".{self.path.name}.repair-{os.getpid()}")
            tmp.write_bytes(b"".join(good))
            os.replace(tmp, self.path)
            self._reset()
            self.sync()
            return len(good), len(bad), aside

    def damaged_copies(self) -> list[Path]:
        """The copies `repair` set aside beside the journal, oldest first."""
        return sorted(self.path.parent.glob(f"{glob.escape(self.path.name)}{DAMAGED_MARK}*"))

    def set_aside_lines(self) -> Iterator[tuple[Path, bytes]]:
        """Each line of the set-aside copies that is not a whole record (the lines `repair` took
        out of the journal), with the copy it is in. The copies' other lines are still in the
        journal. A copy that cannot be read is a StoreError: what it names is unknown."""
        for copy in self.damaged_copies():
            try:
                with open(copy, "rb") as fh:
                    for line in fh:
                        if line.strip() and not self._whole(line):
                            yield copy, line
            except OSError as exc:
                raise read_error(copy, exc) from None

    def _whole(self, line: bytes) -> bool:
        """Whether `line` is a whole record of this journal (what repair keeps)."""
        if not line.endswith(b"\n"):
            return False
        try:
            return _problem(json.loads(line), self._checks) is None
        except (ValueError, UnicodeDecodeError):
            return False


def record_problem(rec: Any, shapes: Shapes | None = None) -> str | None:
    """Why `rec` is not a whole catalog record, or None when it is one.

    Beyond the record's own frame, the fields named in `shapes` (table -> field -> kind, see
    catalog.SHAPES) must have their kind, so a line edited by hand into the wrong types is
    damage that `repair` sets aside, not a traceback in every view that reads it. A kind is
    str, int, num (int or float), bool, dict or list, optionally with the kind of its items in
    brackets (`list[str]`); a trailing `?` also allows null, a trailing `!` marks a field every
    document of the table has. Fields and tables not named are free.
    """
    return _problem(rec, compile_shapes(shapes))


Check = tuple[str, frozenset, "frozenset | None", bool, str]
"""One field's check: (field, the value's accepted types, its items' accepted types, whether
every document has the field, the kind as written)."""


def compile_shapes(shapes: Shapes | None) -> dict[str, tuple[list[Check], dict[str, SetCheck]]]:
    """`shapes` as type sets ready to test every record read (replaying is the hot path)."""
    compiled = {}
    for table, shape in (shapes or {}).items():
        checks = [(f, *_types(kind), kind.endswith("!"), kind) for f, kind in shape.items()]
        sets = {
            f: (*_types(kind), kind.rstrip("!?").startswith("dict"), kind)
            for f, kind in shape.items()
        }
        compiled[table] = (checks, sets)
    return compiled


SetCheck = tuple[frozenset, "frozenset | None", bool, str]
"""How a set into one field is checked: (the field's types, its items' types, whether it is an
object whose keys may be set one by one, the kind as written)."""


def _problem(rec: Any, checks: dict[str, tuple[list[Check], dict[str, SetCheck]]]) -> str | None:
    if not isinstance(rec, dict) or rec.get("op") not in ("put", "set", "del"):
        return "not a catalog record"
    if not isinstance(rec.get("tb"), str) or not isinstance(rec.get("id"), str):
        return "a record without a table or an id"
    op = rec["op"]
    if op == "del":
        return None
    table = checks.get(rec["tb"])
    if op == "put":
        doc = rec.get("doc")
        if not isinstance(doc, dict):
            return "a put without a document"
        if table is None:
            return None
        get, missing = doc.get, _MISSING
        for field, types, items, required, kind in table[0]:
            value = get(field, missing)
            if type(value) in types:
                if items is None or not value or _all_in(value, items):
                    continue
            elif value is missing:
                if not required:
                    continue
                return f"the {rec['tb']} document has no {field!r}"
            return (
                f"{rec['tb']} field {field!r} is {_mismatch(value, kind)} where "
                f"{_words(kind)} is expected"
            )
        return None
    pairs = rec.get("set")
    if type(pairs) is not list:
        return _NOT_PAIRS
    sets = table[1] if table is not None else {}
    for pair in pairs:
        if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not list or not pair[0]:
            return _NOT_PAIRS
        path, value = pair
        spec = sets.get(path[0]) if type(path[0]) is str else None
        if spec is None:
            continue
        types, items, keyed, kind = spec
        if len(path) == 1:
            if type(value) in types and (items is None or _all_in(value, items)):
                continue
        elif keyed and (items is None or len(path) > 2 or type(value) in items):
            continue  # a key of an object: a free one, deeper than the shape, or of its kind
        why = _set_problem(rec["tb"], kind, path, value)  # the slow way, for the message
        if why:
            return why
    return None


_NOT_PAIRS = "a set without a list of [path, value] pairs"
_MISSING = object()

_KINDS: dict[str, tuple[frozenset, str]] = {
    "str": (frozenset({str}), "a string"),
    "int": (frozenset({int}), "an integer"),  # JSON's true and false are bools, not ints
    "num": (frozenset({int, float}), "a number"),
    "bool": (frozenset({bool}), "true or false"),
    "dict": (frozenset({dict}), "an object"),
    "list": (frozenset({list}), "a list"),
}
_NULL = frozenset({type(None)})


@functools.cache
def _types(kind: str) -> tuple[frozenset, frozenset | None]:
    """The exact types (values come from JSON) a `kind` accepts, and those of its items."""
    kind = kind.rstrip("!")
    nullable = kind.endswith("?")
    base, _, item = kind.rstrip("?").partition("[")
    types = _KINDS[base][0] | (_NULL if nullable else frozenset())
    if not item:
        return types, None
    item_types, deeper = _types(item[:-1])
    if deeper is not None:
        raise ValueError(f"a kind holds items of a plain kind, not {kind!r}")
    return types, item_types


def _all_in(value: Any, items: frozenset) -> bool:
    """Whether every item of a list (or value of a dict) has one of the types `items`."""
    if type(value) is dict:
        return items.issuperset(map(type, value.values()))
    if type(value) is list:
        return items.issuperset(map(type, value))
    return True  # null, where the kind allows it


def _fits(value: Any, kind: str) -> bool:
    types, items = _types(kind)
    return type(value) in types and (items is None or _all_in(value, items))


def _words(kind: str) -> str:
    kind = kind.rstrip("!")
    nullable = kind.endswith("?")
    base, _, item = kind.rstrip("?").partition("[")
    text = _KINDS[base][1]
    if item:
        text += f" of {_KINDS[item[:-1].rstrip('?')][1].split(' ', 1)[-1]}s"
    return text + (" or null" if nullable else "")


def _json_type(value: Any) -> str:
    """What `value` is, in the words of JSON ("a string", "null", "a boolean")."""
    if value is None:
        return "null"
    if type(value) is float:
        return "a number"
    for types, words in _KINDS.values():
        if type(value) in types:
            return words if words != "true or false" else "a boolean"
    return type(value).__name__


def _mismatch(value: Any, kind: str) -> str:
    """What `value` is, naming the first item that does not fit when only an item is wrong
    ("a list holding a number")."""
    types, items = _types(kind)
    if items is not None and type(value) in types and value is not None:
        values = value.values() if isinstance(value, dict) else value
        bad = next(v for v in values if type(v) not in items)
        return f"{_json_type(value)} holding {_json_type(bad)}"
    return _json_type(value)


def _set_problem(table: str, kind: str, path: list, value: Any) -> str | None:
    """Why setting `path` (its first key a field of `kind`) to `value` breaks the shape."""
    where = ".".join(map(str, path))
    if len(path) == 1:
        fits, expected = _fits(value, kind), kind
    else:
        base, _, item = kind.rstrip("!?").partition("[")
        if base != "dict":
            return f"a {table} set inside {path[0]!r}, which is {_words(kind)}"
        if not item or len(path) > 2:
            return None  # a free object, or deeper than the shape says
        fits, expected = _fits(value, item[:-1]), item[:-1]
    if fits:
        return None
    return (
        f"{table} field {where!r} is set to {_mismatch(value, expected)} where "
        f"{_words(expected)} is expected"
    )


def _apply_to(table: dict[str, dict], rec: dict) -> None:
    """Apply one checked record to a table of documents (put, set or del)."""
    doc_id, op = rec["id"], rec["op"]
    if op == "put":
        table[doc_id] = rec["doc"]
    elif op == "del":
        table.pop(doc_id, None)
    elif doc_id in table:
        new = dict(table[doc_id])
        for path, value in rec["set"]:
            _set_path(new, path, value)
        table[doc_id] = new


def _set_path(doc: dict, path: list, value: Any) -> None:
    """Set doc[p0][p1]... = value, copying the nested dicts on the way (replays share nothing)."""
    target = doc
    for key in path[:-1]:
        child = target.get(key)
        child = dict(child) if isinstance(child, dict) else {}
        target[key] = child
        target = child
    target[path[-1]] = value
