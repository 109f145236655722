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
OLD_COLOR = "var(--jp-error-color1, #bd2130)"
NEW_COLOR = "var(--jp-success-color1, #1e7e34)"
_BORDER = "var(--jp-border-color2, rgba(128,128,128,.3))"
# doubled classes outrank JupyterLab's own table rules (which right-align and centre tables)
_T = ("table.nbm-rowdiff-table.nbm-rowdiff-table", "table.nbm-files.nbm-files")
_STYLE = (
    f"<style>{_T[0]},{_T[1]}{{border-collapse:collapse;margin:0 0 8px 0;"
    "color:var(--jp-ui-font-color1, inherit)}"
    f"{_T[0]} td,{_T[0]} th,{_T[1]} td,{_T[1]} th{{padding:2px 8px;"
    f"border-bottom:1px solid {_BORDER};text-align:left;white-space:nowrap;"
    "vertical-align:top}</style>"
)
_CARD = (
    "display:inline-block;margin:0 6px 6px 0;padding:4px 10px;border-radius:6px;"
    f"border:1px solid {_BORDER};background:{{bg}}"
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
                    f"<span class='nbm-old' style='color:{OLD_COLOR}'>"
                    f"{esc(shown_value(before))}</span> → "
                    f"<span class='nbm-new' style='color:{NEW_COLOR}'>"
                    f"{esc(shown_value(after))}</span>"
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
        [f"<span style='color:{NEW_COLOR}'>+{esc(c)}</span>" for c in schema["added"]]
        + [f"<span style='color:{OLD_COLOR}'>−{esc(c)}</span>" for c in schema["removed"]]
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
        f"({esc(how)}; {counts['old_rows']:,} → {counts['new_rows']:,} "
        f"{counted(counts['new_rows'], 'row')}, {counts['unchanged']:,} unchanged, "
        f"{counts['cells_changed']:,} {counted(counts['cells_changed'], 'cell changed')})"
        f"</span></div>{schema_html(rowdiff.schema)}"
    )


Label = str | tuple[str, str]
"""A count's label: the singular phrase ('file modified', whose first word is the noun that
takes the plural), or (singular, plural) where that rule does not fit."""


def counted(count: int, label: Label) -> str:
    """The label that goes after `count`: 'file modified' (1), 'files modified' (2)."""
    if isinstance(label, tuple):
        return label[0] if count == 1 else label[1]
    noun, _, rest = label.partition(" ")
    if count != 1:
        noun += "es" if noun.endswith(("s", "x", "sh", "ch")) else "s"
    return f"{noun} {rest}".strip()


def cards_html(cards: list[tuple[Label, int, str | None]]) -> str:
    """Count cards: (singular label such as 'file modified', count, kind colouring the card or
    None), in correct English; cards counting nothing are left out ('' when all are)."""
    shown = [(label, n, kind) for label, n, kind in cards if n]
    if not shown:
        return ""
    return (
        "<div class='nbm-cards'>"
        + "".join(
            f"<span class='nbm-card' style='{_CARD.format(bg=BG.get(kind or '', 'none'))}'>"
            f"<b>{n:,}</b> {html.escape(counted(n, label))}</span> "
            for label, n, kind in shown
        )
        + "</div>"
    )


def more_rows_html(shown: int, total: int) -> str:
    """The static views' note under a first page of rows: how to page on from Python."""
    return (
        f"<div style='opacity:.7'>showing {shown:,} of {total:,} differing rows; "
        f"<code>.rows(offset={shown}, limit=50)</code> pages on</div>"
    )


def row_cards(counts: dict[str, int]) -> list[tuple[Label, int, str | None]]:
    """The cards of a row diff's counts: rows added, removed, changed."""
    return [(f"row {kind}", counts[kind], kind) for kind in _MARK]


def rowdiff_html(
    rowdiff: RowDiff, limit: int, more: MoreNote | None = more_rows_html, *, cards: bool = True
) -> str:
    """One RowDiff as a block: header, row counts (unless `cards` is False: the dataset's
    summary already shows them), its first `limit` records and, when that leaves rows out, the
    note `more` makes (none when `more` is None)."""
    records = rowdiff.rows(None, 0, limit)
    counts = rowdiff.counts
    cards_part = cards_html(row_cards(counts)) if cards else ""
    table = rows_html(rowdiff, records) if records else ""
    rest = rowdiff.count() > len(records)
    note = more(len(records), rowdiff.count()) if more is not None and rest else ""
    return f"<div class='nbm-rowdiff'>{header_html(rowdiff)}{cards_part}{table}{note}</div>"


# ---------------------------------------------------------------------------- a dataset diff
def single_file(diff: DataDiff) -> bool:
    """Whether both versions of the dataset are one file (not a folder)."""
    return not any(str(side.get("md5") or "").endswith(".dir") for side in (diff.a, diff.b))


def files_html(diff: DataDiff) -> str:
    """The files added, deleted, modified and renamed, one classed row each ('' when none, or
    when the dataset is a single file: its title already names it)."""
    esc = html.escape
    if single_file(diff):
        return ""
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
        f"<div style='opacity:.7'>… {len(rows) - MAX_FILES:,} more "
        f"{counted(len(rows) - MAX_FILES, 'file')}</div>"
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
    cards: list[tuple[Label, int, str | None]] = []
    if diff.tables:
        counts = {k: s[f"rows_{k}"] for k in _MARK}
        cards += [
            *row_cards(counts),
            (("schema change", "schema changes"), s["schema_changes"], None),
        ]
    if not (single_file(diff) and diff.tables):  # one table's rows say it all
        cards = [
            ("file added", s["files_added"], "added"),
            ("file deleted", s["files_deleted"], "removed"),
            ("file modified", s["files_modified"], "changed"),
            ("file renamed", s["files_renamed"], None),
            *cards,
        ]
    parts = [f"<h4>{esc(diff.title)}</h4>", cards_html(cards)]
    if diff.identical:
        parts.append("<p>identical</p>")
    parts.append(files_html(diff))
    notes = [f"row diff of {p or diff.path}: {err}" for p, err in diff.table_errors.items()]
    if diff.skipped_tables:
        n = len(diff.skipped_tables)
        notes.append(
            f"{n} more tabular {'file' if n == 1 else 'files'} not diffed row by row: "
            + ", ".join(diff.skipped_tables[:10])
        )
    parts += [f"<div class='nbm-note' style='opacity:.7'>{esc(n)}</div>" for n in notes]
    return "".join(parts)


def datadiff_html(diff: DataDiff, limit: int, more: MoreNote | None = more_rows_html) -> str:
    """A DataDiff as a block: its summary, then per tabular file its name and `rowdiff_html`."""
    esc = html.escape
    parts = ["<div class='nbm-datadiff'>", summary_html(diff)]
    alone = len(diff.tables) == 1  # its counts are the summary's: no second set of cards
    for path, rd in diff.tables.items():
        block = rowdiff_html(rd, limit, more, cards=not alone)
        title = f"<h5>{esc(path)}</h5>" if path else ""  # a single file: the title names it
        parts.append(f"{title}{block}")
    parts.append("</div>")
    return "".join(parts)
