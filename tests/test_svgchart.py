"""Static SVG charts: well-formed, escaped, bounded in size, honest about gaps."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np

from nb_mlops.svgchart import MAX_CHART_POINTS, PALETTE, line_chart, sparkline

NS = "{http://www.w3.org/2000/svg}"
EVIL = "<img src=x onerror=alert(1)>"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{NS}svg"
    return root


def polylines(root: ET.Element) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in el.get("points").split()]
        for el in root.iter(f"{NS}polyline")
    ]


def texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{NS}text")]


def test_line_chart_one_polyline_per_series_with_legend_and_ticks() -> None:
    svg = line_chart(
        {"run a": ([0, 1, 2, 3], [1.0, 0.5, 0.25, 0.125]), "run b": ([0, 2], [2.0, 1.0])},
        title="loss",
        x_label="step",
    )
    root = parse(svg)
    lines = polylines(root)
    assert len(lines) == 2 and len(lines[0]) == 4 and len(lines[1]) == 2
    labels = texts(root)
    assert "loss" in labels and "step" in labels
    assert "run a" in labels and "run b" in labels  # legend
    assert {"0.125", "2", "0", "3"} <= set(labels)  # min/max ticks of both axes
    strokes = [el.get("stroke") for el in root.iter(f"{NS}polyline")]
    assert strokes == [PALETTE[0], PALETTE[1]]
    # points stay inside the canvas
    width, height = float(root.get("width")), float(root.get("height"))
    for line in lines:
        assert all(0 <= px <= width and 0 <= py <= height for px, py in line)


def test_line_chart_takes_the_colours_given() -> None:
    svg = line_chart({"a": ([0, 1], [1, 2]), "b": ([0, 1], [2, 1])}, colors=["#111111", "#222222"])
    assert 'stroke="#111111"' in svg and 'stroke="#222222"' in svg
    assert PALETTE[0] not in svg
    default = line_chart({"a": ([0, 1], [1, 2])})
    assert f'stroke="{PALETTE[0]}"' in default


def test_line_chart_escapes_every_label() -> None:
    svg = line_chart({EVIL: ([0, 1], [1, 2])}, title=EVIL, x_label=EVIL)
    assert "<img" not in svg
    assert "&lt;img src=x onerror=alert(1)&gt;" in svg
    root = parse(svg)
    assert EVIL in texts(root)  # shown as text
    assert root.get("aria-label") == EVIL


def test_line_chart_leaves_gaps_at_nan_and_dots_lone_points() -> None:
    nan = math.nan
    svg = line_chart({"s": ([0, 1, 2, 3, 4, 5, 6], [1, 2, nan, 3, 4, math.inf, 5])})
    root = parse(svg)
    assert [len(p) for p in polylines(root)] == [2, 2]  # 0-1 and 3-4; 6 alone
    assert len(list(root.iter(f"{NS}circle"))) == 1
    single = parse(line_chart({"one": ([3], [0.5])}))
    assert not polylines(single) and len(list(single.iter(f"{NS}circle"))) == 1


def test_line_chart_downsamples_long_series() -> None:
    x = np.arange(200_000)
    y = np.sin(x / 500.0)
    root = parse(line_chart({"a": (x, y), "b": (x, -y)}))
    lines = polylines(root)
    assert len(lines) == 2 and all(len(p) <= MAX_CHART_POINTS for p in lines)
    assert len(lines[0]) > MAX_CHART_POINTS // 2


def test_line_chart_empty_and_constant_series() -> None:
    empty = parse(line_chart({}))
    assert "no data" in texts(empty)
    nothing = parse(line_chart({"x": ([0, 1], [math.nan, math.nan])}, title="t"))
    assert "no data" in texts(nothing)
    flat = parse(line_chart({"x": ([0, 1, 2], [7.0, 7.0, 7.0])}))
    (line,) = polylines(flat)
    assert len({py for _, py in line}) == 1 and all(math.isfinite(v) for p in line for v in p)


def test_legend_wraps_and_cuts_long_names() -> None:
    series = {f"run-{i}-" + "x" * 60: ([0, 1], [i, i + 1]) for i in range(6)}
    root = parse(line_chart(series, width=300))
    legend = [el for el in root.iter(f"{NS}g") if el.get("class") == "nbm-legend"]
    assert len(legend) == 6
    ys = {el.find(f"{NS}text").get("y") for el in legend}
    assert len(ys) > 1  # wrapped onto several rows
    full = [el.find(f"{NS}title").text for el in legend]
    assert full[0] == "run-0-" + "x" * 60  # full name in the tooltip
    assert all(len(el.find(f"{NS}text").text) <= 32 for el in legend)


def test_sparkline() -> None:
    root = parse(sparkline([3.0, 1.0, 2.0, math.nan, 4.0, 5.0]))
    assert root.get("width") == "120" and root.get("height") == "24"
    assert [len(p) for p in polylines(root)] == [3, 2]
    assert not texts(root)
    long = parse(sparkline(np.random.default_rng(0).normal(size=50_000), width=80))
    assert all(len(p) <= 80 for p in polylines(long))
    assert not polylines(parse(sparkline([])))
    assert len(list(parse(sparkline([1.0])).iter(f"{NS}circle"))) == 1


def test_text_and_axes_take_the_page_colour_so_dark_themes_stay_readable() -> None:
    svg = line_chart({"a": ([0, 1], [1, 2])}, title="loss", x_label="step")
    assert 'fill="currentColor"' in svg and 'stroke="currentColor"' in svg
    assert not re.search(r'(fill|stroke)="#(444|222|999)"', svg)
