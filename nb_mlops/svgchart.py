"""Static charts as SVG strings, with no dependencies: what a notebook shows without a kernel.

nbconvert output, GitHub's notebook view and a notebook opened with no network still show these.
Every label (title, axis label, series names) goes through `html.escape`. Colors follow
plotly's default sequence (`PALETTE`), so a run has the same color here and in the widgets.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

from nb_mlops.downsample import lttb

__all__ = ["MAX_CHART_POINTS", "PALETTE", "line_chart", "sparkline"]

PALETTE = (
    "#636efa",
    "#EF553B",
    "#00cc96",
    "#ab63fa",
    "#FFA15A",
    "#19d3f3",
    "#FF6692",
    "#B6E880",
    "#FF97FF",
    "#FECB52",
)
MAX_CHART_POINTS = 500
_FONT = 'font-family="sans-serif" font-size="10" fill="currentColor" fill-opacity="0.75"'
_CHAR_W = 6.0  # average width of a 10px sans-serif character, for laying out the legend
_LEGEND_NAME = 32  # legend names are cut to this many characters (full name in the tooltip)
_LEGEND_LEFT = 52  # the plot's left edge, where legend rows start


def _fmt(v: float) -> str:
    """A tick label: 4 significant digits."""
    return f"{v:.4g}"


def _num(v: float) -> str:
    """An SVG coordinate."""
    return f"{v:.1f}"


def _segments(
    x: Sequence[float], y: Sequence[float], budget: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The unbroken stretches of finite points of (x, y), together at most ~`budget` points."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    n = min(len(xa), len(ya))
    xa, ya = xa[:n], ya[:n]
    ok = np.isfinite(xa) & np.isfinite(ya)
    if not ok.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
    runs = list(zip(edges[::2], edges[1::2], strict=True))
    total = int(ok.sum())
    out = []
    for start, end in runs:
        sx, sy = xa[start:end], ya[start:end]
        if total > budget:
            keep = max(2, round(budget * len(sx) / total))
            sx, sy = lttb(sx, sy, keep)
        out.append((sx, sy))
    return out


def _range(values: list[np.ndarray]) -> tuple[float, float]:
    lo = min(float(v.min()) for v in values)
    hi = max(float(v.max()) for v in values)
    if lo == hi:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    return lo, hi


def line_chart(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "",
    width: int = 420,
    height: int = 220,
    x_label: str = "step",
    colors: Sequence[str] | None = None,
) -> str:
    """An `<svg>` line chart: one polyline per series and unbroken stretch, min/max ticks, legend.

    `series` maps a name to (x, y). Each series is downsampled (LTTB) to at most
    `MAX_CHART_POINTS` points; NaN and infinite values leave gaps; a lone point is a dot.
    `colors` gives each series its colour (in order; default: `PALETTE` by position), so a run
    keeps the colour it has in the widgets.
    """
    palette = list(colors) if colors else PALETTE
    esc = html.escape
    names = list(series)
    # legend layout: entries flow in rows under the plot
    entries = []
    for i, name in enumerate(names):
        label = str(name)
        short = label if len(label) <= _LEGEND_NAME else label[: _LEGEND_NAME - 1] + "…"
        entries.append((i, label, short, 18 + _CHAR_W * len(short)))
    rows: list[list[tuple[int, str, str, float]]] = [[]]
    used = 0.0
    for entry in entries:
        if rows[-1] and used + entry[3] > width - _LEGEND_LEFT - 12:  # the legend starts at x=52
            rows.append([])
            used = 0.0
        rows[-1].append(entry)
        used += entry[3] + 10
    legend_h = 14 * len(rows) if entries else 0
    top = 22 if title else 8
    left, right = _LEGEND_LEFT, 12
    bottom = 30 + legend_h
    plot_w = max(20, width - left - right)
    plot_h = max(20, height - top - bottom)
    height = top + plot_h + bottom

    drawn = {name: _segments(*series[name], MAX_CHART_POINTS) for name in names}
    xs = [sx for segs in drawn.values() for sx, _ in segs]
    ys = [sy for segs in drawn.values() for _, sy in segs]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nbm-chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(title or "chart")}">'
    ]
    if title:
        parts.append(
            f'<text x="{_num(left + plot_w / 2)}" y="14" text-anchor="middle" '
            f'font-family="sans-serif" font-size="12" font-weight="600" fill="currentColor">'
            f"{esc(title)}</text>"
        )
    x0, y0 = left, top + plot_h
    parts.append(
        f'<path d="M{x0} {top}V{y0}H{x0 + plot_w}" fill="none" stroke="currentColor" '
        'stroke-opacity="0.45" stroke-width="1"/>'
    )
    if not xs:
        parts.append(
            f'<text x="{_num(left + plot_w / 2)}" y="{_num(top + plot_h / 2)}" '
            f'text-anchor="middle" {_FONT}>no data</text>'
        )
    else:
        xlo, xhi = _range(xs)
        ylo, yhi = _range(ys)

        def px(v: np.ndarray) -> np.ndarray:
            return left + (v - xlo) / (xhi - xlo) * plot_w

        def py(v: np.ndarray) -> np.ndarray:
            return top + plot_h - (v - ylo) / (yhi - ylo) * plot_h

        parts.append(
            f'<text x="{x0 - 4}" y="{top + 8}" text-anchor="end" {_FONT}>{esc(_fmt(yhi))}</text>'
            f'<text x="{x0 - 4}" y="{y0}" text-anchor="end" {_FONT}>{esc(_fmt(ylo))}</text>'
            f'<text x="{x0}" y="{y0 + 12}" text-anchor="start" {_FONT}>{esc(_fmt(xlo))}</text>'
            f'<text x="{x0 + plot_w}" y="{y0 + 12}" text-anchor="end" {_FONT}>'
            f"{esc(_fmt(xhi))}</text>"
        )
        for i, name in enumerate(names):
            color = esc(palette[i % len(palette)])
            parts.append(f'<g class="nbm-series"><title>{esc(str(name))}</title>')
            for sx, sy in drawn[name]:
                cx, cy = px(sx), py(sy)
                if len(sx) == 1:
                    parts.append(
                        f'<circle cx="{_num(cx[0])}" cy="{_num(cy[0])}" r="2.5" fill="{color}"/>'
                    )
                    continue
                points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(cx, cy, strict=True))
                parts.append(
                    f'<polyline points="{points}" fill="none" stroke="{color}" '
                    'stroke-width="1.5" stroke-linejoin="round"/>'
                )
            parts.append("</g>")
    parts.append(
        f'<text x="{_num(left + plot_w / 2)}" y="{y0 + 24}" text-anchor="middle" {_FONT}>'
        f"{esc(x_label)}</text>"
    )
    for r, row in enumerate(rows):
        lx = float(left)
        ly = y0 + 30 + 14 * r + 8
        for i, label, short, w in row:
            color = esc(palette[i % len(palette)])
            parts.append(
                f'<g class="nbm-legend"><title>{esc(label)}</title>'
                f'<rect x="{_num(lx)}" y="{_num(ly - 7)}" width="12" height="3" fill="{color}"/>'
                f'<text x="{_num(lx + 16)}" y="{_num(ly)}" {_FONT}>{esc(short)}</text></g>'
            )
            lx += w + 10
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values: Sequence[float], width: int = 120, height: int = 24) -> str:
    """A tiny `<svg>` line of `values` (no axes or labels), its last point marked; NaN = gap."""
    y = np.asarray(values, dtype=np.float64).ravel()
    x = np.arange(len(y), dtype=np.float64)
    segs = _segments(x, y, max(2, width))
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nbm-spark" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
    )
    if not segs:
        return head + "</svg>"
    pad = 2.0
    xlo, xhi = (0.0, float(len(y) - 1)) if len(y) > 1 else (-1.0, 1.0)
    ylo, yhi = _range([sy for _, sy in segs])
    parts = [head]
    last = (0.0, 0.0)
    for sx, sy in segs:
        cx = pad + (sx - xlo) / (xhi - xlo) * (width - 2 * pad)
        cy = height - pad - (sy - ylo) / (yhi - ylo) * (height - 2 * pad)
        if len(sx) > 1:
            points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(cx, cy, strict=True))
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{PALETTE[0]}" '
                'stroke-width="1.2"/>'
            )
        else:
            parts.append(
                f'<circle cx="{_num(cx[0])}" cy="{_num(cy[0])}" r="1.2" fill="{PALETTE[0]}"/>'
            )
        last = (float(cx[-1]), float(cy[-1]))
    if len(segs[-1][0]) > 1:
        parts.append(
            f'<circle cx="{_num(last[0])}" cy="{_num(last[1])}" r="1.8" fill="{PALETTE[0]}"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
