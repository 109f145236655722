"""DataDiffWidget: a data-version diff as summary cards, the file list and paged row tables.

`RowDiffWidget` is the reusable part: one RowDiff paged through `RowDiff.rows(kind, offset,
limit)`, so only the page shown becomes Python objects and HTML, however large the diff. The
HTML itself (row tables classed `nbm-row-added/removed/changed`, cards, file list) is the one
data/diffhtml.py builds for the static views too.
"""

from __future__ import annotations

import html
import math
from typing import Any

import ipywidgets as widgets
import traitlets

from nb_mlops.data.diffhtml import datadiff_html, header_html, rowdiff_html, rows_html, summary_html
from nb_mlops.notebook.widgets.render import StaticFallback


def _paged_note(shown: int, total: int) -> str:
    return (
        f"<div style='opacity:.7'>first {shown:,} of {total:,} "
        "differing rows (the widget pages through all of them)</div>"
    )


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
        self.header = widgets.HTML(header_html(rowdiff))
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
        return rowdiff_html(self.rowdiff, self.page_size, _paged_note)

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
        self.page_size = max(1, int(page_size))
        self.summary = widgets.HTML(summary_html(datadiff))
        self.tables = {
            p: RowDiffWidget(rd, page_size=page_size) for p, rd in datadiff.tables.items()
        }
        children: list[widgets.Widget] = [self.summary]
        if len(self.tables) == 1:
            ((p, view),) = self.tables.items()
            if p:  # a file in a folder; a single-file dataset is named by the summary's title
                children.append(widgets.HTML(f"<h5>{esc(p)}</h5>"))
            children.append(view)
        elif self.tables:
            tabs = widgets.Tab(children=list(self.tables.values()))
            for i, p in enumerate(self.tables):
                tabs.set_title(i, p or d.path)  # a tab title is text, not HTML
            children.append(tabs)
        super().__init__(children, **kwargs)
        self.add_class("nbm-datadiff")

    def _fallback_html(self) -> str:
        """The DataDiff's static view with as many rows per table as a page of the widget."""
        return datadiff_html(self.datadiff, self.page_size, _paged_note)
