"""MonitoringWidget: a model monitor's dashboard (`mon` alone in a cell shows it).

From top to bottom: what the monitor is and a loud banner when the model-version guard fired;
the metrics per window (accuracy, F1 and AUC, or MAE and RMSE, with the accuracy estimated
without labels drawn dashed beside the realised one) over the drift share per window, each
threshold drawn as a dotted line and the windows whose alerts fired marked (a red cross on the
value that crossed, a red vertical line where the served model changed); one window's drift
per feature (the latest by default; a slider picks another) with, for a chosen feature, the
reference and the window's distributions overlaid (a histogram on shared bins for numbers, the
share of each category otherwise); and the alerts, newest first, model-version alerts loudest.

Charts are plain plotly specs in `Chart`s (drawn by our front-end extension, plotly.js loaded
once per page). The payload is bounded whatever the monitor holds: the timelines carry the
latest `TIMELINE_WINDOWS` windows, as `x0`/`dx` when the windows are evenly spaced (no x array
at all), at `DIGITS` significant digits; the drift table lists `TABLE_FEATURES` features; the
alert list `LIVE_ALERTS`; the distribution `HIST_BINS` bins or `CATEGORIES` categories. The
monitor's windows are read once (and again on "refresh"); a window's rows are read when it is
shown, for the distribution. The static form (nbconvert, a viewer without the extension) is
inline SVG and escaped tables, also bounded; every user string is escaped.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ipywidgets as widgets
import numpy as np

from nb_mlops.downsample import downsample
from nb_mlops.monitor.driftreport import HEADER as DRIFT_HEADER
from nb_mlops.monitor.driftreport import ColumnDrift, DriftReport
from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.guard import KIND as MODEL_VERSION  # the model-version guard's alerts
from nb_mlops.monitor.performance import HIGHER_IS_BETTER
from nb_mlops.notebook.widgets.chart import Chart, Content, note, numbers
from nb_mlops.notebook.widgets.render import StaticFallback
from nb_mlops.svgchart import PALETTE, line_chart
from nb_mlops.text import text_table
from nb_mlops.tracking.views import table_css

TIMELINE_WINDOWS = 1500
"""Windows the timelines draw (the latest); the caption says when there are more."""
DIGITS = 4  # significant digits of the values drawn: finer than a pixel
SVG_POINTS = 120  # per series in the static timelines (as chart.SVG_POINTS)
TABLE_FEATURES = 200  # rows of the per-feature drift table (the most drifted first)
LIVE_ALERTS = 50  # alerts listed in the widget (newest first)
STATIC_ALERTS = 30  # ... and in the static form
STATIC_WINDOWS = 20  # windows (the latest) in the static form's table
MODEL_MARKS = 20  # model-version alerts drawn as vertical lines (the newest)
HIST_BINS = 30
CATEGORIES = 20  # categories drawn; the others are summed as "other"
ROWS_CACHED = 4  # windows whose rows the widget keeps for the distribution

TOP, DRIFT_TOP = 0.92, 0.28  # the tops of the two panels, in the plot's height

ALERT_COLOR = "#d62728"
REFERENCE_COLOR = PALETTE[0]
CURRENT_COLOR = PALETTE[1]
DRIFT_COLOR = PALETTE[5]
METRIC_COLORS = {
    "accuracy": PALETTE[0],
    "estimated_accuracy": PALETTE[0],  # beside the realised accuracy: same colour, dashed
    "f1": PALETTE[3],
    "auc": PALETTE[2],
    "mae": PALETTE[0],
    "rmse": PALETTE[3],
}
LABELS = {
    "accuracy": "accuracy",
    "f1": "F1",
    "auc": "AUC",
    "mae": "MAE",
    "rmse": "RMSE",
    "estimated_accuracy": "estimated accuracy",
    "drift_share": "drift share",
    "prediction_drift": "prediction drift",
    "fingerprint": "model version",
}
LOUD = "background:rgba(214,39,40,.14);color:#d62728;font-weight:bold"
_STYLE = (
    "<style>.nbm-monitor .nbm-alert-model td{font-weight:bold;color:#d62728}"
    ".nbm-monitor .nbm-drifted td,.nbm-monitor .nbm-alerted td{color:#d62728}"
    ".nbm-monitor .nbm-banner{padding:6px 10px;margin:4px 0;border-left:4px solid #d62728;"
    "background:rgba(214,39,40,.14);color:#d62728;font-weight:bold}"
    ".nbm-monitor .nbm-muted{color:var(--jp-ui-font-color2, inherit)}</style>"
)


def label(metric: str) -> str:
    return LABELS.get(metric, metric)


def finite(value: Any) -> float | None:
    """A finite float, else None (a gap)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def cell(value: Any) -> str:
    number = finite(value)
    if number is not None:
        return f"{number:.4g}"
    return "" if value is None or isinstance(value, float) else str(value)


# ---------------------------------------------------------------------- the monitor, read once
class Dashboard:
    """What the widget and its static form show: the monitor's windows, read once (`records`,
    oldest first), its alerts and thresholds. No widget here: plain data and text."""

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor
        self.name = str(monitor.name)
        self.task = str(monitor.task)
        self.metrics = list(monitor.metric_names)
        self.thresholds = dict(monitor.thresholds)
        self.spec = monitor.spec
        self.features = [str(f) for f in monitor.features]
        self.model = dict((getattr(monitor, "definition", None) or {}).get("model") or {})
        self.records = [
            r for r in monitor.window_records() if isinstance(r, Mapping) and is_int(r.get("index"))
        ]

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Every alert, newest first (by window, a window's model-version alerts first, then
        by when it was raised)."""
        out = [dict(a) for r in self.records for a in r.get("alerts") or [] if isinstance(a, dict)]
        out.sort(
            key=lambda a: (window_index(a), a.get("kind") == MODEL_VERSION, str(a.get("time"))),
            reverse=True,
        )
        return out

    @property
    def model_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a.get("kind") == MODEL_VERSION]

    def summary(self) -> list[str]:
        what = self.model.get("uri") or self.model.get("class") or "no model (predictions given)"
        rows = sum(int(r.get("rows") or 0) for r in self.records)
        alerts = sum(len(r.get("alerts") or []) for r in self.records)
        n = len(self.records)
        return [
            f"monitor {self.name}: {self.task}, windows of {self.spec.describe()}, model {what}",
            f"{n:,} window{'s' if n != 1 else ''}, {rows:,} rows observed, "
            f"{alerts:,} alert{'s' if alerts != 1 else ''}",
        ]

    def threshold_text(self) -> str:
        parts = []
        for metric, bound in self.thresholds.items():
            side = "≥" if metric in HIGHER_IS_BETTER else "≤"
            parts.append(f"{label(metric)} {side} {bound:.4g}")
        return "thresholds: " + (", ".join(parts) if parts else "none")

    def position(self, window: Any) -> int:
        """The position in `records` of a window given by index or label (the latest: None)."""
        if not self.records:
            raise MonitorError(f"monitor {self.name} has observed nothing yet")
        if window is None:
            return len(self.records) - 1
        for i, rec in enumerate(self.records):
            if window in (rec.get("index"), rec.get("window")):
                return i
        raise MonitorError(f"monitor {self.name} has no window {window!r}")

    def report(self, record: Mapping[str, Any]) -> DriftReport | None:
        """A window's per-feature drift (None when its record holds none readable)."""
        try:
            return DriftReport.from_dict(record.get("drift"))
        except ValueError:
            return None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def window_index(alert: Mapping[str, Any]) -> int:
    index = alert.get("index")
    return index if is_int(index) else -1


def drift_strength(column: ColumnDrift) -> float:
    """How far a column is past its threshold (above 1: drifted), for ordering the table."""
    if column.test is None or column.value is None or not column.threshold:
        return -math.inf
    if column.measure == "p_value":
        return column.threshold / max(column.value, 1e-300)
    return column.value / column.threshold


def ordered_columns(report: DriftReport) -> list[ColumnDrift]:
    """The report's columns, the drifted ones first, each group by how far past its
    threshold (untested columns last)."""
    return sorted(report.columns, key=lambda c: (not c.drifted, -drift_strength(c)))


# ---------------------------------------------------------------------- the timelines
@dataclass(frozen=True)
class WindowAxis:
    """Where the windows shown sit on the x axis: their start dates (time windows) or their
    numbers (row windows). `dense`: evenly spaced from the first to the last (missing ones are
    gaps), so traces carry `x0` and `dx` and no x array."""

    kind: str
    size: float
    indices: list[int]
    dense: bool

    @classmethod
    def of(cls, records: Sequence[Mapping[str, Any]], spec: Any) -> WindowAxis:
        indices = [int(r["index"]) for r in records]
        span = indices[-1] - indices[0] + 1 if indices else 0
        dense = bool(indices) and span <= 2 * len(indices) + 50
        return cls(spec.kind, float(spec.size), indices, dense)

    def x(self, index: int) -> Any:
        if self.kind == "rows":
            return index
        start = datetime.fromtimestamp(index * self.size, UTC)
        if self.size % 86400 == 0:
            return start.strftime("%Y-%m-%d")
        if self.size % 60 == 0:
            return start.strftime("%Y-%m-%d %H:%M")
        return start.strftime("%Y-%m-%d %H:%M:%S")

    @property
    def title(self) -> str:
        if self.kind == "rows":
            return f"window ({int(self.size):,} rows each)"
        return "window start (UTC)"

    def trace_x(self) -> dict[str, Any]:
        """The x of a trace over every window shown."""
        if self.dense and self.indices:
            step = 1 if self.kind == "rows" else self.size * 1000  # a date axis counts in ms
            return {"x0": self.x(self.indices[0]), "dx": step}
        return {"x": [self.x(i) for i in self.indices]}

    def bar_span(self) -> dict[str, Any]:
        """A bar from the window's start over most of its span (where its line point sits)."""
        step = 1 if self.kind == "rows" else self.size * 1000
        return {"offset": 0, "width": float(f"{step * 0.9:.6g}")}

    def values(self, records: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
        """`key` of each window, aligned with `trace_x` (None where a window has no value)."""
        by_index = {int(r["index"]): finite(r.get(key)) for r in records}
        if self.dense and self.indices:
            wanted = range(self.indices[0], self.indices[-1] + 1)
        else:
            wanted = self.indices
        return numbers(
            [math.nan if by_index.get(i) is None else by_index[i] for i in wanted], DIGITS
        )

    def ends(self) -> list[Any]:
        return [self.x(self.indices[0]), self.x(self.indices[-1])] if self.indices else []


@dataclass
class Marks:
    """Alerted windows of one panel: x, y and what fired, for a marker trace."""

    x: list[Any] = field(default_factory=list)
    y: list[Any] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


def alert_marks(
    records: Sequence[Mapping[str, Any]], axis: WindowAxis, metrics: Sequence[str], at: str | None
) -> Marks:
    """Where the alerts on `metrics` fired: at the metric's own value (`at` None: one mark per
    metric), or one mark per window at the value of `at` naming what fired (the drift panel
    marks prediction drift on the drift share)."""
    marks = Marks()
    for rec in records:
        fired = [a.get("metric") for a in rec.get("alerts") or [] if a.get("metric") in metrics]
        groups = [[m] for m in dict.fromkeys(fired)] if at is None else [list(dict.fromkeys(fired))]
        for group in groups:
            value = finite(rec.get(at or group[0])) if group else None
            if value is None:
                continue
            marks.x.append(axis.x(int(rec["index"])))
            marks.y.append(numbers([value], DIGITS)[0])
            marks.text.append(html.escape(", ".join(label(str(m)) for m in group)))
    return marks


def timeline_traces(board: Dashboard, records: list, axis: WindowAxis) -> list[dict]:
    traces: list[dict[str, Any]] = []
    xs = axis.trace_x()
    few = len(records) <= 60
    drawn = []
    for metric in board.metrics:
        y = axis.values(records, metric)
        if all(v is None for v in y):
            continue
        drawn.append(metric)
        color = METRIC_COLORS.get(metric, PALETTE[len(drawn) % len(PALETTE)])
        estimated = metric == "estimated_accuracy"
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers" if few or isolated(y) else "lines",
                **xs,
                "y": y,
                "name": label(metric) + (" (no labels)" if estimated else ""),
                "legendgroup": metric,
                "line": {"color": color, "width": 1.5, **({"dash": "dash"} if estimated else {})},
                "marker": {"size": 5 if few else 3, "color": color},
                "hovertemplate": f"{label(metric)}: %{{y:.4g}}<extra></extra>",
            }
        )
    for metric in bounded(board, drawn):
        traces += threshold_trace(board, metric, axis, "y")
    marks = alert_marks(records, axis, drawn, None)
    if marks.x:
        traces.append(marks_trace(marks, "y", "metric alert"))
    share = axis.values(records, "drift_share")
    traces.append(
        {
            "type": "bar",
            **xs,
            "y": share,
            **axis.bar_span(),
            "yaxis": "y2",
            "name": "drift share",
            "marker": {"color": DRIFT_COLOR},
            "hovertemplate": "drift share: %{y:.0%}<extra></extra>",
        }
    )
    traces += threshold_trace(board, "drift_share", axis, "y2")
    marks = alert_marks(records, axis, ["drift_share", "prediction_drift"], "drift_share")
    if marks.x:
        traces.append(marks_trace(marks, "y2", "drift alert"))
    return traces


def isolated(values: Sequence[Any]) -> bool:
    """Whether a value stands between gaps (a line alone would not show it)."""
    n = len(values)
    for i, v in enumerate(values):
        if v is None:
            continue
        if (i == 0 or values[i - 1] is None) and (i == n - 1 or values[i + 1] is None):
            return True
    return False


def bounded(board: Dashboard, drawn: Sequence[str]) -> list[str]:
    """The metrics drawn whose threshold is drawn too: the estimated accuracy's only when it
    differs from the accuracy's (by default the estimate alerts at the accuracy's bound)."""
    out = []
    for metric in drawn:
        if finite(board.thresholds.get(metric)) is None:
            continue
        same = board.thresholds.get(metric) == board.thresholds.get("accuracy")
        if metric == "estimated_accuracy" and "accuracy" in drawn and same:
            continue
        out.append(metric)
    return out


def threshold_trace(board: Dashboard, metric: str, axis: WindowAxis, yaxis: str) -> list[dict]:
    bound = finite(board.thresholds.get(metric))
    if bound is None or not axis.indices:
        return []
    side = "≥" if metric in HIGHER_IS_BETTER else "≤"
    color = ALERT_COLOR if metric == "drift_share" else METRIC_COLORS.get(metric, "#888888")
    ends = axis.ends()
    trace = {
        "type": "scatter",
        "mode": "lines",
        "x": ends,
        "y": [bound, bound],
        "name": f"{label(metric)} threshold ({side} {bound:.4g})",
        "legendgroup": metric,
        "line": {"color": color, "width": 1, "dash": "dot"},
        "hovertemplate": f"{label(metric)} threshold {bound:.4g}<extra></extra>",
    }
    if yaxis != "y":
        trace["yaxis"] = yaxis
    return [trace]


def marks_trace(marks: Marks, yaxis: str, name: str) -> dict[str, Any]:
    trace = {
        "type": "scatter",
        "mode": "markers",
        "x": marks.x,
        "y": marks.y,
        "text": marks.text,
        "name": name,
        "legendgroup": "alerts",
        "marker": {"color": ALERT_COLOR, "symbol": "x", "size": 9},
        "hovertemplate": "ALERT %{text}: %{y:.4g}<extra></extra>",
    }
    if yaxis != "y":
        trace["yaxis"] = yaxis
    return trace


def model_change_lines(board: Dashboard, axis: WindowAxis) -> tuple[list[dict], list[dict]]:
    """Shapes and labels: a red vertical line at each window where the guard alerted."""
    shown = set(axis.indices)
    windows = []
    for alert in board.model_alerts:  # newest first
        index = alert.get("index")
        if is_int(index) and index in shown and index not in windows:
            windows.append(index)
        if len(windows) >= MODEL_MARKS:
            break
    shapes, notes = [], []
    for index in windows:
        x = axis.x(index)
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": x,
                "x1": x,
                "y0": 0,
                "y1": 1,
                "line": {"color": ALERT_COLOR, "width": 2},
            }
        )
        notes.append(
            {
                "text": "⚠ model",
                "x": x,
                "xref": "x",
                "y": 1,
                "yref": "paper",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"color": ALERT_COLOR, "size": 11},
            }
        )
    return shapes, notes


def timeline_content(board: Dashboard) -> Content:
    """The metrics per window over the drift share per window, one plotly spec."""
    if not board.records:
        return note(f"monitor {board.name} has observed nothing yet")
    records = board.records[-TIMELINE_WINDOWS:]
    axis = WindowAxis.of(records, board.spec)
    shapes, model_notes = model_change_lines(board, axis)
    heading = {"showarrow": False, "xref": "paper", "yref": "paper", "x": 0, "xanchor": "left"}
    metric_word = " · ".join(label(m) for m in board.metrics)
    titles = [
        {**heading, "text": f"<b>{html.escape(metric_word)}</b> per window", "y": TOP},
        {**heading, "text": "<b>drift share</b> (share of features drifted) per window",
         "y": DRIFT_TOP},
    ]  # fmt: skip
    for t in titles:
        t["yanchor"] = "bottom"
    xaxis: dict[str, Any] = {"anchor": "y2", "title": {"text": axis.title}, "automargin": True}
    if axis.kind == "time":
        xaxis["type"] = "date"
    height, top, bottom = 520, 36, 120  # px; the legend sits under the x axis's title
    layout = {
        "height": height,
        "autosize": True,
        "margin": {"l": 56, "r": 28, "t": top, "b": bottom},
        "hovermode": "closest",
        "showlegend": True,
        "legend": {
            "orientation": "h",
            "x": 0,
            "y": -60 / (height - top - bottom),
            "yanchor": "top",
        },
        "xaxis": xaxis,
        "yaxis": {"domain": [0.42, TOP], "automargin": True, "zeroline": False},
        "yaxis2": {
            "domain": [0, DRIFT_TOP],
            "tickformat": ".0%",
            "rangemode": "tozero",
            "automargin": True,
        },
        "bargap": 0.1,
        "annotations": titles + model_notes,
    }
    if shapes:
        layout["shapes"] = shapes
    spec = {"data": timeline_traces(board, records, axis), "layout": layout}
    text = timeline_caption(board, records)
    static = timeline_svg(board, records, text)
    return Content(spec, static, text)


def timeline_caption(board: Dashboard, records: Sequence[Mapping[str, Any]]) -> str:
    n, total = len(records), len(board.records)
    what = f"the latest {n:,} of {total:,} windows" if n < total else plural(n, "window")
    first, last = records[0].get("window"), records[-1].get("window")
    span = f"{first} … {last}" if n > 1 else str(first)
    alerted = sum(1 for r in records if r.get("alerts"))
    return (
        f"{' / '.join(label(m) for m in board.metrics)} and drift share per window: {what} "
        f"({span}), {alerted:,} with alerts"
    )


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def svg_series(values: Sequence[Any]) -> tuple[Any, Any]:
    """(position, value) of a timeline for the static SVG, at most `SVG_POINTS` points."""
    y = np.asarray([math.nan if v is None else v for v in values], dtype=float)
    return downsample(np.arange(len(y), dtype=float), y, SVG_POINTS)


def timeline_svg(board: Dashboard, records: Sequence[Mapping[str, Any]], caption: str) -> str:
    """The static form: two inline SVG line charts (metrics, drift share) over the window's
    position, thresholds as flat lines, alerted windows as red dots, and a caption."""
    n = len(records)
    series: dict[str, tuple[Any, Any]] = {}
    colors: list[str] = []
    for metric in board.metrics:
        values = [finite(r.get(metric)) for r in records]
        if all(v is None for v in values):
            continue
        series[label(metric)] = svg_series(values)
        colors.append(METRIC_COLORS.get(metric, PALETTE[len(colors) % len(PALETTE)]))
    drawn = [m for m in board.metrics if label(m) in series]
    for metric in bounded(board, drawn):
        bound = board.thresholds[metric]
        series[f"{label(metric)} threshold"] = (np.array([0, n - 1]), np.array([bound] * 2))
        colors.append(METRIC_COLORS.get(metric, "#888888"))
    alerted = alert_points(records, drawn, None)
    if alerted is not None:
        series["alert"] = alerted
        colors.append(ALERT_COLOR)
    x_label = f"window ({records[0].get('window')} … {records[-1].get('window')})"
    charts = [
        line_chart(series, title="metrics per window", width=460, height=240, x_label=x_label,
                   colors=colors)
    ]  # fmt: skip
    drift: dict[str, tuple[Any, Any]] = {
        "drift share": svg_series([finite(r.get("drift_share")) for r in records])
    }
    drift_colors = [DRIFT_COLOR]
    bound = finite(board.thresholds.get("drift_share"))
    if bound is not None:
        drift["threshold"] = (np.array([0, n - 1]), np.array([bound] * 2))
        drift_colors.append(ALERT_COLOR)
    alerted = alert_points(records, ["drift_share", "prediction_drift"], "drift_share")
    if alerted is not None:
        drift["alert"] = alerted
        drift_colors.append(ALERT_COLOR)
    charts.append(
        line_chart(drift, title="drift share per window", width=460, height=240,
                   x_label=x_label, colors=drift_colors)
    )  # fmt: skip
    return (
        "<div class='nbm-chart-static'>"
        f"<div style='display:flex;flex-wrap:wrap;gap:8px'>{''.join(charts)}</div>"
        f"<div class='nbm-caption'>{html.escape(caption)}</div></div>"
    )


def alert_points(
    records: Sequence[Mapping[str, Any]], metrics: Sequence[str], at: str | None
) -> tuple[Any, Any] | None:
    """(position, value) of the latest `SVG_POINTS` alerted windows, each a lone dot (a NaN
    after each point keeps neighbours from being joined), or None when none alerted."""
    y = np.full(len(records), np.nan)
    for i, rec in enumerate(records):
        for alert in rec.get("alerts") or []:
            metric = alert.get("metric")
            if metric in metrics:
                value = finite(rec.get(at or metric))
                if value is not None:
                    y[i] = value
    hits = np.flatnonzero(np.isfinite(y))
    if not len(hits):
        return None
    keep = hits[-SVG_POINTS:]
    x = np.repeat(keep.astype(float), 2)
    values = np.repeat(y[keep], 2)
    values[1::2] = np.nan
    return x, values


# ---------------------------------------------------------------------- one window's drift
def drift_table_html(report: DriftReport | None, limit: int = TABLE_FEATURES) -> str:
    """The per-feature drift of one window, the most drifted first, as an escaped table."""
    if report is None:
        return "<div class='nbm-note'><i>this window's drift record cannot be read</i></div>"
    columns = ordered_columns(report)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in DRIFT_HEADER)
    body = []
    for c in columns[:limit]:
        klass = " class='nbm-drifted'" if c.drifted else ""
        cells = "".join(f"<td>{html.escape(v)}</td>" for v in c.row())
        body.append(f"<tr{klass}>{cells}</tr>")
    more = ""
    if len(columns) > limit:
        more = (
            f"<div class='nbm-more'>the {limit:,} most drifted of {len(columns):,} features "
            "are listed</div>"
        )
    lines = "".join(f"<div>{html.escape(line)}</div>" for line in report.summary()[:1])
    return (
        f"{table_css('nbm-drift-table')}<div class='nbm-drift'>{lines}"
        f"<table class='nbm-table nbm-drift-table'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{more}</div>"
    )


def window_line(record: Mapping[str, Any], metrics: Sequence[str]) -> str:
    """One window as a line of text: its label, rows, metrics, drift and alerts."""
    parts = [
        f"window {record.get('window')}: {int(record.get('rows') or 0):,} rows, "
        f"{int(record.get('labelled') or 0):,} labelled"
    ]
    for metric in [*metrics, "drift_share"]:
        value = finite(record.get(metric))
        if value is not None:
            parts.append(f"{label(metric)} {value:.4g}")
    alerts = len(record.get("alerts") or [])
    if alerts:
        parts.append(plural(alerts, "alert"))
    return ", ".join(parts)


@dataclass
class Distribution:
    """One feature's values in the reference and in a window, as shares of their rows: on
    shared bins (numbers) or per category. `labels` name the bins or categories."""

    kind: str  # "numerical" or "categorical"
    labels: list[str]
    centres: list[float]  # numerical: the bins' centres (else empty)
    width: float  # numerical: the bins' width
    reference: list[float]
    current: list[float]
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    notes: list[str] = field(default_factory=list)


def is_numeric_kind(values: Any, kind: str | None) -> bool:
    import pandas as pd

    if kind is not None:
        return kind == "numerical"
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return False
    return values.nunique(dropna=True) > 5


def distribution(reference: Any, current: Any, kind: str | None = None) -> Distribution:
    """The distributions of one feature (two pandas Series) in the reference and a window.
    `kind` is the drift test's ("numerical" or "categorical"; None: found from the values)."""
    import pandas as pd

    missing_ref = float(reference.isna().mean()) if len(reference) else 0.0
    missing_cur = float(current.isna().mean()) if len(current) else 0.0
    if is_numeric_kind(reference, kind):
        ref = pd.to_numeric(reference, errors="coerce").astype("float64")
        cur = pd.to_numeric(current, errors="coerce").astype("float64")
        return numeric_distribution(ref, cur, missing_ref, missing_cur)
    return categorical_distribution(reference, current, missing_ref, missing_cur)


def numeric_distribution(
    ref: Any, cur: Any, missing_ref: float, missing_cur: float
) -> Distribution:
    r = ref.to_numpy()
    c = cur.to_numpy()
    r, c = r[np.isfinite(r)], c[np.isfinite(c)]
    both = np.concatenate([r, c])
    notes = []
    if not len(both):
        lo, hi = 0.0, 1.0
        notes.append("no numbers to draw")
    else:
        lo, hi = (float(v) for v in np.quantile(both, [0.005, 0.995]))
        if hi <= lo:
            lo, hi = float(both.min()), float(both.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        if both.min() < lo or both.max() > hi:
            notes.append(
                "values beyond the 0.5th and 99.5th percentiles are counted in the end bins"
            )
    edges = np.linspace(lo, hi, HIST_BINS + 1)

    def shares(values: Any) -> list[float]:
        if not len(values):
            return [0.0] * HIST_BINS
        counts, _ = np.histogram(np.clip(values, lo, hi), bins=edges)
        return (counts / len(values)).tolist()

    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    labels = [f"{a:.4g} – {b:.4g}" for a, b in itertools.pairwise(edges.tolist())]
    return Distribution(
        "numerical", labels, centres, float(edges[1] - edges[0]), shares(r), shares(c),
        len(r), len(c), missing_ref, missing_cur, notes,
    )  # fmt: skip


def categorical_distribution(
    reference: Any, current: Any, missing_ref: float, missing_cur: float
) -> Distribution:
    r = reference.dropna().astype(str)
    c = current.dropna().astype(str)
    rs = r.value_counts(normalize=True) if len(r) else r.value_counts()
    cs = c.value_counts(normalize=True) if len(c) else c.value_counts()
    combined = rs.add(cs, fill_value=0)
    order = sorted(combined.index, key=lambda k: (-float(combined[k]), k))
    shown, rest = order[:CATEGORIES], order[CATEGORIES:]
    labels = [k if k in rs.index else f"{k} (unseen)" for k in shown]
    ref_shares = [float(rs.get(k, 0.0)) for k in shown]
    cur_shares = [float(cs.get(k, 0.0)) for k in shown]
    notes = []
    if rest:
        labels.append(f"other ({len(rest):,})")
        ref_shares.append(float(sum(rs.get(k, 0.0) for k in rest)))
        cur_shares.append(float(sum(cs.get(k, 0.0) for k in rest)))
        notes.append(f"the {CATEGORIES} most common of {len(order):,} categories are drawn")
    return Distribution(
        "categorical", labels, [], 0.0, ref_shares, cur_shares, len(r), len(c),
        missing_ref, missing_cur, notes,
    )  # fmt: skip


def distribution_caption(dist: Distribution, feature: str, window: str) -> str:
    unit = "bin" if dist.kind == "numerical" else "category"
    text = (
        f"{feature}: reference ({dist.n_reference:,} values) vs window {window} "
        f"({dist.n_current:,} values), share of each {unit}"
    )
    if dist.missing_reference or dist.missing_current:
        text += f"; missing {dist.missing_reference:.1%} / {dist.missing_current:.1%}"
    for extra in dist.notes:
        text += f"; {extra}"
    return text


def distribution_content(dist: Distribution, feature: str, window: str) -> Content:
    """The reference and current distributions of a feature, overlaid, as one plotly spec."""
    common = {"type": "bar", "hovertemplate": "%{y:.1%}<extra>%{fullData.name}</extra>"}
    names = (f"reference ({dist.n_reference:,})", f"window ({dist.n_current:,})")
    colors = (REFERENCE_COLOR, CURRENT_COLOR)
    traces = []
    for name, values, color in zip(names, (dist.reference, dist.current), colors, strict=True):
        trace = {**common, "name": name, "y": numbers(values, DIGITS), "marker": {"color": color}}
        if dist.kind == "numerical":
            trace.update(x=numbers(dist.centres, 6), width=float(f"{dist.width:.6g}"), opacity=0.55)
        else:
            trace["x"] = [html.escape(v) for v in dist.labels]  # plotly.js reads labels as HTML
        traces.append(trace)
    layout: dict[str, Any] = {
        "height": 320,
        "autosize": True,
        "margin": {"l": 56, "r": 16, "t": 36, "b": 40},
        "barmode": "overlay" if dist.kind == "numerical" else "group",
        "bargap": 0 if dist.kind == "numerical" else 0.2,
        "title": {
            "text": f"<b>{html.escape(feature)}</b> · reference vs window {html.escape(window)}",
            "font": {"size": 13},
            "x": 0.01,
        },
        "xaxis": {"automargin": True, "title": {"text": html.escape(feature)}},
        "yaxis": {"tickformat": ".0%", "title": {"text": "share of values"}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom", "xanchor": "left"},
        "showlegend": True,
    }
    if dist.kind == "categorical":
        layout["xaxis"]["type"] = "category"
        layout["legend"]["x"] = 0.5
    text = distribution_caption(dist, feature, window)
    static = (
        "<div class='nbm-chart-static'>"
        f"{bars_svg(dist, feature)}<div class='nbm-caption'>{html.escape(text)}</div></div>"
    )
    return Content({"data": traces, "layout": layout}, static, text)


def bars_svg(dist: Distribution, feature: str, *, width: int = 440) -> str:
    """An inline `<svg>` of the two distributions: overlaid histogram bars on shared bins
    (numbers) or a pair of bars per category."""
    esc = html.escape
    font = 'font-family="sans-serif" font-size="10" fill="currentColor"'
    top = max(max(dist.reference, default=0), max(dist.current, default=0)) or 1.0
    n = max(1, len(dist.labels))
    left, right, head, plot_h = 40, 12, 30, 140
    bottom = 34
    height = head + plot_h + bottom
    plot_w = width - left - right
    slot = plot_w / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nbm-chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(feature)}: reference and window">',
        f'<text x="{left}" y="12" {font} font-weight="600">{esc(feature)}</text>',
        f'<rect x="{left}" y="18" width="10" height="8" fill="{REFERENCE_COLOR}"/>'
        f'<text x="{left + 14}" y="26" {font}>reference</text>'
        f'<rect x="{left + 80}" y="18" width="10" height="8" fill="{CURRENT_COLOR}"/>'
        f'<text x="{left + 94}" y="26" {font}>window</text>',
    ]
    base = head + plot_h
    overlay = dist.kind == "numerical"
    for k, (name, a, b) in enumerate(zip(dist.labels, dist.reference, dist.current, strict=True)):
        x = left + k * slot
        parts.append(f"<g><title>{esc(name)}: reference {a:.1%}, window {b:.1%}</title>")
        for j, (share, color) in enumerate(((a, REFERENCE_COLOR), (b, CURRENT_COLOR))):
            h = share / top * plot_h
            bx, bw = (x, slot) if overlay else (x + slot * (0.1 + 0.4 * j), slot * 0.4)
            opacity = ' fill-opacity="0.55"' if overlay else ""
            parts.append(
                f'<rect x="{bx:.1f}" y="{base - h:.1f}" width="{max(bw, 0.5):.1f}" '
                f'height="{h:.1f}" fill="{color}"{opacity}/>'
            )
        parts.append("</g>")
    parts.append(
        f'<path d="M{left} {head}V{base}H{left + plot_w}" fill="none" stroke="currentColor" '
        'stroke-opacity="0.45"/>'
        f'<text x="{left - 4}" y="{head + 8}" text-anchor="end" {font}>{top:.0%}</text>'
        f'<text x="{left - 4}" y="{base}" text-anchor="end" {font}>0%</text>'
    )
    if overlay and dist.labels:
        lo = dist.labels[0].split(" – ")[0]
        hi = dist.labels[-1].split(" – ")[-1]
        parts.append(
            f'<text x="{left}" y="{base + 12}" {font}>{esc(lo)}</text>'
            f'<text x="{left + plot_w}" y="{base + 12}" text-anchor="end" {font}>{esc(hi)}</text>'
        )
    elif dist.labels:
        shown = dist.labels[:8]
        text = ", ".join(shown) + (" …" if len(dist.labels) > 8 else "")
        cut = text if len(text) <= 80 else text[:79] + "…"
        parts.append(f'<text x="{left}" y="{base + 12}" {font}>{esc(cut)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------- alerts
def alerts_html(alerts: Sequence[Mapping[str, Any]], limit: int) -> str:
    """The alerts, newest first, as an escaped table; model-version alerts loud (bold red, a
    warning sign and their kind in capitals, readable without the styles too)."""
    if not alerts:
        return "<div class='nbm-note'><i>no alerts</i></div>"
    head = "".join(f"<th>{h}</th>" for h in ("window", "kind", "metric", "value", "threshold",
                                             "message", "raised"))  # fmt: skip
    body = []
    for alert in alerts[:limit]:
        loud = alert.get("kind") == MODEL_VERSION
        kind = "⚠ MODEL VERSION" if loud else str(alert.get("kind") or "")
        cells = [
            str(alert.get("window") or ""),
            kind,
            label(str(alert.get("metric") or "")),
            cell(alert.get("value")),
            cell(alert.get("threshold")),
            str(alert.get("message") or ""),
            str(alert.get("time") or "").replace("T", " ").rstrip("Z"),
        ]
        style = f" class='nbm-alert-model' style='{LOUD}'" if loud else " class='nbm-alert'"
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    more = ""
    if len(alerts) > limit:
        more = f"<div class='nbm-more'>the newest {limit:,} of {len(alerts):,} alerts</div>"
    return (
        f"{table_css('nbm-alerts-table')}<table class='nbm-table nbm-alerts-table'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"
    )


def violations_html(record: Mapping[str, Any] | None) -> str:
    """The window's violations of the reference's constraints (types, completeness, ranges,
    categories), as an escaped table; the record lists at most 50 and counts them all."""
    if record is None:
        return ""
    found = list(record.get("violations") or [])
    count = int(record.get("violation_count") or len(found))
    window = html.escape(str(record.get("window") or ""))
    if not found:
        return f"<div class='nbm-note'><i>window {window} keeps every constraint</i></div>"
    head = "".join(f"<th>{h}</th>" for h in ("column", "kind", "description"))
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v.get(k) or ''))}</td>"
            for k in ("column", "kind", "description")
        )
        + "</tr>"
        for v in found
    )
    more = ""
    if count > len(found):
        more = f"<div class='nbm-more'>{len(found):,} of {count:,} violations listed</div>"
    return (
        f"{table_css('nbm-violations-table')}<table class='nbm-table nbm-violations-table'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"
    )


def banner_html(board: Dashboard) -> str:
    """The loud line above everything when the model-version guard fired."""
    found = board.model_alerts
    if not found:
        return ""
    newest = found[0]
    more = f" ({len(found):,} model-version alerts)" if len(found) > 1 else ""
    text = f"⚠ MODEL VERSION ALERT, window {newest.get('window')}: {newest.get('message')}{more}"
    return f"<div class='nbm-banner' style='{LOUD}'>{html.escape(text)}</div>"


def header_html(board: Dashboard) -> str:
    lines = "".join(f"<div>{html.escape(line)}</div>" for line in board.summary())
    return (
        f"{_STYLE}<div class='nbm-monitor-header'><b>{lines}</b>"
        f"<div class='nbm-muted'>{html.escape(board.threshold_text())}</div>"
        f"{banner_html(board)}</div>"
    )


def windows_table_html(board: Dashboard, limit: int = STATIC_WINDOWS) -> str:
    """The latest windows, newest first: rows, labelled rows, metrics, drift share, alerts."""
    columns = ["window", "rows", "labelled", *board.metrics, "drift_share", "alerts"]
    head = "".join(f"<th>{html.escape(label(c))}</th>" for c in columns)
    body = []
    for rec in reversed(board.records[-limit:]):
        cells = [cell(rec.get(c)) for c in columns[:-1]] + [str(len(rec.get("alerts") or []))]
        klass = " class='nbm-alerted'" if rec.get("alerts") else ""
        body.append(f"<tr{klass}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    more = ""
    if len(board.records) > limit:
        more = f"<div class='nbm-more'>the latest {limit} of {len(board.records):,} windows</div>"
    return (
        f"{table_css('nbm-windows-table')}<table class='nbm-table nbm-windows-table'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"
    )


def windows_text(board: Dashboard, limit: int = STATIC_WINDOWS) -> str:
    columns = ["window", "rows", "labelled", *board.metrics, "drift_share", "alerts"]
    rows = [
        [cell(rec.get(c)) for c in columns[:-1]] + [str(len(rec.get("alerts") or []))]
        for rec in reversed(board.records[-limit:])
    ]
    return text_table([label(c) for c in columns], rows)


# ---------------------------------------------------------------------- the widget
class MonitoringWidget(StaticFallback, widgets.VBox):
    """A Monitor's dashboard: timelines, one window's feature drift and distributions, alerts.

    `window` (an index or label; the latest by default) and `feature` (the most drifted by
    default) say what the lower half shows first. `select_window` and `select_feature` change
    it, as the slider and the dropdown do; `refresh()` reads the monitor's windows again.
    """

    def __init__(
        self, monitor: Any, *, window: int | str | None = None, feature: str | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        self.monitor = monitor
        self.board = Dashboard(monitor)
        self._rows: dict[int, Any] = {}
        self.position = self.board.position(window) if self.board.records else -1
        self.feature_name = feature if feature in self.board.features else self.default_feature()
        # every part is built with its first content: it travels in the opening messages
        self.header = widgets.HTML(
            header_html(self.board), layout=widgets.Layout(flex="1 1 auto", min_width="0")
        )
        self.refresh_button = widgets.Button(
            description="refresh", icon="refresh", tooltip="read the monitor's windows again",
            layout=widgets.Layout(width="auto", flex="0 0 auto"),
        )  # fmt: skip
        self.timeline = Chart("nbm-monitor-timeline", content=timeline_content(self.board))
        last = max(0, len(self.board.records) - 1)
        self.slider = widgets.IntSlider(
            value=max(0, self.position), min=0, max=last, readout=False,
            continuous_update=False, description="window", layout=widgets.Layout(width="340px"),
        )  # fmt: skip
        self.prev_button = widgets.Button(description="◀", layout=widgets.Layout(width="36px"))
        self.next_button = widgets.Button(description="▶", layout=widgets.Layout(width="36px"))
        self.window_label = widgets.HTML(self.window_html())
        self.table = widgets.HTML(
            self.table_html(), layout=widgets.Layout(max_height="420px", overflow="auto")
        )
        options = self.board.features[:TABLE_FEATURES]
        if self.feature_name and self.feature_name not in options:
            options.append(self.feature_name)
        self.feature = widgets.Dropdown(
            options=options or [""], value=self.feature_name or "", description="feature"
        )
        self.distribution = Chart("nbm-monitor-distribution", content=self.distribution_now())
        self.violations = widgets.HTML(
            violations_html(self.record),
            layout=widgets.Layout(max_height="240px", overflow="auto"),
        )
        self.alerts = widgets.HTML(
            alerts_html(self.board.alerts, LIVE_ALERTS),
            layout=widgets.Layout(max_height="360px", overflow="auto"),
        )
        self.slider.observe(self._on_slider, "value")
        self.feature.observe(self._on_feature, "value")
        self.prev_button.on_click(lambda _: self.step(-1))
        self.next_button.on_click(lambda _: self.step(1))
        self.refresh_button.on_click(lambda _: self.refresh())
        self.window_controls = widgets.HBox(
            [self.prev_button, self.slider, self.next_button, self.window_label],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        lower = widgets.HBox(
            [
                widgets.VBox([self.table], layout=widgets.Layout(flex="1 1 640px", min_width="0")),
                widgets.VBox(
                    [self.feature, self.distribution],
                    layout=widgets.Layout(flex="1 1 400px", min_width="0"),
                ),
            ],
            layout=widgets.Layout(flex_flow="row wrap"),
        )
        self.drift_section = [
            widgets.HTML("<b>Feature drift of one window</b>"),
            self.window_controls,
            lower,
            widgets.HTML("<b>Constraint violations of that window</b>"),
            self.violations,
        ]
        children: list[Any] = [widgets.HBox([self.header, self.refresh_button]), self.timeline]
        if self.board.records:  # else it comes with the first window (`refresh`)
            children += self.drift_section
        children += [widgets.HTML("<b>Alerts, newest first</b>"), self.alerts]
        kwargs.setdefault("_dom_classes", ("nbm-monitor-widget", "nbm-monitor"))
        super().__init__(children, **kwargs)

    # ------------------------------------------------------------------ what is shown
    @property
    def record(self) -> Mapping[str, Any] | None:
        """The record of the window the lower half shows (None before any window)."""
        return self.board.records[self.position] if self.position >= 0 else None

    @property
    def report(self) -> DriftReport | None:
        record = self.record
        return None if record is None else self.board.report(record)

    def default_feature(self) -> str | None:
        """The most drifted feature of the window shown, else the first feature."""
        report = self.report
        if report is not None:
            for column in ordered_columns(report):
                if column.test is not None and column.column in self.board.features:
                    return column.column
        return self.board.features[0] if self.board.features else None

    def window_html(self) -> str:
        record = self.record
        if record is None:
            return ""
        n = len(self.board.records)
        return (
            f"<span>{html.escape(window_line(record, self.board.metrics))} "
            f"<span class='nbm-muted'>({self.position + 1:,} of {n:,})</span></span>"
        )

    def table_html(self) -> str:
        return drift_table_html(self.report) if self.record is not None else ""

    def rows_of(self, record: Mapping[str, Any]) -> Any:
        """The window's rows (read through `Monitor.window_rows`, a few windows kept)."""
        index = int(record["index"])
        if index not in self._rows:
            if len(self._rows) >= ROWS_CACHED:
                self._rows.pop(next(iter(self._rows)))
            self._rows[index] = self.monitor.window_rows(index)
        return self._rows[index]

    def distribution_now(self) -> Content:
        """The reference and window distributions of the feature chosen (or a note why not)."""
        record, name = self.record, self.feature_name
        if record is None or not name:
            return note("no window to show yet")
        window = str(record.get("window"))
        try:
            rows = self.rows_of(record)
            reference = self.monitor.reference()
        except MonitorError as exc:
            return note(f"the rows of window {window} cannot be read: {exc}")
        if name not in rows.columns or name not in reference.columns:
            return note(f"window {window} has no column {name}")
        report = self.report
        kind = None
        if report is not None:
            kind = next((c.kind for c in report.columns if c.column == name), None)
        return distribution_content(distribution(reference[name], rows[name], kind), name, window)

    # ------------------------------------------------------------------ changing it
    def select_window(self, window: int | str | None) -> None:
        """Show window `window` (an index or a label; None: the latest) in the lower half."""
        self.slider.value = self.board.position(window)

    def select_feature(self, feature: str) -> None:
        if feature not in self.board.features:
            raise MonitorError(f"monitor {self.board.name} has no feature {feature!r}")
        if feature in self.feature.options:
            self.feature.value = feature
        else:  # beyond the dropdown's first TABLE_FEATURES: shown all the same
            self.feature_name = feature
            self.distribution.show(self.distribution_now())

    def step(self, by: int) -> None:
        self.slider.value = min(max(0, self.slider.value + by), self.slider.max)

    def _on_slider(self, change: Any) -> None:
        self.position = int(change["new"])
        self.window_label.value = self.window_html()
        self.table.value = self.table_html()
        self.violations.value = violations_html(self.record)
        self.distribution.show(self.distribution_now())

    def _on_feature(self, change: Any) -> None:
        if change["new"] and change["new"] != self.feature_name:
            self.feature_name = change["new"]
            self.distribution.show(self.distribution_now())

    def refresh(self) -> None:
        """Read the monitor's windows again and show the latest window."""
        self.board = Dashboard(self.monitor)
        self._rows.clear()
        self.header.value = header_html(self.board)
        self.timeline.show(timeline_content(self.board))
        self.alerts.value = alerts_html(self.board.alerts, LIVE_ALERTS)
        if not self.board.records:
            return
        latest = len(self.board.records) - 1
        self.slider.max = latest
        if self.slider.value != latest:
            self.slider.value = latest  # redraws the lower half
        else:
            self._on_slider({"new": latest})
        if self.drift_section[0] not in self.children:
            self.children = (*self.children[:2], *self.drift_section, *self.children[2:])

    # ------------------------------------------------------------------ static
    def _fallback_html(self) -> str:
        return static_html(
            self.board,
            self.timeline.outputs[-1]["data"]["text/html"],
            self.record,
            self.distribution.outputs[-1]["data"]["text/html"],
        )

    def _fallback_text(self) -> str:
        return static_text(self.board, self.record)


def static_html(
    board: Dashboard, timeline: str, record: Mapping[str, Any] | None, distribution: str
) -> str:
    """The dashboard without a kernel: header, the timelines as SVG, the latest windows, one
    window's feature drift with a distribution, and the newest alerts; bounded, escaped."""
    parts = [f"<div class='nbm-monitor nbm-monitor-static'>{header_html(board)}", timeline]
    if board.records:
        parts.append("<div><b>Latest windows</b></div>" + windows_table_html(board))
    if record is not None:
        title = f"Feature drift of window {record.get('window')}"
        parts.append(f"<div><b>{html.escape(title)}</b></div>")
        report = board.report(record)
        parts.append(drift_table_html(report, TABLE_FEATURES) + distribution)
        named = html.escape(str(record.get("window")))
        parts.append(f"<div><b>Constraint violations of window {named}</b></div>")
        parts.append(violations_html(record))
    parts.append("<div><b>Alerts, newest first</b></div>")
    parts.append(alerts_html(board.alerts, STATIC_ALERTS))
    parts.append("</div>")
    return "".join(parts)


def static_text(board: Dashboard, record: Mapping[str, Any] | None) -> str:
    lines = [*board.summary(), board.threshold_text()]
    for alert in board.model_alerts[:1]:
        lines.append(
            f"!!! MODEL VERSION ALERT, window {alert.get('window')}: {alert.get('message')}"
        )
    if board.records:
        lines.append(windows_text(board))
    if record is not None:
        report = board.report(record)
        if report is not None:
            lines.append(f"window {record.get('window')}: {report.summary()[0]}")
        count = int(record.get("violation_count") or 0)
        lines.append(f"window {record.get('window')}: {count:,} constraint violations")
        for v in (record.get("violations") or [])[:5]:
            lines.append(f"  {v.get('kind')}: {v.get('description')}")
    alerts = board.alerts
    for alert in alerts[:10]:
        lines.append(f"ALERT {alert.get('window')}: {alert.get('message')}")
    if len(alerts) > 10:
        lines.append(f"... and {len(alerts) - 10:,} older alerts")
    return "\n".join(lines)
