"""LeaderboardWidget: arena ratings as a table, an interval chart and a win-rate heatmap.

The table is the ArenaRatings' own HTML; the two charts are plotly specs under our chart mime
(`CHART_MIME`), each with a static form (an inline SVG of the intervals, the escaped win-rate
table). A toggle orders all three by rating or by name. Charts carry the best rated models
only (`CHART_MODELS`, `HEATMAP_MODELS`): the payload stays small however many models fought.
The static fallback of the whole widget is the result's `to_html()`.
"""

from __future__ import annotations

import html
import math
from typing import Any

import ipywidgets as widgets

from nb_mlops.notebook.widgets.chart import Chart, Content, numbers
from nb_mlops.notebook.widgets.render import StaticFallback
from nb_mlops.svgchart import PALETTE

CHART_MODELS = 50
"""Models the interval chart draws (the best rated)."""
HEATMAP_MODELS = 25
"""Models the win-rate heatmap draws (the best rated)."""
CELL_TEXT_MODELS = 12
"""Up to this many models, heatmap cells also print their rate."""
ROW_PX = 22


class LeaderboardWidget(StaticFallback, widgets.VBox):
    """ArenaRatings: leaderboard table, ratings with intervals, observed win rates."""

    def __init__(self, ratings: Any, **kwargs: Any) -> None:
        self.ratings = ratings
        self.fallback = ratings
        self.order = widgets.ToggleButtons(
            options=[("by rating", "rating"), ("by name", "name")], value="rating"
        )
        self.table = widgets.HTML(
            ratings.table_html("rating"), layout=widgets.Layout(overflow="auto")
        )
        self.intervals = Chart("nbm-leaderboard-intervals", content=interval_content(ratings))
        self.heatmap = Chart("nbm-leaderboard-heatmap", content=heatmap_content(ratings))
        self.order.observe(self._on_order, "value")
        super().__init__(
            [self.order, self.table, self.intervals, self.heatmap],
            _dom_classes=("nbm-leaderboard-widget",),
            **kwargs,
        )

    def _on_order(self, change: Any) -> None:
        by = change["new"]
        self.table.value = self.ratings.table_html(by)
        self.intervals.show(interval_content(self.ratings, by))
        self.heatmap.show(heatmap_content(self.ratings, by))


def shown_models(ratings: Any, limit: int, by: str = "rating") -> list[str]:
    """The best `limit` models, ordered by rating (best first) or by name."""
    models = ratings.models[:limit]
    return sorted(models) if by == "name" else models


# ------------------------------------------------------------------ the interval chart
def interval_content(ratings: Any, by: str = "rating") -> Content:
    """Each model's rating as a point, its interval (when known) as a horizontal bar."""
    models = shown_models(ratings, CHART_MODELS, by)
    values = [float(ratings.ratings[m]) for m in models]
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": "markers",
        "orientation": "h",
        "x": numbers(values),
        "y": [html.escape(m) for m in models],  # plotly.js reads labels as HTML
        "marker": {"color": PALETTE[0], "size": 7},
        "hovertemplate": "%{y}: %{x:.1f}<extra></extra>",
    }
    lows = highs = None
    if ratings.intervals is not None:
        lows = [float(ratings.intervals.loc[m, "low"]) for m in models]
        highs = [float(ratings.intervals.loc[m, "high"]) for m in models]
        trace["error_x"] = {
            "type": "data",
            "symmetric": False,
            "array": numbers([h - v for h, v in zip(highs, values, strict=True)]),
            "arrayminus": numbers([v - lo for lo, v in zip(lows, values, strict=True)]),
            "color": PALETTE[0],
            "thickness": 1.5,
            "width": 3,
        }
    height = 70 + ROW_PX * len(models)
    layout = {
        "height": height,
        "autosize": True,
        "margin": {"l": 8, "r": 16, "t": 28, "b": 40},
        "showlegend": False,
        "xaxis": {"title": {"text": "rating"}, "automargin": True, "zeroline": False},
        "yaxis": {"type": "category", "autorange": "reversed", "automargin": True},
    }
    text = _interval_caption(ratings, len(models))
    static = (
        "<div class='nbm-chart-static'>"
        f"{interval_svg(models, values, lows, highs)}"
        f"<div class='nbm-caption'>{html.escape(text)}</div></div>"
    )
    return Content({"data": [trace], "layout": layout}, static, text)


def _interval_caption(ratings: Any, shown: int) -> str:
    what = "ratings with intervals" if ratings.intervals is not None else "ratings"
    total = len(ratings.models)
    of = f"the best {shown} of {total} models" if shown < total else f"{total} models"
    return f"{what} of {of}"


def interval_svg(
    models: list[str],
    values: list[float],
    lows: list[float] | None,
    highs: list[float] | None,
    *,
    width: int = 420,
) -> str:
    """An inline `<svg>` of ratings as dots on a shared axis, intervals as bars."""
    esc = html.escape
    left, right, top, row = 130, 16, 8, 16
    height = top + row * len(models) + 24
    spans = [v for v in values if math.isfinite(v)]
    for side in (lows, highs):
        spans += [v for v in side or [] if math.isfinite(v)]
    lo, hi = (min(spans), max(spans)) if spans else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    plot_w = width - left - right

    def px(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    font = 'font-family="sans-serif" font-size="10" fill="currentColor"'
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nbm-chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="ratings">'
    ]
    color = PALETTE[0]
    for k, (name, value) in enumerate(zip(models, values, strict=True)):
        y = top + row * k + row / 2
        short = name if len(name) <= 22 else name[:21] + "…"
        parts.append(
            f"<g><title>{esc(name)}: {value:.1f}</title>"
            f'<text x="{left - 6}" y="{y + 3:.1f}" text-anchor="end" {font}>{esc(short)}</text>'
        )
        if lows is not None and highs is not None:
            a, b = lows[k], highs[k]
            if math.isfinite(a) and math.isfinite(b):
                parts.append(
                    f'<line x1="{px(a):.1f}" x2="{px(b):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="{color}" stroke-width="1.5"/>'
                )
        if math.isfinite(value):
            parts.append(f'<circle cx="{px(value):.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        parts.append("</g>")
    axis_y = top + row * len(models) + 4
    parts.append(
        f'<path d="M{left} {axis_y}H{left + plot_w}" stroke="currentColor" '
        'stroke-opacity="0.45"/>'
        f'<text x="{left}" y="{axis_y + 14}" {font}>{lo:.0f}</text>'
        f'<text x="{left + plot_w}" y="{axis_y + 14}" text-anchor="end" {font}>{hi:.0f}</text>'
        "</svg>"
    )
    return "".join(parts)


# ------------------------------------------------------------------ the heatmap
HEAT_SCALE = [[0.0, "#db4437"], [0.5, "#f1f1f1"], [1.0, "#4285f4"]]
"""Red where the row model mostly lost, blue where it mostly won."""


def heatmap_content(ratings: Any, by: str = "rating") -> Content:
    """The observed win rate of each row model over each column model, as a heatmap."""
    models = shown_models(ratings, HEATMAP_MODELS, by)
    rates = ratings.win_rates().reindex(index=models, columns=models)
    names = [html.escape(m) for m in models]
    trace: dict[str, Any] = {
        "type": "heatmap",
        "z": [numbers(rates.loc[m].to_numpy(dtype=float), 3) for m in models],
        "x": names,
        "y": names,
        "zmin": 0,
        "zmax": 1,
        "colorscale": HEAT_SCALE,
        "colorbar": {"title": {"text": "win rate"}, "thickness": 12},
        "hovertemplate": "%{y} over %{x}: %{z:.2f}<extra></extra>",
        "xgap": 1,
        "ygap": 1,
    }
    if len(models) <= CELL_TEXT_MODELS:
        trace["texttemplate"] = "%{z:.2f}"
    side = 120 + ROW_PX * len(models)
    layout = {
        "height": side + 40,
        "autosize": True,
        "margin": {"l": 8, "r": 8, "t": 28, "b": 8},
        "xaxis": {"type": "category", "side": "top", "automargin": True, "tickangle": -45},
        "yaxis": {"type": "category", "autorange": "reversed", "automargin": True},
    }
    total = len(ratings.models)
    of = f"the best {len(models)} of {total} models" if len(models) < total else "all models"
    text = f"observed win rates of {of} (row over column, a tie counts half)"
    static = f"<div class='nbm-chart-static'>{ratings.win_rate_html(models)}</div>"
    return Content({"data": [trace], "layout": layout}, static, text)
