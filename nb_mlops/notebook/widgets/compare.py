"""RunComparisonWidget: runs side by side (`%track runs`, `%track compare`, `nm.compare`).

A TableWidget of the runs (name, status and metrics first, then params) drives everything below
it: selecting runs redraws the metric curves (CurvesWidget: a small chart per metric), the
parallel coordinates of params against a chosen metric, the params and metrics that differ among
the selected runs, the data versions each one read, and their figures side by side. The table's
text filter narrows the charts too: curves and parallel coordinates show only the runs whose
rows pass it (the table's `visible` trait). Charts are plain JSON specs in `Chart` outputs; no
plotly import. The static fallback is the Comparison's own HTML (escaped tables, SVG charts).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from nb_mlops.clock import local_time
from nb_mlops.notebook.widgets.chart import Chart, Content, note, numbers
from nb_mlops.notebook.widgets.curves import CurvesWidget
from nb_mlops.notebook.widgets.render import StaticFallback
from nb_mlops.notebook.widgets.table import TableWidget
from nb_mlops.text import fmt_value, human_duration

BASE_COLUMNS = ["run_id", "name", "status", "experiment", "start", "duration"]
MAX_FIGURE_RUNS = 6  # figures are drawn for at most this many selected runs
MAX_CATEGORIES = 30  # a text param with more distinct values is left out of the parcoords
MIN_PARCOORDS_RUNS = 3  # parallel coordinates need this many runs that differ
_DIFF = "rgba(255,193,7,.25)"
_HEADING = "<h4 style='margin:8px 0 4px'>{}</h4>"
_STYLE = (
    "<style>.nbm-kv{border-collapse:collapse;font-size:0.9em}"
    ".nbm-kv td,.nbm-kv th{padding:2px 8px;border-bottom:1px solid rgba(128,128,128,.25);"
    "text-align:left;white-space:nowrap;max-width:22em;overflow:hidden;"
    "text-overflow:ellipsis}</style>"
)


def run_rows(comparison: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The comparison's runs as table columns and rows (the table orders the columns)."""
    params = [f"params.{k}" for k in comparison.params()]
    metrics = [f"metrics.{k}" for k in comparison.metrics()]
    rows = []
    for d in comparison.runs:
        row = {c: d.get(c) for c in BASE_COLUMNS}
        for k, v in (d.get("params") or {}).items():
            row[f"params.{k}"] = v
        for k, v in (d.get("metrics") or {}).items():
            row[f"metrics.{k}"] = v
        rows.append(row)
    return BASE_COLUMNS + params + metrics, rows


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def parcoords_dimensions(
    comparison: Any, run_ids: Sequence[str], metric: str | None
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Parallel-coordinates axes (params, then the metric) and the metric value of each line.

    A param becomes an axis when at least half of the runs (that have the metric) have it and
    its values are numbers, or text/bools with at most MAX_CATEGORIES distinct values (shown as
    ticks); params with one value for every run are left out. Runs missing a value on an axis
    are left out, since a line needs every axis. Values are JSON-ready lists.
    """
    if not metric:
        return [], []
    docs = [comparison.doc(r) for r in run_ids]
    docs = [d for d in docs if _is_number((d.get("metrics") or {}).get(metric))]
    docs = [d for d in docs if not math.isnan((d.get("metrics") or {})[metric])]
    if not docs:
        return [], []
    axes: list[tuple[str, str]] = []  # (param, "num" | "cat")
    for key in comparison.params():
        values = [(d.get("params") or {}).get(key) for d in docs]
        present = [v for v in values if v is not None]
        if len(present) * 2 < len(docs) or len({fmt_value(v) for v in present}) < 2:
            continue
        if all(_is_number(v) for v in present):
            axes.append((key, "num"))
        elif all(isinstance(v, (str, bool)) for v in present):
            if len({fmt_value(v) for v in present}) <= MAX_CATEGORIES:
                axes.append((key, "cat"))
    docs = [d for d in docs if all((d.get("params") or {}).get(k) is not None for k, _ in axes)]
    dims = []
    for key, kind in axes:
        values = [(d.get("params") or {})[key] for d in docs]
        label = html.escape(f"params.{key}")  # plotly.js reads labels as HTML
        if kind == "num":
            dims.append({"label": label, "values": numbers([float(v) for v in values])})
        else:
            cats = sorted({fmt_value(v) for v in values})
            code = {c: i for i, c in enumerate(cats)}
            dims.append(
                {
                    "label": label,
                    "values": [code[fmt_value(v)] for v in values],
                    "tickvals": list(range(len(cats))),
                    "ticktext": [html.escape(c) for c in cats],
                }
            )
    scores = numbers([float((d.get("metrics") or {})[metric]) for d in docs])
    dims.append({"label": html.escape(f"metrics.{metric}"), "values": scores})
    return dims, scores


def distinct_lines(dims: Sequence[dict[str, Any]]) -> int:
    """How many lines of the parallel coordinates differ in at least one value."""
    columns = [d["values"] for d in dims]
    return len(set(zip(*columns, strict=True))) if columns else 0


def parcoords_spec(dims: list[dict[str, Any]], scores: list[Any], metric: str) -> dict[str, Any]:
    """The plotly spec of parallel coordinates, lines coloured by the metric."""
    line = {
        "color": scores,
        "colorscale": "Viridis",
        "showscale": True,
        "colorbar": {"title": {"text": html.escape(metric)}},
    }
    return {
        "data": [{"type": "parcoords", "dimensions": dims, "line": line}],
        "layout": {"height": 380, "margin": {"l": 70, "r": 40, "t": 50, "b": 30}},
    }


class RunComparisonWidget(StaticFallback, widgets.VBox):
    """Runs table + curves + parallel coordinates + what differs + data versions + figures."""

    def __init__(
        self,
        comparison: Any,
        *,
        title: str | None = None,
        page_size: int = 25,
        **kwargs: Any,
    ) -> None:
        self.comparison = comparison
        self.fallback = comparison
        columns, rows = run_rows(comparison)
        self.table = TableWidget(
            columns,
            rows,
            page_size=page_size,
            status_column="status",
            id_column="run_id",
            formats={"start": local_time, "duration": human_duration},
            selected=comparison.selected,
        )
        self.curves = CurvesWidget(comparison, self._curve_ids())
        metrics = list(comparison.metrics())
        shown = self.curves.panel_metrics()
        self.parcoords_metric = widgets.Dropdown(
            options=metrics,
            value=shown[0] if shown else (metrics[0] if metrics else None),
            description="color by",
        )
        self.parcoords_scope = widgets.ToggleButtons(
            options=[("all runs", "all"), ("selected runs", "selected")], value="all"
        )
        # Every view is built with its first content (and classes): it travels in the widget's
        # opening message, with no update message after it. The two tables carry their own
        # headings: fewer widgets to open in the browser.
        self.parcoords = Chart("nbm-parcoords", content=self._parcoords_content())
        self.differs = widgets.HTML(
            self._differs_value(), layout=widgets.Layout(overflow="auto", margin="0 24px 0 0")
        )
        self.data_versions = widgets.HTML(
            self._data_value(), layout=widgets.Layout(overflow="auto")
        )
        self._figure_cache: dict[tuple[str, str], widgets.Widget] = {}
        self.figures = widgets.VBox(self._figure_rows())

        count = len(comparison.runs)
        heading = title or f"{count:,} run{'s' if count != 1 else ''}" + (
            f" matching {comparison.filter}" if comparison.filter else ""
        )

        def h(text: str) -> widgets.HTML:
            return widgets.HTML(_HEADING.format(html.escape(text)))

        self.table.observe(self._on_selected, "selected")
        self.table.observe(self._on_visible, "visible")
        self.parcoords_metric.observe(lambda _: self.draw_parcoords(), "value")
        self.parcoords_scope.observe(lambda _: self.draw_parcoords(), "value")
        super().__init__(
            [
                widgets.HTML(f"<b>{html.escape(heading)}</b>"),
                self.table,
                h("Curves"),
                self.curves,
                h("Parallel coordinates"),
                widgets.HBox([self.parcoords_metric, self.parcoords_scope]),
                self.parcoords,
                widgets.HBox(
                    [self.differs, self.data_versions], layout=widgets.Layout(flex_flow="row wrap")
                ),
                self.figures,
            ],
            _dom_classes=("nbm-compare",),
            **kwargs,
        )

    @property
    def selected(self) -> list[str]:
        """Ids of the selected runs, in pick order."""
        return list(self.table.selected)

    def select(self, run_ids: Sequence[str]) -> None:
        """Select these runs (as ticking their boxes would)."""
        self.table.select(run_ids)

    def visible(self) -> list[str]:
        """Ids of the runs whose rows pass the table's text filter."""
        return list(self.table.visible)

    def _curve_ids(self) -> list[str]:
        shown = set(self.visible())
        return [r for r in self.selected if r in shown]

    def _scope_ids(self) -> list[str]:
        shown = set(self.visible())
        ids = (
            self.selected if self.parcoords_scope.value == "selected" else self.comparison.run_ids()
        )
        return [r for r in ids if r in shown]

    # ---------------------------------------------------------------- updates
    def _on_selected(self, change: Any) -> None:
        self.comparison.selected = list(change["new"])  # the comparison's to_dict() follows
        self.curves.update(self._curve_ids())
        if self.parcoords_scope.value == "selected":
            self.draw_parcoords()
        self._draw_selection_views()

    def _on_visible(self, _change: Any) -> None:
        self.curves.update(self._curve_ids())
        self.draw_parcoords()

    def _draw_selection_views(self) -> None:
        self.differs.value = self._differs_value()
        self.data_versions.value = self._data_value()
        self.figures.children = self._figure_rows()

    def _differs_value(self) -> str:
        return _HEADING.format("What differs") + self._differs_html()

    def _data_value(self) -> str:
        return _HEADING.format("Data versions") + self._data_html()

    def draw_parcoords(self) -> None:
        """Parallel coordinates of the varying params against the chosen metric."""
        self.parcoords.show(self._parcoords_content())

    def _parcoords_content(self) -> Content:
        """The chart, drawn only when at least 3 runs in scope differ; else a short note."""
        metric = self.parcoords_metric.value
        if not metric:
            return note("no metrics to plot")
        dims, scores = parcoords_dimensions(self.comparison, self._scope_ids(), metric)
        if len(dims) < 2:
            return note(f"no param varies among these runs beside {metric}")
        lines = distinct_lines(dims)
        if lines < MIN_PARCOORDS_RUNS:
            return note(
                f"parallel coordinates need at least {MIN_PARCOORDS_RUNS} runs that differ"
                f" ({lines} here)"
            )
        axes = ", ".join(html.unescape(d["label"]) for d in dims[:-1])
        text = f"parallel coordinates of {len(scores)} runs: {axes} against {metric}"
        static = f"<div class='nbm-caption'>{html.escape(text)}</div>"
        return Content(parcoords_spec(dims, scores, metric), static, text)

    def _differs_html(self) -> str:
        esc = html.escape
        ids = self.selected
        if len(ids) < 2:
            return "<i>select two or more runs to see what differs</i>"
        diff = self.comparison.differing(ids)
        rows = [
            (f"{section}.{key}", values)
            for section in ("params", "metrics")
            for key, values in diff[section].items()
        ]
        if not rows:
            return "<i>the selected runs have the same params and metrics</i>"
        head = "".join(f"<th>{esc(self.comparison.label(r))}</th>" for r in ids)
        body = "".join(
            f"<tr><th>{esc(key)}</th>"
            + "".join(
                f"<td style='background:{_DIFF}'>{esc(fmt_value(values.get(r)))}</td>"
                if values.get(r) is not None
                else "<td style='opacity:.5'>—</td>"
                for r in ids
            )
            + "</tr>"
            for key, values in rows
        )
        return (
            f"{_STYLE}<table class='nbm-table nbm-kv nbm-differs'>"
            f"<thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def _data_html(self) -> str:
        esc = html.escape
        ids = self.selected
        if not ids:
            return "<i>no run selected</i>"
        used = self.comparison.data_versions(ids)
        versions: dict[str, set[Any]] = {}
        for items in used.values():
            for item in items:
                versions.setdefault(item.get("path"), set()).add(item.get("version"))
        rows = []
        for run_id in ids:
            for item in used.get(run_id) or []:
                moved = len(versions.get(item.get("path"), ())) > 1  # runs read other versions
                style = f" style='background:{_DIFF}'" if moved else ""
                rows.append(
                    f"<tr{style}><td>{esc(self.comparison.label(run_id))}</td>"
                    f"<td>{esc(str(item.get('path')))}</td>"
                    f"<td>{esc(str(item.get('version')))}</td>"
                    f"<td><code>{esc(str(item.get('md5') or '')[:12])}</code></td></tr>"
                )
        if not rows:
            return "<i>the selected runs recorded no dataset versions (use --data PATH)</i>"
        return (
            f"{_STYLE}<table class='nbm-table nbm-kv nbm-data-versions'><thead><tr><th>run</th>"
            f"<th>dataset</th><th>version</th><th>md5</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )

    def _figure_rows(self) -> list[widgets.Widget]:
        """One row per figure name, the selected runs' versions of it side by side."""
        ids = self.selected[:MAX_FIGURE_RUNS]
        names: list[str] = []
        records: dict[tuple[str, str], dict[str, Any]] = {}
        for run_id in ids:
            for record in self.comparison.figures(run_id):
                name = str(record.get("name"))
                records[(run_id, name)] = record
                if name not in names:
                    names.append(name)
        if not names:
            return []
        out: list[widgets.Widget] = [widgets.HTML(_HEADING.format("Figures of the selected runs"))]
        for name in names:
            cells = [
                self._figure_cell(run_id, name, records[(run_id, name)])
                for run_id in ids
                if (run_id, name) in records
            ]
            out.append(widgets.HBox(cells, layout=widgets.Layout(flex_flow="row wrap")))
        if len(self.selected) > MAX_FIGURE_RUNS:
            out.append(widgets.HTML(f"<i>figures of the first {MAX_FIGURE_RUNS} runs shown</i>"))
        return out

    def _figure_cell(self, run_id: str, name: str, record: dict[str, Any]) -> widgets.Widget:
        key = (run_id, name)
        cell = self._figure_cache.get(key)
        if cell is None:
            cell = self._figure_cache[key] = figure_cell(
                self.comparison.ws, record, caption=f"{self.comparison.label(run_id)} · {name}"
            )
        return cell


def figure_cell(ws: Any, record: dict[str, Any], *, caption: str, width: int = 380) -> Chart:
    """A stored figure in one `Chart`: plotly records as their own spec (the stored JSON is a
    plotly figure already), matplotlib ones as their SVG (or PNG); the caption above."""
    from nb_mlops.tracking.media import figure_html

    name = str(record.get("name"))
    try:
        static = figure_html(ws, record, max_width=width)
        if record.get("kind") == "plotly":
            spec = stored_plotly_spec(ws, record, width)
            content = Content(spec, static, f"plotly figure {name}", heading=caption)
        else:
            content = Content(None, static, f"figure {name}", heading=caption)
    except Exception as exc:  # one unreadable figure must not hide the others
        problem = f"<i>cannot show this figure: {html.escape(str(exc))}</i>"
        content = Content(None, problem, str(exc), heading=caption)
    return Chart("nbm-figure", content=content, layout=widgets.Layout(margin="0 8px 8px 0"))


def stored_plotly_spec(ws: Any, record: dict[str, Any], width: int) -> dict[str, Any]:
    """A stored plotly figure as a chart spec, sized to `width`.

    Its template is left out but for its trace colours: plotly.py writes its default one
    (backgrounds, fonts: kilobytes) into every figure, and the front end themes charts itself.
    """
    figure = json.loads(ws.objects.read_bytes(record["json"]))
    layout = dict(figure.get("layout") or {})
    template = layout.pop("template", None)
    colorway = ((template or {}).get("layout") or {}).get("colorway")
    if colorway and "colorway" not in layout:
        layout["colorway"] = colorway
    layout.update(width=width, height=int(width * 0.75), autosize=False)
    return {"data": list(figure.get("data") or []), "layout": layout}
