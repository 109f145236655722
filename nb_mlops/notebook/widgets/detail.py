"""RunDetailWidget: one run in full (`%track show RUN`), as tabs.

The tabs are the RunDetail's own sections (overview, metrics, artifacts, data, cells,
environment, and when the run has them output, traceback, figures and tables), whose HTML the
RunDetail builds; the widget adds a header line, a small curves figure under the metrics table
and live figures. Figures inside tabs get a fixed size, since a hidden tab has no width for plotly
to autosize to. The static fallback is the RunDetail's own HTML.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go

from nb_mlops.downsample import downsample
from nb_mlops.notebook.widgets.render import StaticFallback
from nb_mlops.svgchart import PALETTE
from nb_mlops.text import fmt_duration
from nb_mlops.tracking.views import status_badge

CURVE_POINTS = 1000  # per metric in the small curves figure


class RunDetailWidget(StaticFallback, widgets.VBox):
    """A RunDetail (what `nm.get_run` returns) as a header and tabs."""

    def __init__(self, detail: Any, **kwargs: Any) -> None:
        self.detail = detail
        self.fallback = detail
        self.doc: dict[str, Any] = detail.to_dict()
        self.ws = getattr(detail, "ws", None)
        self.curves: go.FigureWidget | None = None
        names = detail.sections()
        self.tabs = widgets.Tab(children=[self._tab(n) for n in names], titles=names)
        super().__init__([widgets.HTML(self._header_html()), self.tabs], **kwargs)
        self.add_class("nbm-run-detail")

    @property
    def tab_titles(self) -> list[str]:
        return list(self.tabs.titles)

    def _workspace(self) -> Any:
        if self.ws is None:
            from nb_mlops import api

            self.ws = api.workspace()
        return self.ws

    def _tab(self, name: str) -> widgets.Widget:
        if name == "figures":
            return self._figures_tab()
        table = widgets.HTML(self.detail.STYLE + self.detail.section_html(name))
        return self._with_curves(table) if name == "metrics" else table

    def _header_html(self) -> str:
        d, esc = self.doc, html.escape
        err = d.get("error") or {}
        line = (
            f"<b>{esc(d.get('name') or '')}</b> <code>{esc(d['run_id'])}</code> · "
            f"{status_badge(d.get('status') or '')} · {esc(d.get('experiment') or '')} · "
            f"{esc(fmt_duration(d.get('duration')))}"
        )
        if err:
            line += (
                f"<div style='color:#d62728'>{esc(err.get('type') or 'error')}: "
                f"{esc(err.get('message') or '')} (see the traceback tab)</div>"
            )
        return f"<div class='nbm-run-header'>{line}</div>"

    def _with_curves(self, table: widgets.HTML) -> widgets.Widget:
        """The metrics table, and under it the curves of the metrics with several points."""
        series = self.detail.metric_series()
        curves = [(n, *series[n]) for n in sorted(series) if len(series[n][0]) > 1]
        if not curves:
            return table
        self.curves = go.FigureWidget(
            layout={
                "width": 640,
                "height": 300,
                "autosize": False,
                "margin": {"l": 50, "r": 10, "t": 20, "b": 40},
                "xaxis": {"title": {"text": "step"}},
                "legend": {"orientation": "h", "y": -0.25},
            }
        )
        self.curves.add_class("nbm-detail-curves")
        with self.curves.batch_update():
            for i, (name, steps, values) in enumerate(curves):
                x, y = downsample(steps, values, CURVE_POINTS)
                self.curves.add_scatter(
                    x=x,
                    y=y,
                    name=html.escape(name),
                    mode="lines",
                    line={"color": PALETTE[i % len(PALETTE)], "width": 1.5},
                )
        return widgets.VBox([table, self.curves])

    def _figures_tab(self) -> widgets.Widget:
        from nb_mlops.notebook.widgets.compare import figure_cell

        ws = self._workspace()
        cells = [
            figure_cell(ws, record, caption=str(record.get("name")), width=420)
            for record in self.doc.get("figures") or []
        ]
        return widgets.HBox(cells, layout=widgets.Layout(flex_flow="row wrap"))
