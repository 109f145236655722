"""DataDiffWidget: a data-version diff as summary cards, the file list and paged row tables.

`RowDiffWidget` is the reusable part: one RowDiff paged through `RowDiff.rows(kind, offset,
limit)`, so only the page shown becomes Python objects and HTML, however large the diff. Rows
carry the classes the browser tests and the stylesheet rely on: `nbm-row-added` (green),
`nbm-row-removed` (red), `nbm-row-changed` (changed cells show "old → new"). Every file name,
column name and cell value is escaped.
"""

from __future__ import annotations

import html
import math
from typing import Any

import ipywidgets as widgets
import traitlets

from nb_mlops.data.rowdiff import shown_value
from nb_mlops.notebook.widgets.render import StaticFallback

_MAX_CHARS = 80
_MAX_FILES = 200
_BG = {
    "added": "rgba(40,167,69,.16)",
    "removed": "rgba(220,53,69,.16)",
    "changed": "rgba(255,193,7,.10)",
    "cell": "rgba(255,193,7,.30)",
}
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


def rows_html(rowdiff: Any, records: list[dict[str, Any]]) -> str:
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
                    f"<td class='nbm-cell-changed' style='background:{_BG['cell']}'>"
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
            f"<tr class='nbm-row-{kind}' style='background:{_BG[kind]}'>{''.join(cells)}</tr>"
        )
    return (
        f"{_STYLE}<table class='nbm-table nbm-rowdiff-table'>"
        f"<thead><tr>{''.join(heads)}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _schema_html(schema: dict[str, list[Any]]) -> str:
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


class RowDiffWidget(StaticFallback, widgets.VBox):
    """One RowDiff: counts, schema changes and a paged, colored table of its rows.

    `kind` (None for every kind, in the diff's order, or added / removed / changed) and `page`
    are traits; each change asks the RowDiff for that page only.
    """

    kind = traitlets.Unicode(None, allow_none=True, help="None (all), added, removed or changed")
    page = traitlets.Int(0)

    def __init__(self, rowdiff: Any, *, page_size: int = 25, **kwargs: Any) -> None:
        self.rowdiff = rowdiff
        self.fallback = rowdiff
        self.page_size = max(1, int(page_size))
        counts = rowdiff.counts
        how = f"key: {', '.join(rowdiff.key)}" if rowdiff.key else "no key: rows matched by content"
        self.header = widgets.HTML(
            f"<div><b>{html.escape(rowdiff.old_label)}</b> → "
            f"<b>{html.escape(rowdiff.new_label)}</b> <span style='opacity:.7'>"
            f"({html.escape(how)}; {counts['old_rows']:,} → {counts['new_rows']:,} rows, "
            f"{counts['unchanged']:,} unchanged, {counts['cells_changed']:,} cells changed)"
            f"</span></div>{_schema_html(rowdiff.schema)}"
        )
        options = [(f"all ({rowdiff.count():,})", "")] + [
            (f"{k} ({counts[k]:,})", k) for k in ("added", "removed", "changed")
        ]
        self.kind_picker = widgets.ToggleButtons(options=options, value="")
        self.table = widgets.HTML(layout=widgets.Layout(overflow="auto"))
        self.prev_button = widgets.Button(description="◀ prev", layout=widgets.Layout(width="80px"))
        self.next_button = widgets.Button(description="next ▶", layout=widgets.Layout(width="80px"))
        self.page_label = widgets.Label()
        self.kind_picker.observe(self._on_kind, "value")
        self.prev_button.on_click(lambda _: self.go_to(self.page - 1))
        self.next_button.on_click(lambda _: self.go_to(self.page + 1))
        super().__init__(
            [
                self.header,
                self.kind_picker,
                self.table,
                widgets.HBox([self.prev_button, self.page_label, self.next_button]),
            ],
            **kwargs,
        )
        self.add_class("nbm-rowdiff")
        self._render()

    @property
    def total(self) -> int:
        """Records of the current kind."""
        return self.rowdiff.count(self.kind)

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    def go_to(self, page: int) -> None:
        self.page = min(max(0, page), self.page_count - 1)

    def records(self) -> list[dict[str, Any]]:
        """The records on the current page."""
        return self.rowdiff.rows(self.kind, self.page * self.page_size, self.page_size)

    def _fallback_html(self) -> str:
        records = self.rowdiff.rows(None, 0, self.page_size)
        table = rows_html(self.rowdiff, records) if records else ""
        return f"<div class='nbm-rowdiff'>{self.header.value}{table}</div>"

    def _on_kind(self, change: Any) -> None:
        self.kind = change["new"] or None

    @traitlets.observe("kind")
    def _kind_changed(self, _change: Any) -> None:
        if self.page:
            self.page = 0
        else:
            self._render()

    @traitlets.observe("page")
    def _page_changed(self, _change: Any) -> None:
        self._render()

    def _render(self) -> None:
        if not hasattr(self, "table"):
            return
        records = self.records()
        self.table.value = rows_html(self.rowdiff, records) if records else "<i>no rows</i>"
        start = self.page * self.page_size
        total = self.total
        self.page_label.value = (
            f"rows {start + 1:,}–{start + len(records):,} of {total:,}" if records else "no rows"
        )
        self.prev_button.disabled = self.page <= 0
        self.next_button.disabled = self.page >= self.page_count - 1


class DataDiffWidget(StaticFallback, widgets.VBox):
    """A DataDiff: summary cards, the changed files, and a RowDiffWidget per tabular file."""

    def __init__(self, datadiff: Any, *, page_size: int = 25, **kwargs: Any) -> None:
        self.datadiff = datadiff
        self.fallback = datadiff
        esc = html.escape
        d = datadiff
        parts = [f"<h4>{esc(d.path)}: {esc(d.a['label'])} → {esc(d.b['label'])}</h4>"]
        parts.append(self._cards_html())
        if d.identical:
            parts.append("<p>identical</p>")
        parts.append(self._files_html())
        notes = [f"row diff of {p or d.path}: {err}" for p, err in d.table_errors.items()]
        if d.skipped_tables:
            notes.append(
                f"{len(d.skipped_tables)} more tabular file(s) not diffed row by row: "
                + ", ".join(d.skipped_tables[:10])
            )
        parts += [f"<div class='nbm-note' style='opacity:.7'>{esc(n)}</div>" for n in notes]
        self.summary = widgets.HTML("".join(parts))
        self.tables = {
            p: RowDiffWidget(rd, page_size=page_size) for p, rd in datadiff.tables.items()
        }
        children: list[widgets.Widget] = [self.summary]
        if len(self.tables) == 1:
            ((p, view),) = self.tables.items()
            children += [widgets.HTML(f"<h5>{esc(p or d.path)}</h5>"), view]
        elif self.tables:
            tabs = widgets.Tab(children=list(self.tables.values()))
            for i, p in enumerate(self.tables):
                tabs.set_title(i, p or d.path)  # a tab title is text, not HTML
            children.append(tabs)
        super().__init__(children, **kwargs)
        self.add_class("nbm-datadiff")

    def _fallback_html(self) -> str:
        """The DataDiff's view with rows classed like the widget's: the summary, then per
        tabular file its header and first page of rows (nbm-row-added/removed/changed)."""
        esc = html.escape
        parts = ["<div class='nbm-datadiff'>", self.summary.value]
        for path, view in self.tables.items():
            rd = view.rowdiff
            records = rd.rows(None, 0, view.page_size)
            parts.append(f"<h5>{esc(path or self.datadiff.path)}</h5>{view.header.value}")
            if records:
                parts.append(rows_html(rd, records))
            if rd.count() > len(records):
                parts.append(
                    f"<div style='opacity:.7'>first {len(records):,} of {rd.count():,} "
                    "differing rows (the widget pages through all of them)</div>"
                )
        parts.append("</div>")
        return "".join(parts)

    def _cards_html(self) -> str:
        s = self.datadiff.summary()
        cards = [
            ("files added", s["files_added"], "added"),
            ("files deleted", s["files_deleted"], "removed"),
            ("files modified", s["files_modified"], "changed"),
            ("files renamed", s["files_renamed"], None),
        ]
        if self.datadiff.tables:
            cards += [
                ("rows added", s["rows_added"], "added"),
                ("rows removed", s["rows_removed"], "removed"),
                ("rows changed", s["rows_changed"], "changed"),
                ("schema changes", s["schema_changes"], None),
            ]
        return (
            "<div class='nbm-cards'>"
            + "".join(
                f"<span class='nbm-card' style='{_CARD.format(bg=_BG.get(kind or '', 'none'))}'>"
                f"<b>{n:,}</b> {html.escape(label)}</span>"
                for label, n, kind in cards
            )
            + "</div>"
        )

    def _files_html(self) -> str:
        esc = html.escape
        d = self.datadiff
        rows = [(k, p or d.path) for k in ("added", "deleted", "modified") for p in getattr(d, k)]
        rows += [("renamed", f"{r['old']} → {r['new']}") for r in d.renamed]
        if not rows:
            return ""
        kinds = {"added": "added", "deleted": "removed", "modified": "changed"}
        body = "".join(
            f"<tr class='nbm-file-{esc(k)}' style='background:{_BG.get(kinds.get(k, ''), 'none')}'>"
            f"<td>{esc(k)}</td><td>{esc(p)}</td></tr>"
            for k, p in rows[:_MAX_FILES]
        )
        more = (
            f"<div style='opacity:.7'>… {len(rows) - _MAX_FILES:,} more files</div>"
            if len(rows) > _MAX_FILES
            else ""
        )
        return (
            f"{_STYLE}<table class='nbm-table nbm-files'>"
            f"<thead><tr><th>change</th><th>file</th></tr></thead>"
            f"<tbody>{body}</tbody></table>{more}"
        )
