"""The catalog: documents (runs, snapshots, models, aliases, ...) in tables, queried with TinyDB.

TinyDB is the query layer only. Its storage is the journal (see journal.py), so a write costs one
appended line instead of a rewrite of every document. Writes go through `put`, `set` and
`delete`; TinyDB's own write methods are refused so that nothing bypasses the journal.

Documents handed out are shared with the replay and must be treated as read-only; every change
replaces a document (nested dicts on the changed path are copied), so a document a caller holds
never changes under it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from nb_mlops.store.journal import Journal, Shapes
from nb_mlops.store.layout import JOURNAL_FILE, JOURNAL_LOCK

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

    def value(self, doc: Mapping | None) -> Any:
        cur: Any = doc
        for key in self.path:
            if not isinstance(cur, Mapping):
                return None
            cur = cur.get(key)
        return cur if isinstance(cur, (str, int, float, bool)) or cur is None else repr(cur)

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
        self.journal = Journal(self.folder / JOURNAL_FILE, self.folder / JOURNAL_LOCK, shapes)
        self._indexes: dict[tuple[str, Path_, str | None], _Index] = {}
        self._batch = threading.local()  # a batch belongs to the thread that opened it
        self.journal.add_listener(self._on_change)
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
            for doc_id, doc in self.journal.tables.get(table, {}).items():
                index.change(doc_id, None, doc)
            self._indexes[key] = index
        return index

    def find(self, table: str, path: str | Path_, value: Any) -> list[dict[str, Any]]:
        """Documents whose field at `path` equals `value`, through an index built on first use."""
        index = self._index(table, path)
        docs = self.journal.tables.get(table, {})
        return [docs[i] for i in index.ids.get(value, ()) if i in docs]

    def newest(
        self, table: str, path: str | Path_, value: Any, order: str = "start"
    ) -> dict[str, Any] | None:
        """The document with the greatest `order` field among those whose `path` is `value`."""
        index = self._index(table, path, order)
        docs = self.journal.tables.get(table, {})
        doc_id = index.newest(value, docs)
        return docs.get(doc_id) if doc_id is not None else None

    def _on_change(self, table: str, doc_id: str, old: dict | None, new: dict | None) -> None:
        for (tb, _, _), index in self._indexes.items():
            if tb == table:
                index.change(doc_id, old, new)

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
