"""TableWidget: a filterable, sortable, paged table of records with a row selection.

The building block of the runs comparison (and of later tabular views). Only the current page
is turned into HTML, so 1,000 rows × 30 columns build in milliseconds; filtering and sorting
work on the raw values of every row. Selection is the `selected` trait (a list of row ids, in
the order they were picked) and the rows passing the text filter are the `visible` trait (ids
in the current sort order); other widgets observe both. Every cell is escaped.

Layout: an HTML table cannot send clicks to Python, so the header is a row of buttons (click:
sort; again: reverse) and the page is one HTML widget; both are CSS grids with the same column
widths in pixels, so they line up without a widget per cell. Each row has a colour swatch fixed
by its position in the rows given (`run_color`), so a run keeps its colour whatever is selected
or sorted. Colours and borders come from JupyterLab's CSS variables, so dark themes work.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import traitlets
from ipywidgets.widgets.widget_bool import CheckboxStyle

from nb_mlops.notebook.widgets.chart import run_color
from nb_mlops.notebook.widgets.render import StaticFallback
from nb_mlops.text import fmt_value
from nb_mlops.tracking.views import STATIC_ROWS, more_runs_html, status_badge, table_css

ROW_HEIGHT = 26  # px; the selection checkboxes line up with the rows, so both use it
HEAD_HEIGHT = 30
SWATCH_WIDTH = 18  # px: the first grid column, a run's colour
MIN_WIDTH, MAX_WIDTH = 56, 280  # px of one column
CHAR_WIDTH = 7.4  # px per character at the table's 13 px font (widths are estimated from text)
HEAD_CHAR_WIDTH = 8.0  # the same, bold
FONT = "var(--jp-widgets-font-size, 13px)"
_BORDER = "var(--jp-border-color2, rgba(128,128,128,.3))"
_SELECTED_BG = "rgba(33,150,243,.2)"  # a tint, readable under light and dark themes' text
_HOVER_BG = "var(--jp-layout-color2, rgba(128,128,128,.08))"
_T = ".nbm-grid-table"
_STYLE = (
    "<style>"
    f"{_T}{{font-size:{FONT};color:var(--jp-ui-font-color1, inherit);"
    "font-variant-numeric:tabular-nums}"
    f"{_T} .nbm-row{{display:grid;height:{ROW_HEIGHT}px;box-sizing:border-box;"
    f"border-bottom:1px solid {_BORDER}}}"
    f"{_T} .nbm-row:hover{{background:{_HOVER_BG}}}"
    f"{_T} .nbm-row.nbm-selected{{background:{_SELECTED_BG}}}"
    f"{_T} .nbm-cell{{padding:0 8px;line-height:{ROW_HEIGHT - 1}px;white-space:nowrap;"
    "overflow:hidden;text-overflow:ellipsis;text-align:left;min-width:0}"
    f"{_T} .nbm-swatch{{display:flex;align-items:center;justify-content:center}}"
    f"{_T} .nbm-swatch span{{display:block;width:10px;height:10px;border-radius:2px}}"
    f"{_T} .nbm-empty{{padding:6px 8px;color:var(--jp-ui-font-color2, inherit)}}"
    f".nbm-table-widget .nbm-head-row{{box-shadow:inset 0 -2px 0 {_BORDER}}}"
    ".nbm-table-widget .nbm-head button,.nbm-table-widget button.nbm-head{"
    "background:transparent;box-shadow:none;border:none;"
    f"border-radius:0;text-align:left;font-weight:600;font-size:{FONT};padding:0 8px;"
    "height:100%;width:100%;color:var(--jp-ui-font-color1, inherit);overflow:hidden;"
    "text-overflow:ellipsis;justify-content:flex-start}"
    ".nbm-table-widget button.nbm-head:hover{"
    f"background:{_HOVER_BG}}}"
    ".nbm-table-widget button.nbm-head.nbm-sorted{color:var(--jp-brand-color1, inherit)}"
    "</style>"
)
_STATIC_STYLE = table_css("nbm-static-table", wrap=False)
ASCENDING, DESCENDING = "▲", "▼"


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers before text, so a column mixing both still sorts (bools count as numbers)."""
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, fmt_value(value).lower())


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def runs_order(columns: Sequence[str], *, id_column: str, status_column: str | None) -> list[str]:
    """The runs table's column order: id, name, status, then `metrics.*`, then `params.*`, then
    the rest, each group in the order given. A table without such columns keeps its order."""
    lead = [c for c in (id_column, "name", status_column) if c and c in columns]
    rest = [c for c in columns if c not in lead]
    metrics = [c for c in rest if c.startswith("metrics.")]
    params = [c for c in rest if c.startswith("params.")]
    other = [c for c in rest if c not in metrics and c not in params]
    return list(dict.fromkeys(lead)) + metrics + params + other


def column_width(header: str, texts: Sequence[str]) -> int:
    """A column's width in px from its header (bold, plus room for a sort arrow) and its cells'
    text; a longer cell is cut with an ellipsis (its tooltip has it whole)."""
    head = 16 + HEAD_CHAR_WIDTH * len(header) + 16
    cells = 16 + CHAR_WIDTH * max((len(t) for t in texts), default=0)
    return int(min(MAX_WIDTH, max(MIN_WIDTH, head, cells)))


class Setting(traitlets.HasTraits):
    """One observable value (`table.sort_by.value`, `table.ascending.value`), no widget."""

    value = traitlets.Any()

    def __init__(self, value: Any) -> None:
        super().__init__(value=value)


class ColumnPicker(widgets.VBox):
    """The column picker: a search box narrowing a list of checkboxes, one per column.

    `value` is the tuple of columns shown. Its controls and checkboxes are built the first time
    it is opened (`build()`), so a table that is never configured sends none of them to the
    browser; the checkboxes share one layout and one style.
    """

    value = traitlets.Tuple(help="columns shown, in table order")

    def __init__(self, options: Sequence[str], value: Sequence[str]) -> None:
        self.options = list(options)
        self.boxes: dict[str, widgets.Checkbox] = {}
        self._syncing = False
        super().__init__(_dom_classes=("nbm-column-picker",))
        self.value = tuple(c for c in self.options if c in set(value))

    def build(self) -> None:
        """Make the search box and the checkboxes (once) and show those matching the search."""
        if not self.children:
            self.search = widgets.Text(
                placeholder="search columns", continuous_update=True, layout={"width": "16em"}
            )
            self.count = widgets.Label()
            self.all_button = widgets.Button(description="show all", layout={"width": "auto"})
            self.none_button = widgets.Button(description="hide all", layout={"width": "auto"})
            self.list = widgets.VBox(
                layout={"max_height": "16em", "overflow": "hidden auto", "flex_flow": "column"}
            )
            layout = widgets.Layout(width="auto", margin="0", height="22px")
            style = CheckboxStyle()
            for name in self.options:
                box = widgets.Checkbox(description=name, indent=False, layout=layout, style=style)
                box.observe(self._on_box, "value")
                self.boxes[name] = box
            self._sync_boxes()
            self.search.observe(lambda _: self.narrow(), "value")
            self.all_button.on_click(lambda _: self._set_matching(True))
            self.none_button.on_click(lambda _: self._set_matching(False))
            self.children = [
                widgets.HBox([self.search, self.all_button, self.none_button, self.count]),
                self.list,
            ]
        self.narrow()

    def matching(self) -> list[str]:
        """Columns whose name contains the search text (case-insensitive)."""
        needle = self.search.value.strip().lower() if self.children else ""
        return [c for c in self.options if needle in c.lower()]

    def narrow(self) -> None:
        """Show only the checkboxes of the columns matching the search."""
        if not self.children:
            self.build()
            return
        shown = self.matching()
        self.list.children = [self.boxes[c] for c in shown]
        self.count.value = f"{len(self.value)} of {len(self.options)} shown"

    def _set_matching(self, on: bool) -> None:
        matching = set(self.matching())
        keep = {c for c in self.value if c not in matching}
        self.value = tuple(c for c in self.options if c in keep or (on and c in matching))

    def _on_box(self, change: Any) -> None:
        if self._syncing:
            return
        name = change["owner"].description
        chosen = set(self.value) - {name}
        if change["new"]:
            chosen.add(name)
        self.value = tuple(c for c in self.options if c in chosen)

    @traitlets.observe("value")
    def _on_value(self, _change: Any) -> None:
        self._sync_boxes()
        if self.children:
            self.count.value = f"{len(self.value)} of {len(self.options)} shown"

    def _sync_boxes(self) -> None:
        chosen = set(self.value)
        self._syncing = True
        try:
            for name, box in self.boxes.items():
                box.value = name in chosen
        finally:
            self._syncing = False


class TableWidget(StaticFallback, widgets.VBox):
    """Records as a filterable, sortable, paged table; checkboxes select rows by id.

    `columns` names the keys shown and `rows` holds one mapping per record; the `id_column`
    (default: the first column) identifies a row in `selected` and `visible`. `order` arranges
    the columns (default `runs_order`: id, name, status, metrics.*, params.*, the rest; pass
    `list` to keep the order given). With `selectable`, the id column is shown as the
    checkboxes' labels instead of a table column. `status_column` cells are coloured by run
    status (the word stays); `formats` maps a column to a function that turns its raw value into
    display text (sorting uses the raw value, filtering that text). Clicking a column's header
    sorts by it; clicking it again reverses.
    """

    selected = traitlets.List(traitlets.Unicode(), help="ids of the selected rows, in pick order")
    visible = traitlets.List(
        traitlets.Unicode(), help="ids of the rows passing the filter (all pages), in sort order"
    )
    page = traitlets.Int(0, help="0-based index of the page shown")

    def __init__(
        self,
        columns: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        *,
        page_size: int = 25,
        selectable: bool = True,
        status_column: str | None = None,
        id_column: str | None = None,
        formats: Mapping[str, Callable[[Any], str]] | None = None,
        shown_columns: Sequence[str] | None = None,
        selected: Sequence[str] = (),
        css_class: str = "nbm-runs-table",
        order: Callable[[list[str]], list[str]] | None = None,
        swatches: bool = True,
        more_html: Callable[[int], str] = more_runs_html,
        **kwargs: Any,
    ) -> None:
        if not columns:
            raise ValueError("a table needs at least one column")
        given = list(dict.fromkeys(columns))
        self.id_column = id_column or given[0]
        if order is None:
            self.columns = runs_order(given, id_column=self.id_column, status_column=status_column)
        else:
            self.columns = list(order(given))
        if sorted(self.columns) != sorted(given):
            raise ValueError("a table's column order must hold each column once")
        self.page_size = max(1, int(page_size))
        self.selectable = selectable
        self.status_column = status_column
        self.formats = dict(formats or {})
        self.css_class = css_class
        self.swatches = swatches
        self.more_html = more_html
        self._rows: list[Mapping[str, Any]] = []
        self._ids: list[str] = []
        self._texts: list[str] | None = None
        self._view: list[int] = []
        self._syncing = False
        self._quiet = False
        self.sort_by = Setting("")
        self.ascending = Setting(True)

        pickable = [c for c in self.columns if not (selectable and c == self.id_column)]
        self.filter = widgets.Text(
            placeholder="filter: text in any cell", continuous_update=True, description="filter"
        )
        self.column_picker = ColumnPicker(pickable, shown_columns or pickable)
        self.columns_button = widgets.ToggleButton(
            description="columns", icon="columns", tooltip="choose the columns shown"
        )
        self._picker_slot = widgets.Box()
        self._build_grid()
        self._build_selection()
        self._build_pager()
        self.filter.observe(self._refilter, "value")
        self.sort_by.observe(self._refilter, "value")
        self.ascending.observe(self._refilter, "value")
        self.column_picker.observe(lambda _: self._render(), "value")
        self.columns_button.observe(self._on_picker, "value")

        body = [self._check_box, self._scroller] if selectable else [self._scroller]
        pager = [self.prev_button, self.page_label, self.next_button]
        if selectable:
            pager.append(self.clear_button)
        controls = widgets.HBox(
            [self.filter, self.columns_button], layout=widgets.Layout(flex_flow="row wrap")
        )
        super().__init__(
            [
                controls,
                self._picker_slot,
                widgets.HBox(body, layout=widgets.Layout(align_items="flex-start")),
                widgets.HBox(pager),
            ],
            _dom_classes=("nbm-table-widget", *kwargs.pop("_dom_classes", ())),
            **kwargs,
        )
        self.set_rows(rows, selected=selected)

    def _build_grid(self) -> None:
        """The header row of buttons and the page's HTML, scrolling sideways together."""
        self.html = widgets.HTML(layout=widgets.Layout(margin="0", overflow="visible"))
        self._head_layout = widgets.Layout(height=f"{HEAD_HEIGHT}px", margin="0", width="auto")
        self._head_style = widgets.ButtonStyle()
        self._heads: dict[str, widgets.Button] = {}
        self.header = widgets.GridBox(
            layout=widgets.Layout(margin="0", grid_gap="0"), _dom_classes=("nbm-head-row",)
        )
        self._scroller = widgets.VBox(
            [self.header, self.html],
            layout=widgets.Layout(overflow="auto hidden", flex="1 1 auto", min_width="0"),
        )

    def _build_selection(self) -> None:
        """The column of selection checkboxes (made per page row as needed) and its header."""
        self._checks: list[widgets.Checkbox] = []
        self._check_layout = widgets.Layout(height=f"{ROW_HEIGHT}px", margin="0", width="auto")
        self._check_style = CheckboxStyle()
        self._check_head = widgets.HTML(
            f"<div style='height:{HEAD_HEIGHT}px;box-sizing:border-box;padding:0 8px;"
            f"line-height:{HEAD_HEIGHT - 2}px;font-weight:600;font-size:{FONT};"
            f"box-shadow:inset 0 -2px 0 {_BORDER};white-space:nowrap'>"
            f"{html.escape(self.id_column)}</div>",
            layout=widgets.Layout(height=f"{HEAD_HEIGHT}px", margin="0"),
        )
        self._check_box = widgets.VBox(
            layout=widgets.Layout(flex="0 0 auto", overflow="hidden", min_width="9em")
        )

    def _build_pager(self) -> None:
        self.prev_button = widgets.Button(description="◀ prev", layout=widgets.Layout(width="80px"))
        self.next_button = widgets.Button(description="next ▶", layout=widgets.Layout(width="80px"))
        self.page_label = widgets.Label()
        self.clear_button = widgets.Button(
            description="clear selection", layout=widgets.Layout(width="auto")
        )
        self.prev_button.on_click(lambda _: self.go_to(self.page - 1))
        self.next_button.on_click(lambda _: self.go_to(self.page + 1))
        self.clear_button.on_click(lambda _: setattr(self, "selected", []))

    # ------------------------------------------------------------------ public
    def set_rows(self, rows: Sequence[Mapping[str, Any]], *, selected: Sequence[str] = ()) -> None:
        """Replace the records (a dashboard refresh); selection keeps the ids still present."""
        self._rows = list(rows)
        self._ids = [str(r.get(self.id_column, i)) for i, r in enumerate(self._rows)]
        self._texts = None
        known = set(self._ids)
        keep = list(selected) if selected else list(self.selected)
        self._refilter()
        self.selected = [i for i in dict.fromkeys(keep) if i in known]

    @property
    def rows(self) -> list[Mapping[str, Any]]:
        return list(self._rows)

    @property
    def visible_ids(self) -> list[str]:
        """Ids of the rows that pass the filter, in the current sort order (= `visible`)."""
        return list(self.visible)

    @property
    def page_ids(self) -> list[str]:
        """Ids of the rows on the current page."""
        start = self.page * self.page_size
        return [self._ids[i] for i in self._view[start : start + self.page_size]]

    @property
    def page_count(self) -> int:
        return max(1, math.ceil(len(self._view) / self.page_size))

    @property
    def shown_columns(self) -> list[str]:
        """Columns the picker shows, in table order (the id column first when not selectable)."""
        picked = set(self.column_picker.value)
        return [c for c in self.columns if c in picked]

    @property
    def table_columns(self) -> list[str]:
        """The columns of the grid, left to right (the id column included when not selectable)."""
        columns = self.shown_columns
        if not self.selectable and self.id_column not in columns:
            columns = [self.id_column, *columns]
        return columns

    def go_to(self, page: int) -> None:
        """Show page `page` (clamped to the pages there are)."""
        self.page = min(max(0, page), self.page_count - 1)

    def select(self, ids: Sequence[str]) -> None:
        """Select exactly these ids (unknown ones are ignored)."""
        known = set(self._ids)
        self.selected = [i for i in dict.fromkeys(ids) if i in known]

    def sort(self, column: str) -> None:
        """What a click on `column`'s header does: sort by it ascending, or reverse if sorted."""
        if column not in self.columns:
            raise ValueError(f"no column {column!r} in this table")
        if self.sort_by.value == column:
            self.ascending.value = not self.ascending.value
            return
        self._quiet = True  # one re-sort for both settings
        try:
            self.ascending.value = True
        finally:
            self._quiet = False
        self.sort_by.value = column

    def color(self, row_id: str) -> str:
        """A row's colour: fixed by its position in the rows given (never selection or sort)."""
        return run_color(self._ids.index(row_id))

    def cell_text(self, column: str, value: Any) -> str:
        """A cell's display text (not escaped)."""
        fmt = self.formats.get(column)
        return fmt(value) if fmt is not None else fmt_value(value)

    # ---------------------------------------------------------------- internal
    def _row_text(self) -> list[str]:
        """Lower-cased text of each row's cells, joined: built on the first filter only."""
        if self._texts is None:
            self._texts = [
                "\x1f".join(self.cell_text(c, r.get(c)) for c in self.columns).lower()
                for r in self._rows
            ]
        return self._texts

    def _refilter(self, _change: Any = None) -> None:
        if self._quiet:
            return
        needle = self.filter.value.strip().lower()
        view = list(range(len(self._rows)))
        if needle:
            texts = self._row_text()
            view = [i for i in view if needle in texts[i]]
        column = self.sort_by.value
        if column:
            view = self._sorted(view, column, reverse=not self.ascending.value)
        self._view = view
        self.visible = [self._ids[i] for i in view]
        if self.page != 0:
            self.page = 0  # the observer renders
        else:
            self._render()

    def _sorted(self, view: list[int], column: str, *, reverse: bool) -> list[int]:
        """`view` sorted by `column`'s raw values; missing values last in either direction."""
        rows = self._rows
        present = [i for i in view if not _is_missing(rows[i].get(column))]
        missing = [i for i in view if _is_missing(rows[i].get(column))]
        try:
            present.sort(key=lambda i: _sort_key(rows[i].get(column)), reverse=reverse)
        except TypeError:  # unorderable values (lists vs dicts): order by their text
            present.sort(key=lambda i: self.cell_text(column, rows[i].get(column)), reverse=reverse)
        return present + missing

    def _on_picker(self, change: Any) -> None:
        """The columns button opens (building it the first time) and closes the picker."""
        if change["new"]:
            self.column_picker.build()
        self._picker_slot.children = [self.column_picker] if change["new"] else []

    @traitlets.observe("page")
    def _on_page(self, _change: Any) -> None:
        self._render()

    @traitlets.observe("selected")
    def _on_selected(self, _change: Any) -> None:
        self._render()

    def _render(self) -> None:
        if not hasattr(self, "html"):
            return  # traits set during construction
        start = self.page * self.page_size
        page = self._view[start : start + self.page_size]
        columns = self.table_columns
        texts = {c: [self.cell_text(c, self._rows[i].get(c)) for i in page] for c in columns}
        widths = [column_width(c, texts[c]) for c in columns]
        self._render_header(columns, widths)
        self.html.value = self._grid_html(page, columns, widths, texts)
        total, count = len(self._rows), len(self._view)
        shown = f"rows {start + 1:,}–{start + len(page):,} of {count:,}" if count else "no rows"
        if count != total:
            shown += f" (filtered from {total:,})"
        if self.selectable:
            shown += f" · {len(self.selected)} selected"
        self.page_label.value = shown
        self.prev_button.disabled = self.page <= 0
        self.next_button.disabled = self.page >= self.page_count - 1
        if self.selectable:
            self._sync_checks([self._ids[i] for i in page])

    def _template(self, widths: Sequence[int]) -> str:
        lead = [f"{SWATCH_WIDTH}px"] if self.swatches else []
        return " ".join(lead + [f"{w}px" for w in widths])

    def _render_header(self, columns: list[str], widths: list[int]) -> None:
        """One button per shown column, as wide as its column; the sorted one has an arrow."""
        for c in columns:
            look = self._head_look(c)
            button = self._heads.get(c)
            if button is None:  # born with its final look: no update message after it opens
                button = widgets.Button(layout=self._head_layout, style=self._head_style, **look)
                button.on_click(lambda _b, c=c: self.sort(c))
                self._heads[c] = button
            else:
                button.set_state({k: v for k, v in look.items() if getattr(button, k) != v})
        self.header.children = [self._heads[c] for c in columns]
        pad = f"{SWATCH_WIDTH}px" if self.swatches else "0"
        self.header.layout.grid_template_columns = " ".join(f"{w}px" for w in widths)
        self.header.layout.padding = f"0 0 0 {pad}"
        self.header.layout.width = f"{sum(widths) + (SWATCH_WIDTH if self.swatches else 0)}px"

    def _head_look(self, column: str) -> dict[str, Any]:
        """A header button's description, tooltip and classes (an arrow on the sorted one)."""
        if self.sort_by.value != column:
            return {
                "description": column,
                "tooltip": f"sort by {column}",
                "_dom_classes": ("nbm-head",),
            }
        way = "ascending" if self.ascending.value else "descending"
        arrow = ASCENDING if self.ascending.value else DESCENDING
        return {
            "description": f"{column} {arrow}",
            "tooltip": f"sorted by {column}, {way}: click to reverse",
            "_dom_classes": ("nbm-head", "nbm-sorted"),
        }

    def _grid_html(
        self,
        indices: Sequence[int],
        columns: list[str],
        widths: list[int],
        texts: Mapping[str, list[str]],
    ) -> str:
        """The page's rows as a CSS grid with the header's column widths (escaped cells)."""
        esc = html.escape
        template = self._template(widths)
        width = sum(widths) + (SWATCH_WIDTH if self.swatches else 0)
        chosen = set(self.selected)
        body = []
        for n, i in enumerate(indices):
            row_id = self._ids[i]
            mark = row_id in chosen
            cells = []
            if self.swatches:
                cells.append(
                    f"<div class='nbm-cell nbm-swatch' style='padding:0'>"
                    f"<span style='background:{run_color(i)}'></span></div>"
                )
            for c in columns:
                text = texts[c][n]
                inner = status_badge(text) if c == self.status_column and text else esc(text)
                tip = f" title='{esc(text)}'" if len(text) > 20 else ""  # cut by the ellipsis
                cells.append(f"<div class='nbm-cell' role='cell'{tip}>{inner}</div>")
            klass = "nbm-row nbm-selected" if mark else "nbm-row"
            body.append(
                f"<div class='{klass}' role='row' data-id='{esc(row_id)}' "
                f"style='grid-template-columns:{template}'>{''.join(cells)}</div>"
            )
        if not body:
            body.append("<div class='nbm-empty'>no rows</div>")
        return (
            f"{_STYLE}<div class='nbm-table nbm-grid-table {esc(self.css_class)}' role='table' "
            f"style='width:{width}px'>{''.join(body)}</div>"
        )

    def _sync_checks(self, ids: list[str]) -> None:
        """One checkbox per row of the page, labelled with the row's id, in the table's order."""
        chosen = set(self.selected)
        while len(self._checks) < len(ids):
            row_id = ids[len(self._checks)]
            box = widgets.Checkbox(
                value=row_id in chosen,
                description=row_id,
                indent=False,
                layout=self._check_layout,
                style=self._check_style,
                _dom_classes=("nbm-select",),
            )
            box.observe(self._on_check, "value")
            self._checks.append(box)
        self._syncing = True
        try:
            for box, row_id in zip(self._checks, ids, strict=False):
                box.description = row_id
                box.value = row_id in chosen
        finally:
            self._syncing = False
        self._check_box.children = [self._check_head, *self._checks[: len(ids)]]

    def _on_check(self, change: Any) -> None:
        if self._syncing:
            return
        row_id = change["owner"].description
        current = [i for i in self.selected if i != row_id]
        if change["new"]:
            current.append(row_id)
        self.selected = current

    def _fallback_html(self) -> str:
        """The first STATIC_ROWS rows in view order as a plain table, then how many are left."""
        if self.fallback is not None:
            return super()._fallback_html()
        esc = html.escape
        columns = [self.id_column] + [c for c in self.shown_columns if c != self.id_column]
        head = "".join(f"<th>{esc(c)}</th>" for c in columns)
        chosen = set(self.selected)
        body = []
        for i in self._view[:STATIC_ROWS]:
            cells = []
            for c in columns:
                text = self.cell_text(c, self._rows[i].get(c))
                cells.append(
                    f"<td>{status_badge(text) if c == self.status_column else esc(text)}</td>"
                )
            if self.selectable:
                cells.insert(0, f"<td>{'✓' if self._ids[i] in chosen else ''}</td>")
            body.append(f"<tr>{''.join(cells)}</tr>")
        if self.selectable:
            head = "<th><span title='selected'>✓</span></th>" + head
        more = len(self._view) - STATIC_ROWS
        return (
            f"{_STATIC_STYLE}<table class='nbm-table nbm-static-table {esc(self.css_class)}'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            + (self.more_html(more) if more > 0 else "")
        )

    def _fallback_text(self) -> str:
        if self.fallback is not None:
            return super()._fallback_text()
        return f"<table of {len(self._rows):,} rows × {len(self.columns)} columns>"
