"""RunDetailWidget: one run in full (`%track show RUN`), as tabs.

The tabs are the RunDetail's own sections (overview, metrics, artifacts, data, cells,
environment, and when the run has them output, traceback, figures and tables), whose HTML the
RunDetail builds; the widget adds a header line, small charts of the curves under the metrics
table (one per metric kind, as the live chart draws them: a `Chart`, a plain JSON spec) and the
stored figures. Charts inside tabs get a fixed width, since a hidden tab has no width to
autosize to. The static fallback is the RunDetail's own HTML.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from nb_mlops.notebook.widgets.chart import (
    Chart,
    Content,
    metric_panels,
    panels_caption,
    panels_html,
    panels_spec,
)
from nb_mlops.notebook.widgets.render import StaticFallback
from nb_mlops.text import fmt_duration
from nb_mlops.tracking.views import status_badge

CURVE_POINTS = 1000  # per metric in the small charts
CURVES_WIDTH = 720  # px: fixed, a hidden tab has no width to fill


class RunDetailWidget(StaticFallback, widgets.VBox):
    """A RunDetail (what `nm.get_run` returns) as a header and tabs."""

    def __init__(self, detail: Any, **kwargs: Any) -> None:
        self.detail = detail
        self.fallback = detail
        self.doc: dict[str, Any] = detail.to_dict()
        self.ws = getattr(detail, "ws", None)
        self.curves: Chart | None = None
        names = detail.sections()
        self.tabs = widgets.Tab(children=[self._tab(n) for n in names], titles=names)
        kwargs.setdefault("_dom_classes", ("nbm-run-detail",))  # in the opening message
        super().__init__([widgets.HTML(self._header_html()), self.tabs], **kwargs)

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
        panels = metric_panels(
            {name: (steps, values) for name, steps, values in curves}, max_points=CURVE_POINTS
        )
        spec = panels_spec(panels, x_title="step", columns=2, row_height=230)
        spec["layout"].update(width=CURVES_WIDTH, autosize=False)
        caption = panels_caption(panels, x_title="step", what="metric")
        static = panels_html(panels, x_title="step", caption=caption)
        self.curves = Chart("nbm-detail-curves", content=Content(spec, static, caption))
        return widgets.VBox([table, self.curves])

    def _figures_tab(self) -> widgets.Widget:
        from nb_mlops.notebook.widgets.compare import figure_cell

        ws = self._workspace()
        cells = [
            figure_cell(ws, record, caption=str(record.get("name")), width=420)
            for record in self.doc.get("figures") or []
        ]
        return widgets.HBox(cells, layout=widgets.Layout(flex_flow="row wrap"))
