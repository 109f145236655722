"""CurvesWidget: the metric curves of the selected runs, as a grid of small charts (one per metric).

As W&B's panels: by default one small chart per metric the shown runs logged, the metric most of
them share first (at most `MAX_PANELS`); picking one metric draws it alone, larger. Each run has
one colour, from its position among the comparison's runs (`run_color`), the same in every chart
and whatever is selected. With smoothing (TensorBoard's debiased EMA over the full series) the
raw curve is drawn faintly under the smoothed one. The x axis is the step or the seconds since
the run started. Every curve is downsampled (LTTB) before it is sent, so 10 runs of 100,000
points send at most a few thousand per chart. The charts are one plain JSON spec in a `Chart`
(an Output widget, drawn by our front-end extension), with inline SVG as the static form.
Series come from `Comparison.series` (cached there); the drawn curves of finished runs are
cached here, so `update(run_ids)` only computes the runs it has not drawn yet.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np

from nb_mlops.downsample import downsample, ema
from nb_mlops.notebook.widgets.chart import (
    Chart,
    Content,
    Line,
    Panel,
    numbers,
    panels_caption,
    panels_html,
    panels_spec,
    run_color,
)
from nb_mlops.notebook.widgets.render import StaticFallback

MAX_POINTS = 2000  # per curve, one metric drawn alone
PANEL_POINTS = 500  # per curve, in the grid of small charts
MAX_PANELS = 12  # small charts at most; the metric dropdown reaches the others
MAX_CACHED = 4000  # drawn curves kept for redraws
X_TITLES = {"step": "step", "time": "seconds since the run started"}
ALL = ""  # the metric dropdown's value for "every metric, a small chart each"


def start_time(doc: dict[str, Any]) -> float | None:
    """A run's start as unix seconds (None when unknown or unreadable)."""
    try:
        return dt.datetime.fromisoformat(doc["start"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


class CurvesWidget(StaticFallback, widgets.VBox):
    """Curves of the given runs: a small chart per metric (or one metric), x-axis and smoothing.

    `comparison` is a tracking.compare.Comparison (its runs, labels and cached series);
    `run_ids` defaults to its selected runs. `chart.spec` is what is drawn; `panels` the charts
    (one per metric, in order) and `traces_runs` the runs that have a curve in them.
    """

    def __init__(
        self,
        comparison: Any,
        run_ids: Sequence[str] | None = None,
        *,
        metric: str | None = None,
        max_points: int = MAX_POINTS,
        panel_points: int = PANEL_POINTS,
        columns: int = 3,
        **kwargs: Any,
    ) -> None:
        self.comparison = comparison
        self.max_points = max_points
        self.panel_points = panel_points
        self.columns = columns
        self.run_ids: list[str] = list(
            dict.fromkeys(comparison.selected if run_ids is None else run_ids)
        )
        self.position = {r: i for i, r in enumerate(comparison.run_ids())}
        self.panels: list[Panel] = []
        self.traces_runs: list[str] = []
        self._cache: dict[tuple[Any, ...], tuple[list[Any], list[Any], Any]] = {}
        metrics = list(comparison.metrics())
        self.metric = widgets.Dropdown(
            options=[("all metrics", ALL)] + [(m, m) for m in metrics],
            value=metric if metric in metrics else ALL,
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
        # built with its first content and classes: they travel in the opening messages
        self.chart = Chart("nbm-curves", content=self.content())
        for control in (self.metric, self.xaxis, self.smoothing):
            control.observe(lambda _: self.redraw(), "value")
        controls = widgets.HBox(
            [self.metric, self.xaxis, self.smoothing], layout=widgets.Layout(flex_flow="row wrap")
        )
        kwargs.setdefault("_dom_classes", ("nbm-curves-widget",))
        super().__init__([controls, self.chart], **kwargs)

    # ------------------------------------------------------------------ public
    def update(self, run_ids: Sequence[str]) -> None:
        """Show the curves of these runs; nothing is sent when they are the ones shown."""
        ids = list(dict.fromkeys(run_ids))
        if ids != self.run_ids:
            self.run_ids = ids
            self.redraw()

    def panel_metrics(self) -> list[str]:
        """The metrics drawn: the one picked, else those of the shown runs, most shared first."""
        if self.metric.value:
            return [self.metric.value]
        counts = Counter(
            m for r in self.run_ids for m in (self.comparison.doc(r).get("metrics") or {})
        )
        return sorted(counts, key=lambda m: (-counts[m], m))[:MAX_PANELS]

    @property
    def traces(self) -> list[dict[str, Any]]:
        """The traces drawn (raw curves under smoothed ones included), as in the spec."""
        return list((self.chart.spec or {}).get("data") or [])

    def redraw(self) -> None:
        """Send the chart again (one message), if it changed."""
        self.chart.show(self.content())

    def content(self) -> Content:
        """The chart of the shown runs as the controls say: spec, static form and caption."""
        panels = self._panels()
        x_title = X_TITLES[self.xaxis.value]
        note = None if panels else self._empty_note()
        single = bool(self.metric.value)
        spec = panels_spec(
            panels,
            x_title=x_title,
            columns=1 if single else self.columns,
            row_height=360 if single else 250,
            note=note,
        )
        caption = panels_caption(panels, x_title=self.xaxis.value) if panels else note or ""
        self.panels = panels
        drawn = {ln.group for p in panels for ln in p.lines}
        self.traces_runs = [r for r in self.run_ids if r in drawn]
        return Content(spec, panels_html(panels, x_title=x_title, caption=caption), caption)

    # ---------------------------------------------------------------- building
    def _names(self) -> dict[str, str]:
        """Legend names: the run's name, or `name (id)` where names repeat or are empty."""
        names = {r: str(self.comparison.doc(r).get("name") or "") for r in self.run_ids}
        repeated = {n for n, c in Counter(names.values()).items() if c > 1}
        return {
            r: n if n and n not in repeated else self.comparison.label(r) for r, n in names.items()
        }

    def _panels(self) -> list[Panel]:
        names = self._names()
        panels = []
        for metric in self.panel_metrics():
            lines = []
            for run_id in self.run_ids:
                drawn = self._curve(run_id, metric)
                if drawn is None:
                    continue
                x, y, raw = drawn
                lines.append(
                    Line(
                        name=names[run_id],
                        x=x,
                        y=y,
                        color=run_color(self.position.get(run_id, 0)),
                        group=run_id,
                        raw=raw,
                        meta=run_id,
                    )
                )
            if lines:
                panels.append(Panel(metric, metric, lines))
        return panels

    def _curve(self, run_id: str, metric: str) -> tuple[list[Any], list[Any], Any] | None:
        """(x, y, raw or None) of one run's metric as drawn: smoothed, downsampled, JSON-ready."""
        weight = float(self.smoothing.value)
        points = self.max_points if self.metric.value else self.panel_points
        key = (run_id, metric, self.xaxis.value, weight, points)
        found = self._cache.get(key)
        if found is not None:
            return found
        steps, values, times = self.comparison.series(run_id, metric)
        if not len(steps):
            return None
        if self.xaxis.value == "time":
            origin = start_time(self.comparison.doc(run_id))
            x = np.round(times - (times[0] if origin is None else origin), 3)
        else:
            x = steps
        raw = None
        if weight > 0:
            rx, ry = downsample(x, values, points)
            raw = (numbers(rx, 10), numbers(ry))
            sx, sy = downsample(x, ema(values, weight), points)
        else:
            sx, sy = downsample(x, values, points)
        drawn = (numbers(sx, 10), numbers(sy), raw)
        if self.comparison.doc(run_id).get("status") != "running":  # a running run grows
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[key] = drawn
        return drawn

    def _empty_note(self) -> str:
        if not self.run_ids:
            return "select runs in the table to see their curves"
        if self.metric.value:
            return f"no selected run logged {self.metric.value}"
        return "the selected runs logged no metrics"

    # ----------------------------------------------------------------- static
    def _fallback_html(self) -> str:
        return self.chart.outputs[-1]["data"]["text/html"]

    def _fallback_text(self) -> str:
        return f"curves: {self.chart.text}"
