"""What changed between two versions of a dataset: files, and rows of the tabular ones.

File level uses `dvc diff --json`'s categories: added, deleted, modified, renamed (a file that
moved with its bytes unchanged). For each modified tabular file (CSV, TSV, Parquet, JSON lines)
a row-level diff says which rows were added, removed or changed, cell by cell, and how the
schema moved (see rowdiff.py). Either side may be `workspace`: the data as it is now.

Every cached object a diff reads is verified first (a folder's listing, and each file whose rows
are compared), as checkout and push do: a damaged object stops the diff with one line naming the
dataset, the version and the file, never a diff of wrong bytes. A file that cannot be read as a
table (binary garbage named `.csv`) does not stop the rest: it is listed among the file changes
and marked "unreadable as a table" with the reason, named by its workspace path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.data.snapshot import (
    DataError,
    adopt_dvcfile,
    dataset_path,
    hash_data,
    relpath,
    version_doc,
)
from nb_mlops.errors import NbMlopsError, ObjectCorrupt, StoreError
from nb_mlops.results import Result
from nb_mlops.store.workspace import Workspace

MAX_TABLE_DIFFS = 10


@dataclass
class _Side:
    label: str
    version: int | None
    md5: str
    files: dict[str, str]  # relpath ('' for a single-file dataset) -> md5
    paths: dict[str, Path]  # relpath -> where its bytes can be read

    def describe(self) -> dict[str, Any]:
        return {"label": self.label, "version": self.version, "md5": self.md5}


def _side(ws: Workspace, full: Path, rel: str, which: int | str) -> _Side:
    if which == "workspace":
        if not os.path.lexists(full):
            raise DataError(f"{rel} is not in the workspace")
        hashed = hash_data(ws, full)
        if hashed.entries is None:
            return _Side("workspace", None, hashed.md5, {"": hashed.md5}, {"": full})
        files = {e["relpath"]: e["md5"] for e in hashed.entries}
        paths = {p: full.joinpath(*p.split("/")) for p in files}
        return _Side("workspace", None, hashed.md5, files, paths)
    doc = version_doc(ws, rel, which)
    md5 = doc["md5"]
    if md5.endswith(".dir"):
        try:
            entries = ws.objects.listing(md5)  # read whole and checked against its hash
        except StoreError as exc:
            raise _unusable(rel, doc["version"], exc) from None
        files = {e["relpath"]: e["md5"] for e in entries}
    else:
        files = {"": md5}
    paths = {p: ws.objects.path_of(m) for p, m in files.items()}
    return _Side(f"version {doc['version']}", doc["version"], md5, files, paths)


def _unusable(shown: str, version: int | None, exc: StoreError) -> StoreError:
    """The error for a cached object of `shown` (a workspace path) that cannot be used."""
    if isinstance(exc, ObjectCorrupt):
        return ObjectCorrupt(f"{shown} version {version} is damaged in the cache: {exc}")
    return StoreError(
        f"{shown} version {version} cannot be read from the cache ({exc}); "
        "fetch it again with `%track pull`"
    )


def _read_side(ws: Workspace, side: _Side, p: str, shown: str, fmt: str) -> Any:
    """One side's table of file `p`, its cached object verified first."""
    from nb_mlops.data.tabular import read_table

    if side.version is not None:
        try:
            ws.objects.verify(side.files[p])
        except StoreError as exc:
            raise _unusable(shown, side.version, exc) from None
    return read_table(side.paths[p], fmt, label=f"{shown} ({side.label})")


@dataclass(repr=False)
class DataDiff(Result):
    """The difference between two versions of one dataset: its files, and the rows of the
    tabular ones (`tables`: relpath -> RowDiff)."""

    path: str
    a: dict[str, Any]
    b: dict[str, Any]
    key: list[str] | None
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)
    tables: dict[str, Any] = field(default_factory=dict)  # relpath -> RowDiff
    skipped_tables: list[str] = field(default_factory=list)
    table_errors: dict[str, str] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return self.a["md5"] == self.b["md5"]

    def summary(self) -> dict[str, int]:
        out = {
            "files_added": len(self.added),
            "files_deleted": len(self.deleted),
            "files_modified": len(self.modified),
            "files_renamed": len(self.renamed),
            "rows_added": 0,
            "rows_removed": 0,
            "rows_changed": 0,
            "cells_changed": 0,
            "schema_changes": 0,
        }
        for rd in self.tables.values():
            out["rows_added"] += rd.added
            out["rows_removed"] += rd.removed
            out["rows_changed"] += rd.changed
            out["cells_changed"] += rd.cells_changed
            out["schema_changes"] += sum(len(v) for v in rd.schema.values())
        return out

    def to_dict(self, limit: int = 100) -> dict[str, Any]:
        return {
            "path": self.path,
            "a": self.a,
            "b": self.b,
            "key": self.key,
            "identical": self.identical,
            "summary": self.summary(),
            "files": {
                "added": self.added,
                "deleted": self.deleted,
                "modified": self.modified,
                "renamed": self.renamed,
            },
            "tables": {p: rd.to_dict(limit=limit) for p, rd in self.tables.items()},
            "skipped_tables": self.skipped_tables,
            "table_errors": self.table_errors,
        }

    @property
    def title(self) -> str:
        """`PATH: SIDE → SIDE`, the first line of every view."""
        return f"{self.path}: {self.a['label']} → {self.b['label']}"

    def to_text(self) -> str:
        if self.identical:
            return f"{self.title}: identical ({self.a['md5']})"
        s = self.summary()
        lines = [
            self.title,
            f"  files: {s['files_added']} added, {s['files_deleted']} deleted, "
            f"{s['files_modified']} modified, {s['files_renamed']} renamed",
        ]
        if self.tables:
            lines.append(
                f"  rows: {s['rows_added']} added, {s['rows_removed']} removed, "
                f"{s['rows_changed']} changed ({s['cells_changed']} cells); "
                f"{s['schema_changes']} schema changes"
            )
        for kind in ("added", "deleted", "modified"):
            lines += [f"  {kind}: {p or self.path}" for p in getattr(self, kind)[:20]]
        lines += [f"  renamed: {r['old']} → {r['new']}" for r in self.renamed[:20]]
        for p, rd in self.tables.items():
            lines.append(f"--- {p or self.path}")
            lines.append(rd.to_text())
        lines += [
            f"  (row diff of {p or self.path}: {err})" for p, err in self.table_errors.items()
        ]
        return "\n".join(lines)

    def to_html(self) -> str:
        from nb_mlops.data.diffhtml import datadiff_html
        from nb_mlops.data.rowdiff import RowDiff

        return datadiff_html(self, RowDiff.html_rows)


def _file_changes(a: _Side, b: _Side) -> tuple[list, list, list, list]:
    added = sorted(set(b.files) - set(a.files))
    deleted = sorted(set(a.files) - set(b.files))
    modified = sorted(p for p in set(a.files) & set(b.files) if a.files[p] != b.files[p])
    renamed = []
    by_hash: dict[str, list[str]] = {}
    for p in deleted:
        by_hash.setdefault(a.files[p], []).append(p)
    for p in list(added):
        olds = by_hash.get(b.files[p])
        if olds:
            old = olds.pop(0)
            renamed.append({"old": old, "new": p})
            added.remove(p)
            deleted.remove(old)
    return added, deleted, modified, renamed


def diff(
    ws: Workspace,
    path: str | os.PathLike,
    a: int | str,
    b: int | str = "workspace",
    *,
    key: str | list[str] | None = None,
) -> DataDiff:
    """Compare two versions of a dataset (`workspace` = the data as it is now)."""
    from nb_mlops.data.rowdiff import diff_tables
    from nb_mlops.data.tabular import TableReadError, table_format

    full = dataset_path(ws, path, must_exist=False)
    rel = relpath(ws, full)
    adopt_dvcfile(ws, rel)
    side_a, side_b = _side(ws, full, rel, a), _side(ws, full, rel, b)
    keys = [key] if isinstance(key, str) else (list(key) if key else None)
    result = DataDiff(rel, side_a.describe(), side_b.describe(), keys)
    if side_a.md5 == side_b.md5:
        return result
    result.added, result.deleted, result.modified, result.renamed = _file_changes(side_a, side_b)
    for p in result.modified:
        fmt = table_format(p or rel)
        if fmt is None:
            continue
        if len(result.tables) >= MAX_TABLE_DIFFS:
            result.skipped_tables.append(p)
            continue
        shown = f"{rel}/{p}" if p else rel
        try:
            old = _read_side(ws, side_a, p, shown, fmt)
            new = _read_side(ws, side_b, p, shown, fmt)
        except TableReadError as exc:  # the file changed all the same: say so, diff the rest
            result.table_errors[p] = f"unreadable as a table: {exc}"
            continue
        try:
            result.tables[p] = diff_tables(old, new, key=keys)
        except NbMlopsError as exc:  # one table's problem (a missing key) must not hide the rest
            if len(result.modified) == 1:
                raise
            result.table_errors[p] = str(exc)
    return result
