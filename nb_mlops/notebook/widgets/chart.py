"""Charts as plain JSON specs: the mime types shared with the front-end extension, run colours,
the chart holder and the one place line-chart specs are built (curves, run detail, live chart).

A chart is a plotly figure spec as plain JSON (`{"data": [...], "layout": {...}}`: lists of
floats, None for gaps, no numpy), drawn by our labextension (`CHART_MIME`, plotly.js loaded once
per page). Its bundle also holds `text/html` (inline SVG and a caption in plain text, which
survives a sanitizer that strips SVG) and `text/plain`, shown where the extension is missing.
The layout names no background or font colours: the front end themes them. Top-level widgets
are shown through `VIEW_MIME` (see render.py). Both names are fixed by the issue 11 contract.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import numpy as np

from nb_mlops.downsample import downsample
from nb_mlops.svgchart import PALETTE, line_chart

CHART_MIME = "application/vnd.nbmlops.chart+json"
VIEW_MIME = "application/vnd.nbmlops.view+json"

__all__ = [
    "CHART_MIME",
    "VIEW_MIME",
    "Chart",
    "Content",
    "Line",
    "Panel",
    "chart_data",
    "metric_kind",
    "metric_panels",
    "note",
    "numbers",
    "panels_caption",
    "panels_html",
    "panels_spec",
    "run_color",
    "x_span",
]

DIGITS = 6  # significant digits kept in a chart's values: far finer than a pixel
SVG_POINTS = 120  # per series in the static SVG (a 320 px wide drawing)
SVG_PANELS = 6  # the static form draws this many charts at most (the caption names them all)
ROW_HEIGHT = 250  # px per row of small charts
FAINT = 0.3  # opacity of a raw curve drawn under its smoothed one
_KIND_ALIASES = {"accuracy": "acc", "err": "error", "ppl": "perplexity"}
_KINDS = {
    "loss", "acc", "error", "f1", "auc", "precision", "recall", "lr", "mse", "mae", "rmse",
    "perplexity", "iou", "bleu", "reward", "score",
}  # fmt: skip
_SPLITS = {"train", "training", "val", "valid", "validation", "eval", "test", "dev"}


def run_color(position: int) -> str:
    """The colour of the run at `position` in `comparison.run_ids()` (never selection order)."""
    return PALETTE[position % len(PALETTE)]


def numbers(values: Iterable[Any], digits: int = DIGITS) -> list[Any]:
    """Values as JSON-ready numbers: ints stay ints, floats keep `digits` significant digits,
    NaN and infinities become None (a gap)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return arr.tolist()
    out: list[Any] = []
    for v in arr.astype(np.float64).tolist():
        out.append(float(f"{v:.{digits}g}") if math.isfinite(v) else None)
    return out


def metric_kind(name: str) -> str:
    """What a metric measures, so metrics of one kind share an axis: `val/loss` -> `loss`.

    Split prefixes (train, val, test...) are dropped; a known kind word (loss, acc, f1...) wins;
    otherwise the rest of the name is the kind.
    """
    parts = [p for p in re.split(r"[/._\-\s]+", name.lower()) if p]
    parts = [_KIND_ALIASES.get(p, p) for p in parts if p not in _SPLITS]
    for part in parts:
        if part in _KINDS:
            return part
    return "_".join(parts) or name


# ------------------------------------------------------------------ specs
@dataclass
class Line:
    """One curve of a panel: JSON-ready x and y, its colour, and (optionally) the raw curve
    under it. `group` ties the curves of one run across panels (one legend entry)."""

    name: str
    x: list[Any]
    y: list[Any]
    color: str
    group: str | None = None
    raw: tuple[list[Any], list[Any]] | None = None
    meta: str | None = None


@dataclass
class Panel:
    """One small chart: a title, a y-axis title and its lines."""

    title: str
    y_title: str
    lines: list[Line] = field(default_factory=list)


def _axis_names(k: int) -> tuple[str, str, str, str]:
    """Layout keys and trace references of panel k: ('xaxis2', 'yaxis2', 'x2', 'y2')."""
    n = "" if k == 0 else str(k + 1)
    return f"xaxis{n}", f"yaxis{n}", f"x{n}", f"y{n}"


def _traces(panels: Sequence[Panel]) -> list[dict[str, Any]]:
    """The traces of every panel, each on its panel's axes; one legend entry per group."""
    traces: list[dict[str, Any]] = []
    legend_seen: set[str] = set()
    for k, panel in enumerate(panels):
        _, _, xref, yref = _axis_names(k)
        where = {"xaxis": xref, "yaxis": yref} if k else {}
        for line in panel.lines:
            group = line.group or line.name
            common = {"name": html.escape(line.name), "legendgroup": group, **where}
            if line.raw is not None:
                traces.append(_raw_trace(line, common))
            traces.append(_trace(line, common, legend=group not in legend_seen))
            legend_seen.add(group)
    return traces


def _raw_trace(line: Line, common: dict[str, Any]) -> dict[str, Any]:
    """The unsmoothed curve: faint, thin, no legend entry and no hover of its own."""
    assert line.raw is not None
    return {
        "type": "scatter",
        "mode": "lines",
        "x": line.raw[0],
        "y": line.raw[1],
        **common,
        "showlegend": False,
        "opacity": FAINT,
        "hoverinfo": "skip",
        "line": {"color": line.color, "width": 1},
    }


def _trace(line: Line, common: dict[str, Any], *, legend: bool) -> dict[str, Any]:
    """The curve drawn (names are escaped: plotly.js reads them as HTML); a lone point is a dot."""
    single = len(line.x) <= 1
    trace = {
        "type": "scatter",
        "mode": "markers" if single else "lines",
        "x": line.x,
        "y": line.y,
        **common,
        "showlegend": legend,
        "line": {"color": line.color, "width": 1.5},
    }
    if single:
        trace["marker"] = {"color": line.color, "size": 6}
    if line.meta is not None:
        trace["meta"] = line.meta
    return trace


def panels_spec(
    panels: Sequence[Panel],
    *,
    x_title: str,
    columns: int = 3,
    row_height: int = ROW_HEIGHT,
    title: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """A grid of small charts (one per panel, `columns` wide) as one plotly spec.

    Each panel has its own axes (labelled: `x_title`, the panel's y title) and a title above;
    one legend for all (one entry per group). `note` is shown in the middle when there is
    nothing to draw.
    """
    n = max(1, len(panels))
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    top = 28 + (20 if len(panels) > 1 else 0) + (24 if title else 0)  # the modebar, titles
    legend_h = 40
    height = rows * row_height + top + legend_h
    layout: dict[str, Any] = {
        "height": height,
        "autosize": True,
        "margin": {"l": 56, "r": 16, "t": top, "b": legend_h + 8},
        "hovermode": "closest",
        "hoverlabel": {"namelength": -1},
        "showlegend": True,
        "legend": {"orientation": "h", "x": 0, "y": -legend_h / (height - top - legend_h)},
    }
    if title:
        layout["title"] = {"text": html.escape(title), "font": {"size": 13}, "x": 0.01}
    annotations = []
    for k, panel in enumerate(panels or [Panel("", "")]):
        x0, x1, y0, y1 = _domain(k, rows, cols)
        xkey, ykey, xref, yref = _axis_names(k)
        layout[xkey] = _axis([x0, x1], yref, x_title, standoff=4)
        layout[ykey] = _axis([y0, y1], xref, panel.y_title)
        if len(panels) > 1 and panel.title:
            at = {"x": round((x0 + x1) / 2, 4), "y": round(y1, 4), "yanchor": "bottom"}
            annotations.append(_label(f"<b>{html.escape(panel.title)}</b>", **at))
    if note:
        annotations.append(_label(html.escape(note), x=0.5, y=0.5))
    if annotations:
        layout["annotations"] = annotations
    return {"data": _traces(panels), "layout": layout}


def _domain(k: int, rows: int, cols: int) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) of panel k in the grid, in paper units: gaps between panels for the
    tick labels, axis titles and the next row's panel titles (~80 px)."""
    gap_x, gap_y = 0.09, 0.32 / max(rows, 2)
    r, c = divmod(k, cols)
    x0 = c / cols + (gap_x / 2 if c else 0)
    x1 = (c + 1) / cols - (gap_x / 2 if c < cols - 1 else 0)
    y1 = 1 - r / rows - (gap_y / 2 if r else 0)
    y0 = 1 - (r + 1) / rows + (gap_y / 2 if r < rows - 1 else 0)
    return x0, x1, y0, y1


def _axis(domain: list[float], anchor: str, title: str, **title_opts: Any) -> dict[str, Any]:
    return {
        "domain": [round(v, 4) for v in domain],
        "anchor": anchor,
        "title": {"text": html.escape(title), **title_opts},
        "automargin": True,
    }


def _label(text: str, **where: Any) -> dict[str, Any]:
    """A text centred at a point of the chart (paper units): a panel title, a note."""
    return {
        "text": text,
        "showarrow": False,
        "xref": "paper",
        "yref": "paper",
        "xanchor": "center",
        **where,
    }


def metric_panels(
    series: dict[str, tuple[Any, Any]], *, max_points: int, max_panels: int = 9
) -> list[Panel]:
    """One run's metrics as small charts, one per metric kind (`metric_kind`): train and val
    loss share a chart and an axis, accuracy gets its own. `series` maps a metric name to its
    (steps, values) in the order that gives each metric its colour; each curve is sorted by
    step and downsampled to `max_points`."""
    panels: dict[str, Panel] = {}
    for i, (name, (steps, values)) in enumerate(series.items()):
        kind = metric_kind(name)
        if kind not in panels:
            if len(panels) >= max_panels:
                continue
            panels[kind] = Panel(kind, kind)
        x = np.asarray(steps)
        y = np.asarray(values, dtype=np.float64)
        order = np.argsort(x, kind="stable")
        x, y = downsample(x[order], y[order], max_points)
        panels[kind].lines.append(Line(name, numbers(x, 10), numbers(y), run_color(i)))
    return list(panels.values())


def _svg_series(line: Line) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(line.x, dtype=np.float64)
    y = np.asarray(line.y, dtype=np.float64)
    return downsample(x, y, SVG_POINTS)


def panels_html(panels: Sequence[Panel], *, x_title: str, caption: str, width: int = 320) -> str:
    """The static form of a grid of charts: one inline SVG per panel (the first `SVG_PANELS`)
    and a plain-text caption, which a sanitizer that strips SVG leaves."""
    svgs = []
    for panel in panels[:SVG_PANELS]:
        series: dict[str, tuple[Any, Any]] = {}
        colors: list[str] = []
        for line in panel.lines:
            name = line.name
            while name in series:  # two runs with one label: both drawn
                name += " "
            series[name] = _svg_series(line)
            colors.append(line.color)
        svgs.append(
            line_chart(
                series,
                title=panel.title,
                width=width,
                height=210,
                x_label=x_title,
                colors=colors,
            )
        )
    body = "".join(svgs)
    return (
        "<div class='nbm-chart-static'>"
        f"<div style='display:flex;flex-wrap:wrap;gap:8px'>{body}</div>"
        f"<div class='nbm-caption'>{html.escape(caption)}</div></div>"
    )


def panels_caption(panels: Sequence[Panel], *, x_title: str, what: str = "run") -> str:
    """A short text form of a grid: `loss, acc: 5 runs, steps 0–99`."""
    if not panels:
        return "no curves"
    groups = {line.group or line.name for p in panels for line in p.lines}
    names = ", ".join(p.title for p in panels[:4]) + (
        f" and {len(panels) - 4} more" if len(panels) > 4 else ""
    )
    text = f"{names}: {len(groups)} {what}{'s' if len(groups) != 1 else ''}"
    span = x_span(panels, x_title=x_title)
    return f"{text}, {span}" if span else text


def x_span(panels: Sequence[Panel], *, x_title: str) -> str:
    """The x range drawn, as text: `steps 0–99` (`seconds …` on a time axis); "" if none."""
    ends = [v for p in panels for ln in p.lines for v in ln.x[:1] + ln.x[-1:] if v is not None]
    if not ends:
        return ""
    unit = "steps" if x_title == "step" else "seconds"
    return f"{unit} {min(ends):.4g}–{max(ends):.4g}"


def chart_data(spec: dict[str, Any] | None, static_html: str, text: str) -> dict[str, Any]:
    """A chart's mime data: the spec for our extension, static HTML and text for the rest."""
    data: dict[str, Any] = {}
    if spec is not None:
        data[CHART_MIME] = spec
    data["text/html"] = static_html
    data["text/plain"] = f"<chart: {text}>" if spec is not None else text
    return data


# ------------------------------------------------------------------ the holder
@dataclass(frozen=True)
class Content:
    """What a `Chart` shows: a spec (None for a note) with its static HTML and text, and an
    optional heading above it."""

    spec: dict[str, Any] | None
    static_html: str
    text: str
    heading: str = ""

    def outputs(self) -> tuple[dict[str, Any], ...]:
        """The Output widget's outputs: the heading (if any), then the chart."""
        out = []
        if self.heading:
            esc = html.escape(self.heading)
            head = f"<div class='nbm-caption'><b>{esc}</b></div>"
            out.append(_display({"text/html": head, "text/plain": self.heading}))
        out.append(_display(chart_data(self.spec, self.static_html, self.text)))
        return tuple(out)


def note(text: str) -> Content:
    """A short note in place of a chart."""
    return Content(None, f"<div class='nbm-note'><i>{html.escape(text)}</i></div>", text)


class Chart(widgets.Output):
    """An `Output` widget holding one chart (or a note), set by assigning its outputs.

    The first content and the CSS classes are given to the constructor, so they travel in the
    widget's opening message; `show` replaces the content in one message (never `with out:`/
    `clear_output`, which cost several), and content equal to what is shown is not sent again.
    `spec` is the chart shown (None for a note), `text` its caption.
    """

    def __init__(self, *classes: str, content: Content | None = None, **kwargs: Any) -> None:
        self.spec: dict[str, Any] | None = None
        self.text = ""
        if content is not None:
            self.spec, self.text = content.spec, content.text
            kwargs["outputs"] = content.outputs()
        super().__init__(_dom_classes=("nbm-chart", *classes), **kwargs)

    def show(self, content: Content) -> bool:
        """Show this content; True if it was sent (it differs from what is shown)."""
        self.spec, self.text = content.spec, content.text
        new = content.outputs()
        if new == self.outputs:
            return False
        self.outputs = new
        return True

    def note(self, text: str) -> bool:
        """Show a short note instead of a chart."""
        return self.show(note(text))


def _display(data: dict[str, Any]) -> dict[str, Any]:
    return {"output_type": "display_data", "data": data, "metadata": {}}
