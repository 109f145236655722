"""What changed between two versions of a dataset: files, and rows of the tabular ones.

File level uses `dvc diff --json`'s categories: added, deleted, modified, renamed (a file that
moved with its bytes unchanged). For each modified tabular file (CSV, TSV, Parquet, JSON lines)
a row-level diff says which rows were added, removed or changed, cell by cell, and how the
schema moved (see rowdiff.py). Either side may be `workspace`: the data as it is now.
"""

from __future__ import annotations

import html
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
        files = {e["relpath"]: e["md5"] for e in ws.objects.listing(md5)}
    else:
        files = {"": md5}
    paths = {p: ws.objects.path_of(m) for p, m in files.items()}
    return _Side(f"version {doc['version']}", doc["version"], md5, files, paths)


@dataclass
class DataDiff:
    """The difference between two versions of one dataset (HTML view, text, `to_dict()`)."""

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

    def _title(self) -> str:
        return f"{self.path}: {self.a['label']} → {self.b['label']}"

    def __str__(self) -> str:
        if self.identical:
            return f"{self._title()}: identical ({self.a['md5']})"
        s = self.summary()
        lines = [
            self._title(),
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
            lines.append(str(rd))
        lines += [f"  (row diff of {p}: {err})" for p, err in self.table_errors.items()]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        esc = html.escape
        s = self.summary()
        cards = [
            ("files added", s["files_added"]),
            ("files deleted", s["files_deleted"]),
            ("files modified", s["files_modified"]),
            ("files renamed", s["files_renamed"]),
        ]
        if self.tables:
            cards += [
                ("rows added", s["rows_added"]),
                ("rows removed", s["rows_removed"]),
                ("rows changed", s["rows_changed"]),
                ("schema changes", s["schema_changes"]),
            ]
        parts = [
            '<div class="nbm-datadiff">',
            f"<h4>{esc(self._title())}</h4>",
            '<div class="nbm-cards" style="display:flex;gap:8px;flex-wrap:wrap">',
        ]
        parts += [
            '<div class="nbm-card" style="border:1px solid #ddd;border-radius:4px;'
            f'padding:4px 8px"><b>{n:,}</b> {esc(label)}</div>'
            for label, n in cards
        ]
        parts.append("</div>")
        if self.identical:
            parts.append("<p>identical</p>")
        kinds = ("added", "deleted", "modified")
        rows = [(k, p or self.path) for k in kinds for p in getattr(self, k)]
        rows += [("renamed", f"{r['old']} → {r['new']}") for r in self.renamed]
        if rows:
            colors = {"added": "#e6ffed", "deleted": "#ffeef0", "modified": "#fff5b1"}
            parts.append('<table class="nbm-table nbm-files"><tr><th>change</th><th>file</th></tr>')
            parts += [
                f'<tr style="background:{colors.get(k, "#f1f8ff")}"><td>{esc(k)}</td>'
                f"<td>{esc(p)}</td></tr>"
                for k, p in rows[:200]
            ]
            parts.append("</table>")
        for p, rd in self.tables.items():
            parts.append(f"<h5>{esc(p or self.path)}</h5>{rd._repr_html_()}")
        parts.append("</div>")
        return "".join(parts)


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
    from nb_mlops.data.tabular import read_table, table_format

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
        old = read_table(side_a.paths[p], fmt)
        new = read_table(side_b.paths[p], fmt)
        try:
            result.tables[p] = diff_tables(old, new, key=keys)
        except Exception as exc:  # one table's problem (a missing key) must not hide the rest
            from nb_mlops.errors import NbMlopsError

            if not isinstance(exc, NbMlopsError) or len(result.modified) == 1:
                raise
            result.table_errors[p] = str(exc)
    return result
