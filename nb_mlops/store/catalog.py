"""The catalog: documents (runs, snapshots, models, aliases, ...) in tables, queried with TinyDB.

TinyDB is the query layer only. Its storage is the journal (see journal.py), so a write costs one
appended line instead of a rewrite of every document. Writes go through `put`, `set` and
`delete`; TinyDB's own write methods are refused so that nothing bypasses the journal.

Documents handed out are shared with the replay and must be treated as read-only; every change
replaces a document (nested dicts on the changed path are copied), so a document a caller holds
never changes under it.

The runs table is also kept as columns (store/columns.py) for scans over many runs, and the
replayed state is checkpointed beside the journal (store/checkpoint.py) so a cold process
replays only the journal's tail; both are derived, rebuilt from the journal when missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from nb_mlops.store import checkpoint as ckpt
from nb_mlops.store.columns import MISSING, TableColumns, summary_of
from nb_mlops.store.journal import Journal, Shapes
from nb_mlops.store.layout import CHECKPOINT_FILE, CHECKPOINT_LOCK, JOURNAL_FILE, JOURNAL_LOCK
from nb_mlops.store.lock import StoreLock

Path_ = tuple[str, ...]

SHAPES: Shapes = {
    "runs": {
        "run_id": "str!",
        "name": "str",
        "experiment": "str",
        "status": "str",
        "start": "str",
        "end": "str?",
        "duration": "num?",
        "parent": "str?",
        "previous": "str?",
        "params": "dict",
        "metrics": "dict[num?]",
        "tags": "dict",
        "seeds": "dict",
        "source": "dict?",
        "history": "dict?",
        "env": "dict",
        "proc": "dict?",
        "artifacts": "list[dict]",
        "figures": "list[dict]",
        "tables": "list[dict]",
        "models": "list[dict]",
        "data": "list[dict]",
        "flags": "list[str]",
        "error": "dict?",
        "refs": "list[str]",
        "eval": "dict?",
        "caches": "list[str]",
        "points": "dict?",
    },
    "snapshots": {
        "path": "str!",
        "version": "int!",
        "md5": "str!",
        "size": "int",
        "nfiles": "int?",
        "isdir": "bool",
        "message": "str",
        "time": "str",
        "source": "str",
        "rows": "int?",
        "columns": "list?",
        "tables": "dict?",
        "refs": "list[str]",
    },
    "models": {  # model versions
        "name": "str!",
        "version": "int!",
        "created": "str",
        "by": "str",
        "status": "str",
        "description": "str",
        "tags": "dict",
        "flavor": "str",
        "artifact": "dict",
        "fingerprint": "str",
        "run_id": "str?",
        "run_name": "str?",
        "data": "list[dict]",
        "env": "dict",
        "origin": "dict",
        "meta": "dict",
        "refs": "list[str]",
    },
    "registered_models": {
        "name": "str!",
        "created": "str",
        "description": "str",
        "tags": "dict",
        "last_version": "int",
        "hooks": "list[dict]",
    },
    "aliases": {
        "name": "str!",
        "alias": "str!",
        "version": "int?",
        "protected": "bool",
        "history": "list[dict]",
    },
}
"""The tables nb-mlops keeps and the shape of the fields their views read (the kinds are
explained at `journal.record_problem`). A workspace's catalog checks every record against it
on read, so a record of the wrong shape is reported as damage, and `repair` sets it aside.
A record kind added later lists the fields its views read here."""

COLUMN_TABLE = "runs"
COLUMN_FIELDS: tuple[Path_, ...] = (
    ("name",),
    ("experiment",),
    ("status",),
    ("start",),
    ("end",),
    ("duration",),
    ("parent",),
    ("user",),
    ("source", "key"),
    ("source", "file"),
)
"""The runs' fields kept as columns (beside one column per key of COLUMN_SECTIONS): what
filters, the runs table and the indexes (name, parent, a cell's source key) read."""
COLUMN_SECTIONS = ("params", "metrics", "tags")


class _JournalStorage(Storage):
    """TinyDB storage that reads the journal's replay and refuses whole-database writes."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def read(self) -> dict[str, dict[str, Any]]:
        self._journal.sync()
        return self._journal.tables

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        raise TypeError("catalog writes go through Catalog.put/set/delete, not TinyDB")

    def close(self) -> None:
        pass


class _Table(Table):
    document_id_class = str  # ids are run ids and names, unique across processes

    def _update_table(self, updater: Any) -> None:
        # every TinyDB write goes through here; refuse before it touches the shared replay
        raise TypeError("catalog writes go through Catalog.put/set/delete, not TinyDB")


class _DB(TinyDB):
    table_class = _Table


class _Index:
    """field value -> ids (and the newest id by `order`), kept current from the journal."""

    def __init__(self, table: str, path: Path_, order: str | None = None) -> None:
        self.table = table
        self.path = path
        self.order = order
        self.ids: dict[Any, set[str]] = {}
        self._newest: dict[Any, tuple[Any, str]] = {}
        self.from_columns = False  # built from a checkpoint's columns: checked on each answer

    def value(self, doc: Mapping | None) -> Any:
        cur: Any = doc
        for key in self.path:
            if not isinstance(cur, Mapping):
                return None
            cur = cur.get(key)
        return cur if isinstance(cur, (str, int, float, bool)) or cur is None else repr(cur)

    def add(self, doc_id: str, value: Any, order: Any) -> None:
        """Index a document from its column values (MISSING where it has no such field)."""
        if value is MISSING:
            value = None
        elif not (isinstance(value, (str, int, float, bool)) or value is None):
            value = repr(value)  # as `value` reads a document
        ids = self.ids.setdefault(value, set())
        ids.add(doc_id)
        if self.order is not None:
            key = (order if order is not MISSING and order else "", doc_id)
            best = self._newest.get(value)
            if best is None or key > best:
                self._newest[value] = key

    def change(self, doc_id: str, old: dict | None, new: dict | None) -> None:
        if old is not None:
            value = self.value(old)
            ids = self.ids.get(value)
            if ids is not None:
                ids.discard(doc_id)
            best = self._newest.get(value)
            if best is not None and best[1] == doc_id:
                still = new is not None and self.value(new) == value
                if still and self._key(new, doc_id) >= best:
                    self._newest[value] = self._key(new, doc_id)  # updated, still the newest
                else:
                    del self._newest[value]  # recomputed from `ids` when next asked
        if new is not None:
            value = self.value(new)
            ids = self.ids.setdefault(value, set())
            ids.add(doc_id)
            if self.order is not None:
                key = self._key(new, doc_id)
                best = self._newest.get(value)
                if (best is None and len(ids) == 1) or (best is not None and key > best):
                    self._newest[value] = key

    def _key(self, doc: Mapping, doc_id: str) -> tuple[Any, str]:
        return (doc.get(self.order) or "", doc_id)

    def newest(self, value: Any, docs: Mapping[str, Mapping]) -> str | None:
        best = self._newest.get(value)
        if best is None:
            keys = [
                (docs[i].get(self.order) or "", i) for i in self.ids.get(value, ()) if i in docs
            ]
            if not keys:
                return None
            best = self._newest[value] = max(keys)
        return best[1]


class Catalog:
    """Tables of JSON documents with journal-backed writes and TinyDB queries."""

    def __init__(self, folder: Path, shapes: Shapes | None = None) -> None:
        """`shapes`: the fields whose kind records must have (SHAPES for a workspace's catalog;
        none for a bare catalog, which checks only that each line is a whole record)."""
        self.folder = Path(folder)
        self.journal = Journal(
            self.folder / JOURNAL_FILE,
            self.folder / JOURNAL_LOCK,
            shapes,
            checkpoint=self.folder / CHECKPOINT_FILE,
            lazy=COLUMN_TABLE,
            layout=[COLUMN_TABLE, COLUMN_FIELDS, COLUMN_SECTIONS],
            columns=(COLUMN_FIELDS, COLUMN_SECTIONS),
        )
        self._indexes: dict[tuple[str, Path_, str | None], _Index] = {}
        self._batch = threading.local()  # a batch belongs to the thread that opened it
        self.columns = TableColumns(COLUMN_FIELDS, COLUMN_SECTIONS)
        self.journal.add_listener(self._on_change)
        self.journal.add_reset_listener(self._on_reset)
        self.journal.on_stale = self.refresh_in_background
        self._db = _DB(storage=_JournalStorage, journal=self.journal)

    # ----------------------------------------------------------------- reading
    def sync(self) -> bool:
        """Take in what other processes wrote; True when anything changed."""
        return self.journal.sync()

    def table(self, name: str) -> Table:
        """A TinyDB table for queries (`search`, `get`, `count`); never for writes."""
        return self._db.table(name, cache_size=0)

    def search(self, table: str, cond: Callable[[Mapping], bool]) -> list[Document]:
        return self.table(table).search(cond)

    def scan(self, table: str) -> Iterator[dict[str, Any]]:
        """Every document of a table, without keeping the ones rebuilt from the journal (for
        passes over every run: gc, exports)."""
        docs = self.docs(table)
        scan = getattr(docs, "scan", None)
        return scan() if scan is not None else iter(list(docs.values()))

    def docs(self, table: str) -> dict[str, dict[str, Any]]:
        """Every document of a table by id (a live, read-only view)."""
        self.journal.sync()
        return self.journal.tables.get(table, {})

    def get(self, table: str, doc_id: str) -> dict[str, Any] | None:
        return self.docs(table).get(doc_id)

    def _index(self, table: str, path: str | Path_, order: str | None = None) -> _Index:
        key = (table, (path,) if isinstance(path, str) else tuple(path), order)
        self.journal.sync()
        index = self._indexes.get(key)
        if index is None:
            index = _Index(*key)
            path_, order_ = key[1], key[2]
            columned = table == COLUMN_TABLE and path_ in COLUMN_FIELDS
            if columned and (order_ is None or (order_,) in COLUMN_FIELDS):
                index.from_columns = self.journal.base is not None
                docs = self.journal.tables.get(table, {})
                values = self.columns.column(path_, docs)
                orders = self.columns.column((order_,), docs) if order_ else values
                for r, doc_id in enumerate(self.columns.ids):
                    if doc_id is not None:
                        index.add(doc_id, values[r], orders[r])
            else:
                for doc_id, doc in self.journal.tables.get(table, {}).items():
                    index.change(doc_id, None, doc)
            self._indexes[key] = index
        return index

    def find(self, table: str, path: str | Path_, value: Any) -> list[dict[str, Any]]:
        """Documents whose field at `path` equals `value`, through an index built on first use."""
        index = self._index(table, path)
        docs = self.journal.tables.get(table, {})
        found = [docs[i] for i in index.ids.get(value, ()) if i in docs]
        if index.from_columns and any(index.value(d) != value for d in found):
            raise self.journal.distrust()  # the checkpoint's columns say what the runs do not
        return found

    def newest(
        self, table: str, path: str | Path_, value: Any, order: str = "start"
    ) -> dict[str, Any] | None:
        """The document with the greatest `order` field among those whose `path` is `value`."""
        index = self._index(table, path, order)
        docs = self.journal.tables.get(table, {})
        doc_id = index.newest(value, docs)
        doc = docs.get(doc_id) if doc_id is not None else None
        if doc is not None and index.from_columns and index.value(doc) != value:
            raise self.journal.distrust()  # the checkpoint's columns say what the run does not
        return doc

    def _on_change(self, table: str, doc_id: str, old: dict | None, new: dict | None) -> None:
        for (tb, _, _), index in self._indexes.items():
            if tb == table:
                index.change(doc_id, old, new)
        if table == COLUMN_TABLE:
            self.columns.note(doc_id, old)

    def _on_reset(self, base: ckpt.Checkpoint | None) -> None:
        self._indexes.clear()
        self.columns.reset(base)

    def column(self, path: Path_) -> list[Any]:
        """Every run's value at `path`, by row of `columns` (MISSING where absent)."""
        self.journal.sync()
        return self.columns.column(path, self.journal.tables.get(COLUMN_TABLE, {}))

    def floats(self, path: Path_) -> tuple[list[float], list[int]]:
        """The runs' column at `path` as floats, NaN elsewhere, and the other rows (columns.py)."""
        self.journal.sync()
        return self.columns.floats(path, self.journal.tables.get(COLUMN_TABLE, {}))

    def run_columns(self) -> TableColumns:
        """The runs' columns, caught up with the journal (see store/columns.py)."""
        self.journal.sync()
        self.columns.catch_up(self.journal.tables.get(COLUMN_TABLE, {}))
        return self.columns

    # ------------------------------------------------------------- checkpoint
    def write_checkpoint(self) -> bool:
        """Checkpoint the replay as it is now (under the checkpoint lock; False when another
        process is writing one, or the journal was replaced meanwhile)."""
        lock = StoreLock(self.folder / CHECKPOINT_LOCK, timeout=0)
        try:
            lock.acquire()
        except Exception:  # LockTimeout: another process is at it; OSError: read-only store
            return False
        try:
            self.journal.sync()
            with self.journal.frozen() as prefix:
                try:
                    if os.stat(self.journal.path).st_ino != prefix.pop("inode"):
                        return False
                except FileNotFoundError:
                    return False
                base = self.journal.base
                if base is not None and base.journal["offset"] == prefix["offset"]:
                    return True  # the checkpoint it started from is this state already
                tables = self.journal.tables
                runs = tables.get(COLUMN_TABLE, {})
                ids = list(runs)
                cols = self.columns
                cols.catch_up(runs)
                columns = []
                same = cols.ids == ids  # rows in the table's order: no remapping
                row = cols.row
                for path in cols.all_paths():
                    col = cols.column(path, runs)
                    columns.append((path, col if same else [col[row[i]] for i in ids]))
                ckpt.write_checkpoint(
                    self.folder / CHECKPOINT_FILE,
                    journal=prefix,
                    shapes=self.journal.shapes_digest,
                    tables={tb: docs for tb, docs in tables.items() if tb != COLUMN_TABLE},
                    lazy_table=COLUMN_TABLE,
                    lazy_ids=ids,
                    lazy_locs=[self.journal.locs_of(i) for i in ids],
                    columns=columns,
                    **self._summaries(ids, runs),
                )
            return True
        finally:
            lock.release()

    def _summaries(self, ids: list[str], runs: Mapping[str, dict]) -> dict[str, Any]:
        """Each run's listing fields, compressed: copied from the checkpoint the replay started
        from when the run has not changed since (same dictionary), else from its document."""
        cols = self.columns
        base = self.journal.base
        zdict = base.zdict if base is not None else b""
        out = []
        for doc_id in ids:
            packed = cols.base_summary(cols.row[doc_id], raw=True) if zdict else None
            if packed is None:
                text = ckpt.json_bytes(summary_of(runs[doc_id], COLUMN_FIELDS, COLUMN_SECTIONS))
                zdict = zdict or text
                packed = ckpt.compress_summary(text, zdict)
            out.append(packed)
        return {"summaries": out, "zdict": zdict}

    def refresh_in_background(self) -> None:
        """Start a detached process that writes a fresh checkpoint (this one goes on)."""
        if os.environ.get("NB_MLOPS_CHECKPOINT_REFRESH", "1") == "0":
            return
        try:
            subprocess.Popen(
                [sys.executable, "-m", "nb_mlops.store.refresh", str(self.folder)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError:
            pass  # a checkpoint only saves time; the journal has everything

    def __contains__(self, key: tuple[str, str]) -> bool:
        table, doc_id = key
        return doc_id in self.docs(table)

    def tables(self) -> Iterator[str]:
        self.journal.sync()
        return iter(list(self.journal.tables))

    # ----------------------------------------------------------------- writing
    def locked(self) -> AbstractContextManager[None]:
        """Hold the writers' lock (re-entrant) for a check-then-write that must not race."""
        return self.journal.locked()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the lock and gather the `put`/`set`/`delete` calls made inside, then append them
        in one write, so related records (a model version and its counter) land together. Reads
        inside the batch do not see its writes yet."""
        with self.locked():
            if getattr(self._batch, "records", None) is not None:  # already in one: join it
                yield
                return
            self._batch.records = []
            try:
                yield
                records = self._batch.records
                self._batch.records = None
                if records:
                    self.journal.append(records)
            finally:
                self._batch.records = None

    def _write(self, record: dict[str, Any]) -> None:
        pending = getattr(self._batch, "records", None)
        if pending is not None:
            pending.append(record)
        else:
            self.journal.append([record])

    def put(self, table: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        """Create or replace one document."""
        self._write({"op": "put", "tb": table, "id": doc_id, "doc": dict(doc)})

    def set(self, table: str, doc_id: str, changes: Mapping[str | Path_, Any]) -> None:
        """Set fields of one document; a key is a field name or a tuple path into nested dicts."""
        pairs = [[[k] if isinstance(k, str) else list(k), v] for k, v in changes.items()]
        self._write({"op": "set", "tb": table, "id": doc_id, "set": pairs})

    def delete(self, table: str, doc_id: str) -> None:
        self._write({"op": "del", "tb": table, "id": doc_id})

    def repair(self) -> tuple[int, int, Path | None]:
        """Set damaged journal lines aside (see Journal.repair)."""
        return self.journal.repair()

    def set_aside_lines(self) -> Iterator[tuple[Path, bytes]]:
        """The lines `repair` set aside, each with the copy that holds it (see Journal)."""
        return self.journal.set_aside_lines()
