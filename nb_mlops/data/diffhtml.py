"""The HTML of data diffs, built once: row tables, schema line, cards, file list, colours.

`RowDiff.to_html()` and `DataDiff.to_html()` are made of these pieces, and the data diff widgets
show the same pieces live. Rows carry the classes the stylesheet and the browser tests rely on:
`nbm-row-added` (green), `nbm-row-removed` (red), `nbm-row-changed` (changed cells show
"old → new"); files carry `nbm-file-added`, `-deleted`, `-modified` or `-renamed`. Every file
name, column name and cell value is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nb_mlops.data.rowdiff import shown_value

if TYPE_CHECKING:
    from nb_mlops.data.diff import DataDiff
    from nb_mlops.data.rowdiff import RowDiff

MAX_FILES = 200  # rows of the file list
BG = {
    "added": "rgba(40,167,69,.16)",
    "removed": "rgba(220,53,69,.16)",
    "changed": "rgba(255,193,7,.10)",
    "cell": "rgba(255,193,7,.30)",
}
"""Background of each kind of row (and of a changed cell), card and file."""
_STYLE = (
    "<style>.nbm-rowdiff-table,.nbm-files{border-collapse:collapse}"
    ".nbm-rowdiff-table td,.nbm-rowdiff-table th,.nbm-files td,.nbm-files th{padding:2px 8px;"
    "border-bottom:1px solid rgba(128,128,128,.25);text-align:left;white-space:nowrap;"
    "vertical-align:top}</style>"
)
_CARD = (
    "display:inline-block;margin:0 6px 6px 0;padding:4px 10px;border-radius:6px;"
    "border:1px solid rgba(128,128,128,.35);background:{bg}"
)
_MARK = {"added": "+", "removed": "−", "changed": "~"}
_FILE_KIND = {"added": "added", "deleted": "removed", "modified": "changed"}

MoreNote = Callable[[int, int], str]
"""(rows shown, rows in all) -> the HTML note under a page of rows that leaves some out."""


# ------------------------------------------------------------------------------ one table
def rows_html(rowdiff: RowDiff, records: list[dict[str, Any]]) -> str:
    """The records of one page as an escaped <table>, one class per kind of row."""
    esc = html.escape
    key = list(rowdiff.key or [])
    columns = key + [c for c in rowdiff.columns if c not in key]
    added_cols, removed_cols = set(rowdiff.schema["added"]), set(rowdiff.schema["removed"])
    heads = ["<th></th>"]
    if not key:
        heads.append("<th>row</th>")
    for col in columns:
        mark = "+" if col in added_cols else "−" if col in removed_cols else ""
        heads.append(f"<th>{esc(mark + col)}</th>")
    body = []
    for record in records:
        kind = record["kind"]
        cells = [f"<td>{_MARK[kind]}</td>"]
        if not key:
            side = "new" if kind == "added" else "old"
            cells.append(f"<td>{side} {esc(str(record['key'].get('row')))}</td>")
        row = record["new"] if record["new"] is not None else record["old"]
        changed = record.get("cells") or {}
        for col in columns:
            if col in changed:
                before, after = changed[col]
                cells.append(
                    f"<td class='nbm-cell-changed' style='background:{BG['cell']}'>"
                    f"<span class='nbm-old' style='color:#bd2130'>{esc(shown_value(before))}</span>"
                    " → "
                    f"<span class='nbm-new' style='color:#1e7e34'>{esc(shown_value(after))}</span>"
                    "</td>"
                )
            elif col in row:
                cells.append(f"<td>{esc(shown_value(row[col]))}</td>")
            elif kind == "changed" and record["old"] and col in record["old"]:
                old_text = esc(shown_value(record["old"][col]))
                cells.append(f"<td style='opacity:.5'>{old_text}</td>")
            else:
                cells.append("<td></td>")
        body.append(
            f"<tr class='nbm-row-{kind}' style='background:{BG[kind]}'>{''.join(cells)}</tr>"
        )
    return (
        f"{_STYLE}<table class='nbm-table nbm-rowdiff-table'>"
        f"<thead><tr>{''.join(heads)}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def schema_html(schema: dict[str, list[Any]]) -> str:
    """The columns added, removed and retyped, on one line ('' when none)."""
    esc = html.escape
    items = (
        [f"<span style='color:#1e7e34'>+{esc(c)}</span>" for c in schema["added"]]
        + [f"<span style='color:#bd2130'>−{esc(c)}</span>" for c in schema["removed"]]
        + [
            f"{esc(r['column'])}: {esc(str(r['old']))} → {esc(str(r['new']))}"
            for r in schema["retyped"]
        ]
    )
    return f"<div class='nbm-schema'>columns: {'; '.join(items)}</div>" if items else ""


def header_html(rowdiff: RowDiff) -> str:
    """The two sides, how rows were matched, the row and cell counts, and the schema line."""
    esc = html.escape
    counts = rowdiff.counts
    how = f"key: {', '.join(rowdiff.key)}" if rowdiff.key else "no key: rows matched by content"
    return (
        f"<div><b>{esc(rowdiff.old_label)}</b> → "
        f"<b>{esc(rowdiff.new_label)}</b> <span style='opacity:.7'>"
        f"({esc(how)}; {counts['old_rows']:,} → {counts['new_rows']:,} rows, "
        f"{counts['unchanged']:,} unchanged, {counts['cells_changed']:,} cells changed)"
        f"</span></div>{schema_html(rowdiff.schema)}"
    )


def cards_html(cards: list[tuple[str, int, str | None]]) -> str:
    """Count cards: (label, count, kind coloring the card or None)."""
    return (
        "<div class='nbm-cards'>"
        + "".join(
            f"<span class='nbm-card' style='{_CARD.format(bg=BG.get(kind or '', 'none'))}'>"
            f"<b>{n:,}</b> {html.escape(label)}</span>"
            for label, n, kind in cards
        )
        + "</div>"
    )


def more_rows_html(shown: int, total: int) -> str:
    """The static views' note under a first page of rows: how to page on from Python."""
    return (
        f"<div style='opacity:.7'>showing {shown:,} of {total:,} differing rows; "
        f"<code>.rows(offset={shown}, limit=50)</code> pages on</div>"
    )


def rowdiff_html(rowdiff: RowDiff, limit: int, more: MoreNote | None = more_rows_html) -> str:
    """One RowDiff as a block: header, row counts, its first `limit` records and, when that
    leaves rows out, the note `more` makes (none when `more` is None)."""
    records = rowdiff.rows(None, 0, limit)
    counts = rowdiff.counts
    cards = cards_html([(kind, counts[kind], kind) for kind in _MARK])
    table = rows_html(rowdiff, records) if records else ""
    rest = rowdiff.count() > len(records)
    note = more(len(records), rowdiff.count()) if more is not None and rest else ""
    return f"<div class='nbm-rowdiff'>{header_html(rowdiff)}{cards}{table}{note}</div>"


# ---------------------------------------------------------------------------- a dataset diff
def files_html(diff: DataDiff) -> str:
    """The files added, deleted, modified and renamed, one classed row each ('' when none)."""
    esc = html.escape
    rows = [(k, p or diff.path) for k in ("added", "deleted", "modified") for p in getattr(diff, k)]
    rows += [("renamed", f"{r['old']} → {r['new']}") for r in diff.renamed]
    if not rows:
        return ""
    body = "".join(
        f"<tr class='nbm-file-{esc(k)}' style='background:{BG.get(_FILE_KIND.get(k, ''), 'none')}'>"
        f"<td>{esc(k)}</td><td>{esc(p)}</td></tr>"
        for k, p in rows[:MAX_FILES]
    )
    more = (
        f"<div style='opacity:.7'>… {len(rows) - MAX_FILES:,} more files</div>"
        if len(rows) > MAX_FILES
        else ""
    )
    return (
        f"{_STYLE}<table class='nbm-table nbm-files'>"
        f"<thead><tr><th>change</th><th>file</th></tr></thead>"
        f"<tbody>{body}</tbody></table>{more}"
    )


def summary_html(diff: DataDiff) -> str:
    """Title, count cards, the file list, and notes on tables not diffed row by row."""
    esc = html.escape
    s = diff.summary()
    cards = [
        ("files added", s["files_added"], "added"),
        ("files deleted", s["files_deleted"], "removed"),
        ("files modified", s["files_modified"], "changed"),
        ("files renamed", s["files_renamed"], None),
    ]
    if diff.tables:
        cards += [
            ("rows added", s["rows_added"], "added"),
            ("rows removed", s["rows_removed"], "removed"),
            ("rows changed", s["rows_changed"], "changed"),
            ("schema changes", s["schema_changes"], None),
        ]
    parts = [f"<h4>{esc(diff.title)}</h4>", cards_html(cards)]
    if diff.identical:
        parts.append("<p>identical</p>")
    parts.append(files_html(diff))
    notes = [f"row diff of {p or diff.path}: {err}" for p, err in diff.table_errors.items()]
    if diff.skipped_tables:
        notes.append(
            f"{len(diff.skipped_tables)} more tabular file(s) not diffed row by row: "
            + ", ".join(diff.skipped_tables[:10])
        )
    parts += [f"<div class='nbm-note' style='opacity:.7'>{esc(n)}</div>" for n in notes]
    return "".join(parts)


def datadiff_html(diff: DataDiff, limit: int, more: MoreNote | None = more_rows_html) -> str:
    """A DataDiff as a block: its summary, then per tabular file its name and `rowdiff_html`."""
    esc = html.escape
    parts = ["<div class='nbm-datadiff'>", summary_html(diff)]
    for path, rd in diff.tables.items():
        parts.append(f"<h5>{esc(path or diff.path)}</h5>{rowdiff_html(rd, limit, more)}")
    parts.append("</div>")
    return "".join(parts)
