"""Row-level diff of two tables: rows added, removed and changed, cell by cell, plus schema changes.

`dvc diff` stops at file hashes; this says what changed inside a CSV/TSV/Parquet/JSON-lines file.
It has to stay fast and small on a million rows, so rows are never Python objects while
matching: every row gets an integer code (Arrow's hash-based dictionary encoding of each matched
column, combined column by column), rows are matched through those codes with numpy, cells are
compared column by column with Arrow kernels, and Python dicts are built only for the page of
records asked for.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nb_mlops.data.tabular import read_table
from nb_mlops.errors import NbMlopsError
from nb_mlops.results import Result

KINDS = ("added", "removed", "changed")
_KIND_RANK = {kind: rank for rank, kind in enumerate(KINDS)}
_MAX_CODE = 2**62
_SHOWN_CHARS = 80


class DiffError(NbMlopsError, ValueError):
    """Two tables cannot be diffed as asked (a table with two columns of one name, ...)."""


class DiffKeyError(DiffError):
    """The key cannot identify rows: a key column is missing, or a key value repeats."""


def diff_tables(
    old: Any,
    new: Any,
    key: str | Sequence[str] | None = None,
    *,
    labels: tuple[str, str] | None = None,
    fmt: str | None = None,
) -> RowDiff:
    """Diff `old` against `new` (each a path to a tabular file, a pyarrow.Table or a DataFrame).

    With `key` (a column name or several), rows are matched by key; without it, by content.
    `labels` names the two sides in messages and views (default: the paths, or "old"/"new");
    `fmt` is the file format of paths whose suffix does not say it (cache objects).
    """
    keys = _key_columns(key)
    old_table, old_label = _as_table(old, "old", fmt)
    new_table, new_label = _as_table(new, "new", fmt)
    if labels is not None:
        old_label, new_label = labels
    if keys is not None:
        for table, label in ((old_table, old_label), (new_table, new_label)):
            missing = [k for k in keys if k not in table.column_names]
            if missing:
                raise DiffKeyError(
                    f"key column {missing[0]!r} is not in {label} "
                    f"(its columns: {_names_list(table.column_names)})"
                )
    builder = _Builder(old_table, new_table, keys, old_label, new_label)
    return builder.by_key() if keys is not None else builder.by_content()


class RowDiff(Result):
    """What changed between two versions of a table, row by row.

    Counts: `added`, `removed`, `changed`, `unchanged` (rows) and `cells_changed`; `old_rows` and
    `new_rows`. `schema` lists columns `added`, `removed` and `retyped` (same name, other Arrow
    type). `key` is the list of key columns, or None when rows were matched by content.
    `compared` names the columns whose cells were compared; `rows()` pages through the records,
    `to_dict()` is the JSON form, `to_text()` and `to_html()` the text and notebook views.

    Semantics, chosen so that a diff says what a person would call a change:

    - With a key, a row whose key is only in the new table is added, only in the old one removed;
      a row in both is changed when any cell of a column common to both tables differs
      (key columns excluded: they are equal by construction). Columns added or removed are
      reported in `schema`, not as a change of every row. Key values must be unique on each side.
    - Without a key, rows are matched by their values in the common columns as a multiset: a row
      appearing twice in old and once in new is one removed row (its last occurrence). "Changed"
      needs to know which old row a new row replaces, which only a key says, so without a key
      a modified row is one removed plus one added, and `changed` and `cells_changed` are 0.
    - Missing values are equal to each other: null == null, NaN == NaN and, as pandas sees them,
      NaN == null. Anything else compares as Arrow compares it (so 1 == 1.0 across types).
    - A retyped column is compared after casting both sides to a common type when Arrow can
      promote one into the other without loss (int64 → double, int32 → int64, null → anything),
      else by the string form of each value (Arrow's cast to string: 1 and "1" are equal,
      True and "true" too). The same holds for key columns, so a key that became text still
      matches. Nested values (lists, structs) compare by their JSON text, which is the one slow
      path (one Python call per value of such columns).
    - Records come in key order (null keys last) when there is a key; without one, in file
      order (a removed row by its old position, an added row by its new position).
    """

    html_rows = 20  # rows shown by the HTML and text views

    def __init__(
        self,
        *,
        old: pa.Table,
        new: pa.Table,
        key: list[str] | None,
        labels: tuple[str, str],
        schema: dict[str, list[Any]],
        compared: list[str],
        added_new: np.ndarray,
        removed_old: np.ndarray,
        changed_old: np.ndarray,
        changed_new: np.ndarray,
        changed_cells: np.ndarray,
        unchanged: int,
        order_kind: np.ndarray,
        order_pos: np.ndarray,
    ) -> None:
        self.key = key
        self.old_label, self.new_label = labels
        self.schema = schema
        self.compared = compared
        self.old_rows = old.num_rows
        self.new_rows = new.num_rows
        self.added = len(added_new)
        self.removed = len(removed_old)
        self.changed = len(changed_old)
        self.unchanged = int(unchanged)
        self.cells_changed = int(changed_cells.sum())
        self.columns = list(new.column_names) + schema["removed"]
        # Only the differing rows are kept (taken in each kind's order), not both whole tables:
        # a diff held in a notebook costs memory in proportion to what changed.
        self._added_table = _take(new, added_new)
        self._removed_table = _take(old, removed_old)
        self._changed_old_table = _take(old, changed_old)
        self._changed_new_table = _take(new, changed_new)
        self._added_new = added_new
        self._removed_old = removed_old
        self._changed_old = changed_old
        self._changed_new = changed_new
        self._changed_cells = changed_cells
        self._order_kind = order_kind
        self._order_pos = order_pos

    @property
    def identical(self) -> bool:
        """No row added, removed or changed, and no schema change."""
        return not (self.added or self.removed or self.changed or any(self.schema.values()))

    @property
    def counts(self) -> dict[str, int]:
        """The row and cell counts as one dict."""
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "cells_changed": self.cells_changed,
            "old_rows": self.old_rows,
            "new_rows": self.new_rows,
        }

    def count(self, kind: str | None = None) -> int:
        """How many records `rows(kind)` pages through."""
        if kind is None:
            return self.added + self.removed + self.changed
        return self.counts[_check_kind(kind)]

    def rows(
        self, kind: str | None = None, offset: int = 0, limit: int = 50, *, jsonable: bool = False
    ) -> list[dict[str, Any]]:
        """One page of row records, of one kind or of all kinds in the diff's order.

        Each record: {"kind", "key", "old_row", "new_row", "old", "new", "cells"}. "key" maps the
        key columns to the row's values, or is {"row": position} (0-based, in the table the row
        comes from) without a key; "old_row"/"new_row" are the row's 0-based positions in each
        table (None on the side it is absent from); "old"/"new" are the whole rows (None when
        absent); "cells" maps each changed column to [old, new] ({} unless changed).
        `jsonable=True` gives values fit for json.dumps (ISO dates, NaN as None).
        """
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        if kind is None:
            stop = min(offset + limit, len(self._order_kind))
            kinds = self._order_kind[offset:stop]
            positions = self._order_pos[offset:stop]
        else:
            rank = _KIND_RANK[_check_kind(kind)]
            stop = min(offset + limit, self.count(kind))
            positions = np.arange(offset, max(stop, offset), dtype=np.int64)
            kinds = np.full(len(positions), rank, dtype=np.int8)
        records: list[dict[str, Any] | None] = [None] * len(positions)
        for rank, name in enumerate(KINDS):
            where = np.flatnonzero(kinds == rank)
            if len(where):
                for slot, record in zip(where, self._records(name, positions[where]), strict=True):
                    records[slot] = record
        out = [r for r in records if r is not None]
        return [_jsonable(r) for r in out] if jsonable else out

    def to_dict(self, limit: int = 100) -> dict[str, Any]:
        """Counts, schema changes, key and the first `limit` records; JSON-serializable."""
        return {
            "key": self.key,
            "matching": "key" if self.key else "content",
            "old": self.old_label,
            "new": self.new_label,
            "counts": self.counts,
            "schema": self.schema,
            "compared_columns": self.compared,
            "rows": self.rows(None, 0, limit, jsonable=True),
            "rows_total": self.count(),
        }

    def summary(self) -> str:
        """One line of counts."""
        line = (
            f"{self.added:,} added, {self.removed:,} removed, {self.changed:,} changed "
            f"({self.cells_changed:,} cells), {self.unchanged:,} unchanged"
        )
        if self.key:
            return f"{line} (key: {', '.join(self.key)})"
        return f"{line} (no key: rows matched by content)"

    def to_text(self) -> str:
        lines = [f"rows {self.old_label} → {self.new_label}: {self.summary()}"]
        schema = _schema_text(self.schema)
        if schema:
            lines.append(f"schema: {schema}")
        records = self.rows(limit=self.html_rows)
        marks = {"added": "+", "removed": "-", "changed": "~"}
        for record in records:
            where = _key_text(record, bool(self.key))
            lines.append(f"  {marks[record['kind']]} {where}  {_body_text(record)}")
        rest = self.count() - len(records)
        if rest > 0:
            lines.append(f"  … {rest:,} more: .rows(offset={len(records)}, limit=...)")
        return "\n".join(lines)

    def __repr__(self) -> str:  # one line, not the rows: a diff left at a prompt stays short
        return f"<RowDiff {self.old_label} → {self.new_label}: {self.summary()}>"

    def to_html(self) -> str:
        from nb_mlops.data.diffhtml import rowdiff_html

        return rowdiff_html(self, self.html_rows)

    # -- records -------------------------------------------------------------------------------

    def _records(self, kind: str, positions: np.ndarray) -> list[dict[str, Any]]:
        """Records of one kind at the given positions of that kind's ordered list."""
        if kind == "added":
            new_idx = self._added_new[positions]
            new_rows = _take_rows(self._added_table, positions)
            return [
                self._record(kind, None, int(j), None, row, {})
                for j, row in zip(new_idx, new_rows, strict=True)
            ]
        if kind == "removed":
            old_idx = self._removed_old[positions]
            old_rows = _take_rows(self._removed_table, positions)
            return [
                self._record(kind, int(i), None, row, None, {})
                for i, row in zip(old_idx, old_rows, strict=True)
            ]
        old_idx = self._changed_old[positions]
        new_idx = self._changed_new[positions]
        old_rows = _take_rows(self._changed_old_table, positions)
        new_rows = _take_rows(self._changed_new_table, positions)
        out = []
        for n, (i, j) in enumerate(zip(old_idx, new_idx, strict=True)):
            mask = self._changed_cells[positions[n]]
            cells = {
                col: [old_rows[n][col], new_rows[n][col]]
                for col, hit in zip(self.compared, mask, strict=True)
                if hit
            }
            out.append(self._record(kind, int(i), int(j), old_rows[n], new_rows[n], cells))
        return out

    def _record(
        self,
        kind: str,
        old_row: int | None,
        new_row: int | None,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
        cells: dict[str, list[Any]],
    ) -> dict[str, Any]:
        if self.key:
            source = new if new is not None else old
            assert source is not None
            key = {k: source[k] for k in self.key}
        else:
            key = {"row": new_row if old_row is None else old_row}
        return {
            "kind": kind,
            "key": key,
            "old_row": old_row,
            "new_row": new_row,
            "old": old,
            "new": new,
            "cells": cells,
        }


# -- computing a diff --------------------------------------------------------------------------


class _Builder:
    """Matches the rows of two tables and makes the RowDiff."""

    def __init__(
        self, old: pa.Table, new: pa.Table, key: list[str] | None, old_label: str, new_label: str
    ) -> None:
        self.old, self.new, self.key = old, new, key
        self.labels = (old_label, new_label)
        old_types = dict(zip(old.column_names, old.schema.types, strict=True))
        new_types = dict(zip(new.column_names, new.schema.types, strict=True))
        self.common = [c for c in new.column_names if c in old_types]
        self.schema: dict[str, list[Any]] = {
            "added": [c for c in new.column_names if c not in old_types],
            "removed": [c for c in old.column_names if c not in new_types],
            "retyped": [
                {"column": c, "old": str(old_types[c]), "new": str(new_types[c])}
                for c in self.common
                if old_types[c] != new_types[c]
            ],
        }

    def by_key(self) -> RowDiff:
        assert self.key is not None
        old, new = self.old, self.new
        old_keys, new_keys = _aligned_pairs(old, new, self.key)
        codes_old, codes_new, size = _row_codes(old_keys, new_keys, old.num_rows, new.num_rows)
        count_old = np.bincount(codes_old, minlength=size)
        count_new = np.bincount(codes_new, minlength=size)
        self._refuse_duplicates(codes_old, count_old, old, self.labels[0])
        self._refuse_duplicates(codes_new, count_new, new, self.labels[1])

        row_in_new = np.full(size, -1, dtype=np.int64)
        row_in_new[codes_new] = np.arange(new.num_rows, dtype=np.int64)
        match = row_in_new[codes_old]
        removed_old = np.flatnonzero(match < 0)
        matched_old = np.flatnonzero(match >= 0)
        matched_new = match[matched_old]
        added_new = np.flatnonzero(count_old[codes_new] == 0)

        compared = [c for c in self.common if c not in self.key]
        masks = self._compare(compared, matched_old, matched_new)
        any_change = np.zeros(len(matched_old), dtype=bool)
        for mask in masks:
            any_change |= mask
        changed_at = np.flatnonzero(any_change)
        changed_cells = (
            np.stack([mask[changed_at] for mask in masks], axis=1)
            if masks
            else np.zeros((len(changed_at), 0), dtype=bool)
        )
        changed_old = matched_old[changed_at]
        changed_new = matched_new[changed_at]

        # Key order, within each kind and across kinds (a key is never in two kinds).
        added_new = added_new[_key_order(new_keys, added_new)]
        removed_old = removed_old[_key_order(old_keys, removed_old)]
        by_key = _key_order(new_keys, changed_new)
        changed_old, changed_new, changed_cells = (
            changed_old[by_key],
            changed_new[by_key],
            changed_cells[by_key],
        )
        order_kind, order_pos = _merge_by_key(
            [(new_keys, added_new), (old_keys, removed_old), (new_keys, changed_new)]
        )
        return self._diff(
            compared=compared,
            added_new=added_new,
            removed_old=removed_old,
            changed_old=changed_old,
            changed_new=changed_new,
            changed_cells=changed_cells,
            unchanged=len(matched_old) - len(changed_at),
            order_kind=order_kind,
            order_pos=order_pos,
        )

    def by_content(self) -> RowDiff:
        old, new = self.old, self.new
        if self.common:
            old_cols, new_cols = _aligned_pairs(old, new, self.common)
            codes_old, codes_new, size = _row_codes(old_cols, new_cols, old.num_rows, new.num_rows)
        else:  # nothing in common to match on: every old row is gone, every new row is new
            codes_old = np.zeros(old.num_rows, dtype=np.int64)
            codes_new = np.ones(new.num_rows, dtype=np.int64)
            size = 2
        count_old = np.bincount(codes_old, minlength=size)
        count_new = np.bincount(codes_new, minlength=size)
        removed_old = np.flatnonzero(_occurrence(codes_old) >= count_new[codes_old])
        added_new = np.flatnonzero(_occurrence(codes_new) >= count_old[codes_new])
        unchanged = int(np.minimum(count_old, count_new).sum())

        positions = np.concatenate([added_new, removed_old])
        ranks = np.concatenate(
            [
                np.full(len(added_new), _KIND_RANK["added"], dtype=np.int8),
                np.full(len(removed_old), _KIND_RANK["removed"], dtype=np.int8),
            ]
        )
        within = np.concatenate([np.arange(len(added_new)), np.arange(len(removed_old))]).astype(
            np.int64
        )
        # File order; at one position, the removed row before the added one (like a line diff).
        order = np.lexsort((-ranks, positions))
        empty = np.zeros(0, dtype=np.int64)
        return self._diff(
            compared=list(self.common),
            added_new=added_new,
            removed_old=removed_old,
            changed_old=empty,
            changed_new=empty,
            changed_cells=np.zeros((0, len(self.common)), dtype=bool),
            unchanged=unchanged,
            order_kind=ranks[order],
            order_pos=within[order],
        )

    def _diff(self, **parts: Any) -> RowDiff:
        return RowDiff(
            old=self.old,
            new=self.new,
            key=self.key,
            labels=self.labels,
            schema=self.schema,
            **parts,
        )

    def _compare(
        self, columns: list[str], matched_old: np.ndarray, matched_new: np.ndarray
    ) -> list[np.ndarray]:
        """Per compared column, which matched pairs differ in it (one Arrow pass per column)."""
        old_idx = pa.array(matched_old, type=pa.int64())
        new_idx = pa.array(matched_new, type=pa.int64())
        masks = []
        for name in columns:
            before = self.old.column(name).take(old_idx)
            after = self.new.column(name).take(new_idx)
            masks.append(_differs(*_align(before, after)))
        return masks

    def _refuse_duplicates(
        self, codes: np.ndarray, counts: np.ndarray, table: pa.Table, label: str
    ) -> None:
        assert self.key is not None
        repeated = counts > 1
        if not repeated.any():
            return
        row = int(np.argmax(repeated[codes]))  # the first row, in file order, whose key repeats
        values = table.select(self.key).slice(row, 1).to_pylist()[0]
        shown = ", ".join(f"{k}={_short(repr(v))}" for k, v in values.items())
        name = self.key[0] if len(self.key) == 1 else "(" + ", ".join(self.key) + ")"
        raise DiffKeyError(
            f"key {name} is not unique in {label}: {shown} is on {int(counts[codes[row]])} rows "
            f"({int(repeated.sum()):,} repeated key value(s)); a key must identify one row"
        )


def _as_table(obj: Any, side: str, fmt: str | None = None) -> tuple[pa.Table, str]:
    """A pyarrow.Table and a label for one side of a diff."""
    if isinstance(obj, pa.Table):
        table, label = obj, side
    elif isinstance(obj, pa.RecordBatch):
        table, label = pa.Table.from_batches([obj]), side
    elif isinstance(obj, (str, os.PathLike)):
        table, label = read_table(obj, fmt), os.fspath(obj)
    elif type(obj).__module__.partition(".")[0] == "pandas" and hasattr(obj, "columns"):
        frame = obj.reset_index() if any(n is not None for n in obj.index.names) else obj
        table, label = pa.Table.from_pandas(frame, preserve_index=False), side
    else:
        raise TypeError(
            f"cannot diff a {type(obj).__name__}: give a path, a pyarrow.Table or a DataFrame"
        )
    names = table.column_names
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise DiffError(f"{label} has two columns named {twice!r}; rename one to diff it")
    return table, label


def _key_columns(key: str | Sequence[str] | None) -> list[str] | None:
    if key is None:
        return None
    keys = [key] if isinstance(key, str) else list(key)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise DiffKeyError(f"a key is a column name or a list of them, not {key!r}")
    if len(set(keys)) != len(keys):
        raise DiffKeyError(f"key {keys!r} names a column twice")
    return keys


def _names_list(names: list[str], most: int = 12) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", … ({len(names)} columns)" if len(names) > most else "") or "none"


# -- comparing values ---------------------------------------------------------------------------


def _plain(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dictionary/extension columns as their values; nested columns as JSON text."""
    typ = arr.type
    if isinstance(typ, pa.ExtensionType):
        return _plain(pa.chunked_array([c.storage for c in arr.chunks], type=typ.storage_type))
    if pa.types.is_dictionary(typ):
        return _plain(arr.cast(typ.value_type))
    if pa.types.is_nested(typ):
        return _as_text(arr)
    return arr


def _as_text(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Each value's string form (Arrow's cast), or its JSON text where Arrow has no cast."""
    if not pa.types.is_nested(arr.type):
        try:
            return arr.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    texts = [
        None if v is None else v if isinstance(v, str) else _json_text(v) for v in arr.to_pylist()
    ]
    return pa.chunked_array([pa.array(texts, type=pa.string())])


def _json_text(value: Any) -> str:
    return json.dumps(_jsonable(value), sort_keys=True, ensure_ascii=False)


def _aligned_pairs(
    old: pa.Table, new: pa.Table, columns: Sequence[str]
) -> tuple[list[pa.ChunkedArray], list[pa.ChunkedArray]]:
    """The named columns of both tables, each pair aligned to one type."""
    pairs = [_align(old.column(c), new.column(c)) for c in columns]
    return [a for a, _ in pairs], [b for _, b in pairs]


def _align(a: pa.ChunkedArray, b: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """The two columns in one type: theirs, a lossless common one, or text."""
    a, b = _plain(a), _plain(b)
    if a.type == b.type:
        return a, b
    try:
        common = (
            pa.unify_schemas(
                [pa.schema([("c", a.type)]), pa.schema([("c", b.type)])],
                promote_options="permissive",
            )
            .field("c")
            .type
        )
        return a.cast(common), b.cast(common)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return _as_text(a), _as_text(b)


def _missing(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_floating(arr.type):
        return pc.is_null(arr, nan_is_null=True)
    return pc.is_null(arr)


def _differs(a: pa.ChunkedArray, b: pa.ChunkedArray) -> np.ndarray:
    """Per position, whether the values differ (missing == missing; see RowDiff)."""
    if len(a) == 0:
        return np.zeros(0, dtype=bool)
    a_missing, b_missing = _missing(a), _missing(b)
    if pa.types.is_null(a.type):
        return np.asarray(pc.invert(b_missing).to_numpy(zero_copy_only=False), dtype=bool)
    try:
        unequal = pc.not_equal(a, b)
    except pa.ArrowNotImplementedError:
        unequal = pc.not_equal(_as_text(a), _as_text(b))
    either = pc.or_(a_missing, b_missing)
    out = pc.if_else(either, pc.xor(a_missing, b_missing), unequal)
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=bool)


def _row_codes(
    old_cols: Sequence[pa.ChunkedArray],
    new_cols: Sequence[pa.ChunkedArray],
    n_old: int,
    n_new: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes for the rows of both tables: equal codes iff equal values in every column.

    Each column (old and new values together) is dictionary-encoded by Arrow's hash kernel, nulls
    included as a value; the per-column codes are combined as mixed-radix numbers and squeezed
    back to dense codes whenever the next column could overflow int64.
    """
    codes = np.zeros(n_old + n_new, dtype=np.int64)
    size = 1
    for a, b in zip(old_cols, new_cols, strict=True):
        both = pa.chunked_array([*a.chunks, *b.chunks], type=a.type).combine_chunks()
        column, width = _encode(both)
        if size > _MAX_CODE // max(width, 1):
            codes, size = _dense(codes)
        codes = codes * width + column
        size *= width
    if size > len(codes) + 1:
        codes, size = _dense(codes)
    return codes[:n_old], codes[n_old:], max(size, 1)


def _encode(arr: pa.Array) -> tuple[np.ndarray, int]:
    """Dense codes of one column's values (missing values share one code) and their count."""
    if pa.types.is_null(arr.type) or len(arr) == 0:
        return np.zeros(len(arr), dtype=np.int64), 1
    if pa.types.is_floating(arr.type):
        arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)  # NaN is missing
        arr = pc.add(arr, pa.scalar(0.0, arr.type))  # -0.0 == 0.0, as compared
    encoded = pc.dictionary_encode(arr, null_encoding="encode")
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return indices, len(encoded.dictionary)


def _dense(codes: np.ndarray) -> tuple[np.ndarray, int]:
    encoded = pc.dictionary_encode(pa.array(codes, type=pa.int64()))
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(encoded.dictionary)


def _occurrence(codes: np.ndarray) -> np.ndarray:
    """For each row, how many earlier rows have the same code (0 for the first occurrence)."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    positions = np.arange(len(codes), dtype=np.int64)
    starts = np.ones(len(codes), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    group_start = np.maximum.accumulate(np.where(starts, positions, 0))
    out = np.empty(len(codes), dtype=np.int64)
    out[order] = positions - group_start
    return out


def _key_table(keys: Sequence[pa.ChunkedArray], idx: np.ndarray) -> pa.Table:
    taken = pa.array(idx, type=pa.int64())
    return pa.table({f"k{i}": column.take(taken) for i, column in enumerate(keys)})


def _sort_keys(n: int) -> list[tuple[str, str]]:
    return [(f"k{i}", "ascending") for i in range(n)]


def _key_order(keys: Sequence[pa.ChunkedArray], idx: np.ndarray) -> np.ndarray:
    """The permutation that puts the rows `idx` in key order (nulls last)."""
    if len(idx) < 2:
        return np.arange(len(idx), dtype=np.int64)
    table = _key_table(keys, idx)
    order = pc.sort_indices(table, sort_keys=_sort_keys(len(keys)))
    return order.to_numpy().astype(np.int64)


def _merge_by_key(
    parts: Sequence[tuple[Sequence[pa.ChunkedArray], np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """All kinds' records in key order: (kind rank, position within that kind) per record."""
    tables = [_key_table(keys, idx) for keys, idx in parts]
    ranks = np.concatenate(
        [np.full(len(idx), rank, dtype=np.int8) for rank, (_, idx) in enumerate(parts)]
    )
    within = np.concatenate([np.arange(len(idx), dtype=np.int64) for _, idx in parts])
    if len(ranks) < 2:
        return ranks, within
    table = pa.concat_tables(tables)
    order = pc.sort_indices(table, sort_keys=_sort_keys(table.num_columns)).to_numpy()
    return ranks[order], within[order]


def _take(table: pa.Table, idx: np.ndarray) -> pa.Table:
    return table.take(pa.array(idx, type=pa.int64()))


def _take_rows(table: pa.Table, idx: np.ndarray) -> list[dict[str, Any]]:
    return _take(table, idx).to_pylist() if len(idx) else []


def _check_kind(kind: str) -> str:
    if kind not in _KIND_RANK:
        raise ValueError(f"kind must be one of {', '.join(KINDS)} or None, not {kind!r}")
    return kind


# -- presenting ---------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """The value as json.dumps(allow_nan=False) takes it: ISO dates, NaN as None, exact decimals."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"PT{value.total_seconds():g}S"
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return str(value)


def shown_value(value: Any) -> str:
    """A cell as every view shows it (not escaped): null, NaN, ISO dates, JSON, cut to 80."""
    if value is None:
        return "null"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        text = value.isoformat()
    elif isinstance(value, str):
        text = value
    elif isinstance(value, (list, dict)):
        text = json.dumps(_jsonable(value), ensure_ascii=False)
    else:
        text = str(value)
    return _short(text)


def _short(text: str) -> str:
    text = " ".join(text.split()) if "\n" in text or "\r" in text else text
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _schema_text(schema: dict[str, list[Any]]) -> str:
    parts = [f"+{c}" for c in schema["added"]]
    parts += [f"-{c}" for c in schema["removed"]]
    parts += [f"{r['column']}: {r['old']} → {r['new']}" for r in schema["retyped"]]
    return "; ".join(parts)


def _key_text(record: dict[str, Any], keyed: bool) -> str:
    if not keyed:  # a row position: say in which table
        side = "new" if record["kind"] == "added" else "old"
        return f"{side} row {record['key']['row']}"
    return ", ".join(f"{k}={shown_value(v)}" for k, v in record["key"].items())


def _body_text(record: dict[str, Any]) -> str:
    if record["kind"] == "changed":
        cells = record["cells"].items()
        return "; ".join(f"{col}: {shown_value(a)} → {shown_value(b)}" for col, (a, b) in cells)
    row = record["new"] if record["kind"] == "added" else record["old"]
    return ", ".join(f"{k}={shown_value(v)}" for k, v in row.items() if k not in record["key"])
