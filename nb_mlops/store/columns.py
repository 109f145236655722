"""One table's fields as columns, so a scan over 100,000 runs reads lists, not documents.

A column holds, per row, the value at one field path of the document (`("status",)`,
`("metrics", "acc")`), or MISSING where the document has no such field. Columns are derived
from the catalog: they start from a checkpoint's columns (store/checkpoint.py) or from the
replayed documents, and follow every later change the journal replays. Changes are only noted
when they happen (a tracked cell's writes stay cheap) and folded in when a column is read.
Rows of deleted documents stay in place with MISSING values; `ids[row]` is None for them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

Path_ = tuple[str, ...]


class _Missing:
    """The value of a field a document does not have (None is a value a field may hold)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class ColumnBase(Protocol):
    """Where columns start from (a checkpoint): row ids, and each column's values by row."""

    ids: list[str]
    base_row: dict[str, int]

    def column(self, path: Path_) -> list[Any] | None: ...

    def counts(self) -> dict[Path_, int]: ...

    def summary(self, row: int) -> dict[str, Any] | None: ...

    def summary_bytes(self, row: int) -> bytes | None: ...


def value_at(doc: Mapping[str, Any], path: Path_) -> Any:
    """The value at `path` in `doc`, or MISSING."""
    cur: Any = doc
    for key in path:
        if type(cur) is not dict:
            return MISSING
        cur = cur.get(key, MISSING)
        if cur is MISSING:
            return MISSING
    return cur


def paths_of(doc: Mapping[str, Any], fixed: tuple[Path_, ...], sections: tuple[str, ...]):
    """The column paths `doc` has a value at: the fixed ones it holds, and one per key of each
    section (params, metrics, tags)."""
    for path in fixed:
        if value_at(doc, path) is not MISSING:
            yield path
    for section in sections:
        values = doc.get(section)
        if type(values) is dict:
            for key in values:
                yield (section, key)


def summary_of(
    doc: Mapping[str, Any], fixed: tuple[Path_, ...], sections: tuple[str, ...]
) -> dict[str, Any]:
    """The fields of `doc` its columns hold, as a document (`run_id`, the fixed paths, the
    sections): what a listing, a filter or an ordering reads of a run (checkpoint summaries)."""
    keyed = []
    for section in sections:
        values = doc.get(section)
        keyed.append((section, list(values) if type(values) is dict else []))
    return build_summary(doc.get("run_id"), fixed, keyed, lambda path: value_at(doc, path))


def build_summary(
    run_id: Any,
    fixed: tuple[Path_, ...],
    keyed: list[tuple[str, list[str]]],
    value: Any,
) -> dict[str, Any]:
    """A summary from `value(path)` (MISSING where the run has none): the fixed paths it has,
    and each section's keys (`keyed`) it has, as a document."""
    out: dict[str, Any] = {"run_id": run_id}
    for path in fixed:
        v = value(path)
        if v is MISSING:
            continue
        if len(path) == 1:
            out[path[0]] = v
        else:
            out.setdefault(path[0], {})[path[1]] = v
    for section, keys in keyed:
        out[section] = {k: v for k in keys if (v := value((section, k))) is not MISSING}
    return out


class TableColumns:
    """Columns of one table: fixed field paths plus one column per key of each section."""

    def __init__(self, fixed: tuple[Path_, ...], sections: tuple[str, ...]) -> None:
        self.fixed = fixed
        self.sections = sections
        self.reset(None)

    def reset(self, base: ColumnBase | None) -> None:
        """Start again from `base` (a checkpoint's columns) or from nothing (a full replay)."""
        self._base = base
        self.ids: list[str | None] = list(base.ids) if base is not None else []
        self.row: dict[str, int] = dict(base.base_row) if base is not None else {}
        self.counts: dict[Path_, int] = dict(base.counts()) if base is not None else {}
        self._cols: dict[Path_, list[Any]] = {}
        self._dead: list[int] = []
        self._touched: set[str] = set()  # ids changed since the base: read from documents
        self._pending: dict[str, dict | None] = {}  # id -> its document before the change
        self._summaries: dict[int, dict[str, Any]] = {}  # base rows' summaries read so far
        self.generation = 0
        self.cache: dict[str, Any] = {}
        """What readers derive from the columns (an order of the rows): emptied on change."""

    # ------------------------------------------------------------- following changes
    def note(self, doc_id: str, old: dict | None) -> None:
        """A document changed (the journal's listener): cheap, folded in by `catch_up`."""
        if doc_id not in self._pending:
            self._pending[doc_id] = old

    def catch_up(self, docs: Mapping[str, dict]) -> None:
        """Fold the noted changes in; `docs` is the table as it is now."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        fixed, sections, counts, cols = self.fixed, self.sections, self.counts, self._cols
        for doc_id, old in pending.items():
            new = docs.get(doc_id)
            if old is not None:
                for path in paths_of(old, fixed, sections):
                    counts[path] = counts.get(path, 0) - 1
            r = self.row.get(doc_id)
            self._touched.add(doc_id)
            if new is None:
                if r is not None:
                    del self.row[doc_id]
                    self.ids[r] = None
                    self._dead.append(r)
                    for col in cols.values():
                        col[r] = MISSING
                continue
            for path in paths_of(new, fixed, sections):
                counts[path] = counts.get(path, 0) + 1
            if r is None:
                r = self.row[doc_id] = len(self.ids)
                self.ids.append(doc_id)
                for path, col in cols.items():
                    col.append(value_at(new, path))
            else:
                for path, col in cols.items():
                    col[r] = value_at(new, path)
        self.generation += 1
        self.cache.clear()

    # ------------------------------------------------------------------- reading
    def column(self, path: Path_, docs: Mapping[str, dict]) -> list[Any]:
        """Every row's value at `path` (MISSING where absent), built on first use."""
        self.catch_up(docs)
        col = self._cols.get(path)
        if col is not None:
            return col
        n = len(self.ids)
        touched: Any = self._touched
        try:
            base = self._base.column(path) if self._base is not None else None
        except ValueError:  # checkpoint.Unusable: a damaged section; read the documents
            base, touched = None, list(self.row)
        col = base + [MISSING] * (n - len(base)) if base is not None else [MISSING] * n
        for doc_id in touched:
            r = self.row.get(doc_id)
            if r is not None:
                col[r] = value_at(docs[doc_id], path)
        for r in self._dead:
            col[r] = MISSING
        self._cols[path] = col
        return col

    def floats(self, path: Path_, docs: Mapping[str, dict]) -> tuple[list[float], list[int]]:
        """The column with NaN in place of every value that is not a float, and the rows of
        those values: what comparing numbers in C needs (`Node.candidates`). Kept until the
        next change."""
        key = ("floats", path)
        hit = self.cache.get(key)
        if hit is None:
            col = self.column(path, docs)
            types = list(map(type, col))
            others = (
                []
                if types.count(float) == len(col)
                else [r for r, t in enumerate(types) if t is not float]
            )
            floats = col
            if others:
                floats = col[:]
                nan = float("nan")
                for r in others:
                    floats[r] = nan
            hit = self.cache[key] = (floats, others)
        return hit

    def base_summary(self, row: int, raw: bool = False) -> Any:
        """The checkpoint's summary of `row` (see summary_of; its JSON with `raw`) when the run
        has not changed since; None otherwise."""
        base = self._base
        if base is None or row >= len(base.ids):
            return None
        doc_id = self.ids[row]
        if doc_id is None or doc_id in self._touched or doc_id in self._pending:
            return None
        if raw:
            return base.summary_bytes(row)
        summary = self._summaries.get(row)
        if summary is None:
            summary = base.summary(row)
            if summary is not None:
                self._summaries[row] = summary  # shared, read-only, as documents are
        return summary

    def all_loaded(self) -> bool:
        """Whether every column with a value is built (so listings need no document)."""
        return all(p in self._cols for p in self.all_paths())

    def keys(self, section: str) -> list[str]:
        """The keys some live document has in `section`, sorted."""
        return sorted(p[1] for p, n in self.counts.items() if n > 0 and p[0] == section)

    def live_count(self) -> int:
        return len(self.row)

    def live_rows(self) -> Iterator[int]:
        return (r for r, doc_id in enumerate(self.ids) if doc_id is not None)

    def all_paths(self) -> list[Path_]:
        """Every column some live document has a value in (what a checkpoint keeps)."""
        return [p for p, n in self.counts.items() if n > 0]
