"""CurvesWidget: one metric's curves for the selected runs, overlaid, in a plotly FigureWidget.

Each trace is downsampled in Python (LTTB, at most `max_points` points) before it reaches the
figure, so 10 runs of 100,000 points send 20,000 points to the browser, not a million. Smoothing
is TensorBoard's debiased EMA over the full series (then downsampled); the x axis is the step or
the seconds since the run started. `update(run_ids)` redraws inside `fig.batch_update()`: one
message to the front end per redraw. Series come from `Comparison.series`, which caches them.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from nb_mlops.downsample import downsample, ema
from nb_mlops.notebook.widgets.render import StaticFallback
from nb_mlops.svgchart import PALETTE, line_chart

MAX_POINTS = 2000
X_TITLES = {"step": "step", "time": "seconds since the run started"}


def start_time(doc: dict[str, Any]) -> float | None:
    """A run's start as unix seconds (None when unknown or unreadable)."""
    try:
        return dt.datetime.fromisoformat(doc["start"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


class CurvesWidget(StaticFallback, widgets.VBox):
    """Curves of one metric for the given runs, with metric, x-axis and smoothing controls.

    `comparison` is a tracking.compare.Comparison (its runs, labels and cached series);
    `run_ids` defaults to its selected runs. `traces` are the traces drawn: trace i belongs to
    run `traces_runs[i]` (its `meta` is the run id); the figure may hold more, hidden, traces.
    """

    def __init__(
        self,
        comparison: Any,
        run_ids: Sequence[str] | None = None,
        *,
        metric: str | None = None,
        max_points: int = MAX_POINTS,
        height: int = 360,
        width: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.comparison = comparison
        self.max_points = max_points
        self.run_ids: list[str] = list(comparison.selected if run_ids is None else run_ids)
        self.traces_runs: list[str] = []
        metrics = list(comparison.metrics())
        self.metric = widgets.Dropdown(
            options=metrics,
            value=metric if metric in metrics else self._default_metric(metrics),
            description="metric",
        )
        self.xaxis = widgets.ToggleButtons(
            options=[("step", "step"), ("time", "time")],
            value="step",
            tooltip="x axis: the step, or the seconds since the run started",
            style={"button_width": "60px"},
        )
        self.smoothing = widgets.FloatSlider(
            value=0.0,
            min=0.0,
            max=0.99,
            step=0.01,
            description="smoothing",
            continuous_update=False,
            readout_format=".2f",
        )
        layout: dict[str, Any] = {
            "height": height,
            "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
            "xaxis": {"title": {"text": X_TITLES["step"]}},
            "yaxis": {"title": {"text": html.escape(self.metric.value or "")}},
            "legend": {"orientation": "h", "y": -0.2},
            "hovermode": "closest",
        }
        if width is not None:
            layout["width"] = width
        self.figure = go.FigureWidget(layout=layout)
        self.figure.add_class("nbm-curves")
        for control in (self.metric, self.xaxis, self.smoothing):
            control.observe(lambda _: self.redraw(), "value")
        controls = widgets.HBox(
            [self.metric, self.xaxis, self.smoothing], layout=widgets.Layout(flex_flow="row wrap")
        )
        super().__init__([controls, self.figure], **kwargs)
        self.add_class("nbm-curves-widget")
        self.redraw()

    def _default_metric(self, metrics: list[str]) -> str | None:
        """The first metric (by name) that a run shown has, else the first of all."""
        for name in metrics:
            if any(name in (self.comparison.doc(r).get("metrics") or {}) for r in self.run_ids):
                return name
        return metrics[0] if metrics else None

    # ------------------------------------------------------------------ public
    def update(self, run_ids: Sequence[str]) -> None:
        """Show the curves of these runs (in this order)."""
        self.run_ids = list(dict.fromkeys(run_ids))
        self.redraw()

    def curves(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(run id, x, y) of each run that has the metric: smoothed and downsampled, as drawn."""
        metric = self.metric.value
        if not metric:
            return []
        weight = float(self.smoothing.value)
        out = []
        for run_id in self.run_ids:
            steps, values, times = self.comparison.series(run_id, metric)
            if not len(steps):
                continue
            if self.xaxis.value == "time":
                origin = start_time(self.comparison.doc(run_id))
                x = times - (times[0] if origin is None else origin)
            else:
                x = steps
            y = ema(values, weight) if weight > 0 else values
            x, y = downsample(x, y, self.max_points)
            out.append((run_id, x, y))
        return out

    def redraw(self) -> None:
        """Redraw every trace in one batch (one message to the front end)."""
        curves = self.curves()
        fig = self.figure
        metric = self.metric.value or ""
        color = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(self.run_ids)}
        with fig.batch_update():
            # Traces are a pool: a redraw restyles them and hides the ones not needed instead of
            # deleting them, so selecting and unselecting sends one update message, never the
            # delete/add pairs the front end applies asynchronously.
            if len(fig.data) < len(curves):
                fig.add_traces(
                    [go.Scatter(mode="lines") for _ in range(len(curves) - len(fig.data))]
                )
            for trace, (run_id, x, y) in zip(fig.data, curves, strict=False):
                name = html.escape(self.comparison.label(run_id))  # plotly.js shows entities
                trace.update(
                    x=x,
                    y=y,
                    name=name,
                    meta=run_id,
                    legendgroup=run_id,
                    visible=True,
                    line={"color": color[run_id], "width": 1.5},
                    mode="lines" if len(x) > 1 else "markers",
                    hovertemplate=f"{name}<br>%{{x}}: %{{y}}<extra></extra>",
                )
            for trace in fig.data[len(curves) :]:
                trace.update(x=[], y=[], name="", meta=None, legendgroup=None, visible=False)
            fig.layout.xaxis.title.text = X_TITLES[self.xaxis.value]
            fig.layout.yaxis.title.text = html.escape(metric)
            fig.layout.annotations = [] if curves else [self._empty_note(metric)]
        self.traces_runs = [run_id for run_id, _, _ in curves]

    @property
    def traces(self) -> list[Any]:
        """The traces drawn (the pool's hidden spares left out), in `traces_runs` order."""
        return list(self.figure.data[: len(self.traces_runs)])

    def _empty_note(self, metric: str) -> dict[str, Any]:
        if not self.run_ids:
            text = "select runs in the table to see their curves"
        elif not metric:
            text = "these runs logged no metrics"
        else:
            text = f"no selected run logged {html.escape(metric)}"
        return {
            "text": text,
            "showarrow": False,
            "xref": "paper",
            "yref": "paper",
            "x": 0.5,
            "y": 0.5,
        }

    # ----------------------------------------------------------------- static
    def _fallback_html(self) -> str:
        lines = {self.comparison.label(r): (x, y) for r, x, y in self.curves()}
        return (
            "<div class='nbm-curves-static'>"
            + line_chart(lines, title=self.metric.value or "", x_label=X_TITLES[self.xaxis.value])
            + "</div>"
        )

    def _fallback_text(self) -> str:
        return f"curves of {self.metric.value} for {len(self.traces_runs)} run(s)"
