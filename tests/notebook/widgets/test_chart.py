"""Charts as plain JSON specs: numbers, run colours, grids of small charts, the chart holder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import sanitized

from nb_mlops.notebook.widgets.chart import (
    CHART_MIME,
    VIEW_MIME,
    Chart,
    Content,
    Line,
    Panel,
    metric_kind,
    metric_panels,
    numbers,
    panels_caption,
    panels_html,
    panels_spec,
    run_color,
)
from nb_mlops.svgchart import PALETTE

EVIL = "<img src=x onerror=alert(1)>"


def walk(value, path=()):
    """Every (path, leaf) of a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, (*path, i))
    else:
        yield path, value


def two_panels() -> list[Panel]:
    loss = Panel(
        "loss",
        "loss",
        [
            Line("a", [0, 1, 2], [1.0, 0.5, None], run_color(0), group="r1", meta="r1"),
            Line(EVIL, [0, 1], [2.0, 1.0], run_color(3), group="r2", raw=([0, 1], [2.5, 0.5])),
        ],
    )
    acc = Panel("acc", "acc", [Line("a", [5], [0.9], run_color(0), group="r1")])
    return [loss, acc]


def test_mime_names_are_the_contracts() -> None:
    assert CHART_MIME == "application/vnd.nbmlops.chart+json"
    assert VIEW_MIME == "application/vnd.nbmlops.view+json"


def test_run_colours_follow_the_position_and_wrap() -> None:
    assert [run_color(i) for i in range(len(PALETTE))] == list(PALETTE)
    assert run_color(len(PALETTE) + 2) == PALETTE[2]


def test_numbers_are_plain_json_with_gaps() -> None:
    out = numbers(np.array([1 / 3, float("nan"), float("inf"), 12345678.9, -2e-9]))
    assert out == [0.333333, None, None, 12345700.0, -2e-9]
    assert all(type(v) in (float, type(None)) for v in out)
    steps = numbers(np.arange(3, dtype=np.int64))
    assert steps == [0, 1, 2] and all(type(v) is int for v in steps)
    assert numbers([]) == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("loss", "loss"),
        ("val/loss", "loss"),
        ("train_loss", "loss"),
        ("val_accuracy", "acc"),
        ("test.acc", "acc"),
        ("lr", "lr"),
        ("grad_norm", "grad_norm"),
        ("val", "val"),
    ],
)
def test_metric_kinds(name: str, kind: str) -> None:
    assert metric_kind(name) == kind


def test_a_grid_is_one_spec_with_an_axis_pair_per_panel() -> None:
    spec = panels_spec(two_panels(), x_title="step", columns=3)
    json.dumps(spec, allow_nan=False)  # plain JSON, no NaN
    traces = spec["data"]
    assert [t.get("xaxis", "x") for t in traces] == ["x", "x", "x", "x2"]
    raw, smooth = traces[1], traces[2]  # the second run: raw under smoothed
    assert raw["opacity"] < 0.5 and raw["showlegend"] is False and raw["hoverinfo"] == "skip"
    assert raw["line"]["color"] == smooth["line"]["color"] == run_color(3)
    assert smooth["name"] == "&lt;img src=x onerror=alert(1)&gt;"
    assert [t["showlegend"] for t in traces] == [True, False, True, False]  # one entry per run
    assert traces[0]["meta"] == "r1" and traces[0]["y"][-1] is None
    assert traces[3]["mode"] == "markers"  # a lone point is a dot
    layout = spec["layout"]
    assert layout["xaxis2"]["anchor"] == "y2" and layout["yaxis2"]["anchor"] == "x2"
    assert layout["yaxis"]["title"]["text"] == "loss"
    assert layout["xaxis2"]["title"]["text"] == "step"
    assert [a["text"] for a in layout["annotations"]] == ["<b>loss</b>", "<b>acc</b>"]
    assert (
        layout["xaxis"]["domain"][1] <= layout["xaxis2"]["domain"][0]
    )  # side by side, not overlapping
    colours = [p for p, v in walk(layout) if any("color" in str(k) for k in p)]
    assert colours == []  # backgrounds and fonts come from the front end's theme


def test_rows_of_panels_and_the_note() -> None:
    panels = [Panel(f"m{i}", f"m{i}", [Line("a", [0, 1], [0.0, 1.0], "#000")]) for i in range(5)]
    layout = panels_spec(panels, x_title="step", columns=3, row_height=200)["layout"]
    assert "yaxis5" in layout and "yaxis6" not in layout
    top, bottom = layout["yaxis"]["domain"], layout["yaxis4"]["domain"]
    assert bottom[1] < top[0]  # the fourth chart starts the second row
    assert layout["height"] >= 400
    empty = panels_spec([], x_title="step", note=EVIL)
    assert empty["data"] == []
    assert empty["layout"]["annotations"][0]["text"] == "&lt;img src=x onerror=alert(1)&gt;"


def test_static_form_is_svg_in_run_colours_and_a_caption_that_survives_sanitizing() -> None:
    panels = two_panels()
    caption = panels_caption(panels, x_title="step")
    assert caption == "loss, acc: 2 runs, steps 0–5"
    static = panels_html(panels, x_title="step", caption=caption)
    assert static.count("<svg") == 2
    assert f'stroke="{run_color(3)}"' in static  # the run's colour, not the series' position
    assert EVIL not in static
    assert caption in sanitized(static)


def test_metric_panels_group_kinds_and_downsample() -> None:
    steps = np.arange(5000)
    series = {
        "train/loss": (steps, 1 / (steps + 1)),
        "acc": ([2, 0, 1], [0.5, 0.1, 0.3]),  # out of order: sorted by step
        "val/loss": (steps[:10], np.ones(10)),
    }
    panels = metric_panels(series, max_points=300)
    assert [(p.title, [ln.name for ln in p.lines]) for p in panels] == [
        ("loss", ["train/loss", "val/loss"]),
        ("acc", ["acc"]),
    ]
    assert len(panels[0].lines[0].x) == 300 and panels[0].lines[0].x[-1] == 4999
    assert panels[1].lines[0].x == [0, 1, 2] and panels[1].lines[0].y == [0.1, 0.3, 0.5]
    colours = [ln.color for p in panels for ln in p.lines]
    assert colours == [run_color(0), run_color(2), run_color(1)]  # by position in `series`


def test_the_holder_sets_one_output_and_sends_nothing_unchanged() -> None:
    spec = panels_spec(two_panels(), x_title="step")
    chart = Chart("nbm-extra", content=Content(spec, "<div>static</div>", "loss: 2 runs"))
    assert chart._dom_classes == ("nbm-chart", "nbm-extra")  # in the opening message
    (out,) = chart.outputs
    assert out["output_type"] == "display_data" and out["metadata"] == {}
    assert out["data"] == {
        CHART_MIME: spec,
        "text/html": "<div>static</div>",
        "text/plain": "<chart: loss: 2 runs>",
    }
    assert chart.spec == spec and chart.text == "loss: 2 runs"
    sent = []
    chart.observe(lambda change: sent.append(change["new"]), "outputs")
    assert chart.show(Content(spec, "<div>static</div>", "loss: 2 runs")) is False
    assert sent == []  # the same content is not sent again
    chart.note(EVIL)
    assert len(sent) == 1
    assert chart.spec is None and CHART_MIME not in chart.outputs[0]["data"]
    assert EVIL not in chart.outputs[0]["data"]["text/html"]
    assert chart.outputs[0]["data"]["text/plain"] == EVIL  # text is text
    chart.show(Content(spec, "s", "t", heading="a figure"))
    heading, body = chart.outputs
    assert "a figure" in heading["data"]["text/html"] and CHART_MIME in body["data"]
    assert Chart().outputs == () and Chart().spec is None
