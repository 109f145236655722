"""CurvesWidget: a chart per metric, run colours, raw under smoothed, downsampling, time axis."""

from __future__ import annotations

import html
import json

import numpy as np
import pytest

import nb_mlops as nm
from nb_mlops.notebook.widgets.chart import CHART_MIME, VIEW_MIME, run_color
from nb_mlops.notebook.widgets.curves import CurvesWidget
from nb_mlops.notebook.widgets.render import WIDGET_VIEW

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def runs(ws) -> dict[str, str]:
    """Four runs: two short loss curves, a 5,000-point one (evil name), one without loss."""
    ids = {}
    for name, n, offset in (("short-a", 50, 0.0), ("short-b", 80, 1.0), (EVIL, 5000, 2.0)):
        with nm.start_run(name) as run:
            for step in range(n):
                nm.log_metric("loss", offset + 1.0 / (step + 1) + 0.1 * np.sin(step), step=step)
            nm.log_metric("acc", 0.5 + offset / 10)
        ids[name] = run.run_id
    with nm.start_run("no-loss") as run:
        nm.log_metric("acc", 0.9)
    ids["no-loss"] = run.run_id
    return ids


def drawn(widget: CurvesWidget, metric: str | None = None) -> list[dict]:
    """The main (not faint) traces of one panel (the first by default)."""
    index = 0 if metric is None else [p.title for p in widget.panels].index(metric)
    axis = "x" if index == 0 else f"x{index + 1}"
    return [
        t for t in widget.traces if t.get("xaxis", "x") == axis and t.get("hoverinfo") != "skip"
    ]


def test_a_small_chart_per_metric_the_most_shared_first(runs) -> None:
    comparison = nm.compare(runs["short-a"], runs["short-b"], runs["no-loss"])
    widget = CurvesWidget(comparison)
    assert widget.metric.value == ""  # all metrics
    assert widget.panel_metrics() == ["acc", "loss"]  # acc: 3 runs have it, loss: 2
    assert [p.title for p in widget.panels] == ["acc", "loss"]
    loss = drawn(widget, "loss")
    assert [t["meta"] for t in loss] == [runs["short-a"], runs["short-b"]]
    assert [t["name"] for t in loss] == ["short-a", "short-b"]  # legend by run name
    assert [len(t["x"]) for t in loss] == [50, 80] and loss[0]["x"][:3] == [0, 1, 2]
    layout = widget.chart.spec["layout"]
    assert layout["yaxis2"]["title"]["text"] == "loss" and "xaxis3" not in layout
    assert widget.traces_runs == [runs["short-a"], runs["short-b"], runs["no-loss"]]
    legend = [t["legendgroup"] for t in widget.traces if t["showlegend"]]
    assert sorted(legend) == sorted(widget.traces_runs)  # one legend entry per run
    assert "nbm-curves" in widget.chart._dom_classes


def test_one_colour_per_run_whatever_the_selection(runs) -> None:
    comparison = nm.compare()
    position = {r: i for i, r in enumerate(comparison.run_ids())}
    widget = CurvesWidget(comparison, [runs["short-b"], runs["short-a"]], metric="loss")

    def colours() -> dict[str, str]:
        return {t["meta"]: t["line"]["color"] for t in drawn(widget)}

    first = colours()
    assert first == {r: run_color(position[r]) for r in first}
    widget.update([runs["short-a"], runs[EVIL], runs["short-b"]])  # picked in another order
    again = colours()
    assert set(again) == {runs["short-a"], runs[EVIL], runs["short-b"]}
    assert all(again[r] == first[r] for r in first)
    assert again[runs[EVIL]] == run_color(position[runs[EVIL]])


def test_update_redraws_only_what_changed(runs, monkeypatch) -> None:
    comparison = nm.compare()
    widget = CurvesWidget(comparison, [runs["short-a"]], metric="loss")
    sent = []
    widget.chart.observe(lambda change: sent.append(change), "outputs")
    reads = []
    series = comparison.series
    monkeypatch.setattr(comparison, "series", lambda r, m: reads.append(r) or series(r, m))
    widget.update([runs["short-a"]])
    assert sent == [] and reads == []  # the same runs: nothing computed, nothing sent
    widget.update([runs["short-a"], runs["short-b"]])
    assert reads == [runs["short-b"]]  # the curve already drawn is reused
    assert len(sent) == 1  # one message per redraw
    widget.update([])
    assert widget.traces == [] and widget.traces_runs == []
    note = widget.chart.spec["layout"]["annotations"][0]["text"]
    assert "select runs" in note
    widget.update([runs["no-loss"]])
    assert "no selected run logged loss" in widget.chart.spec["layout"]["annotations"][0]["text"]


def test_long_series_are_downsampled(runs) -> None:
    comparison = nm.compare(runs[EVIL])
    single = CurvesWidget(comparison, metric="loss", max_points=2000)
    (trace,) = drawn(single)
    assert len(trace["x"]) == len(trace["y"]) == 2000
    assert trace["x"][0] == 0 and trace["x"][-1] == 4999  # the endpoints survive
    grid = CurvesWidget(comparison)  # small charts: fewer points each
    assert len(drawn(grid, "loss")[0]["y"]) == 500
    size = len(json.dumps(grid.chart.outputs))
    assert size < 60_000  # 5,000 points sent as 500, plus the static SVG


def test_smoothing_draws_the_raw_curve_faintly_under_the_smoothed_one(runs) -> None:
    comparison = nm.compare(runs["short-b"], runs["short-a"])
    widget = CurvesWidget(comparison, metric="loss")
    raw = np.array(drawn(widget)[0]["y"])
    assert len(widget.traces) == 2  # no smoothing: one curve per run
    widget.smoothing.value = 0.9
    traces = widget.traces
    assert len(traces) == 4
    faint, smooth = traces[0], traces[1]
    assert faint["hoverinfo"] == "skip" and faint["opacity"] < 0.5 and not faint["showlegend"]
    assert faint["line"]["color"] == smooth["line"]["color"]
    assert faint["legendgroup"] == smooth["legendgroup"] == runs["short-b"]
    assert np.allclose(faint["y"], raw)
    smoothed = np.array(smooth["y"])
    assert smoothed[0] == pytest.approx(raw[0])  # debiased EMA starts at the first value
    assert np.std(np.diff(smoothed)) < np.std(np.diff(raw))
    widget.smoothing.value = 0.0
    assert len(widget.traces) == 2 and np.allclose(drawn(widget)[0]["y"], raw)


def test_time_axis_is_seconds_since_the_run_started(runs) -> None:
    comparison = nm.compare(runs["short-a"])
    widget = CurvesWidget(comparison, metric="loss")
    widget.xaxis.value = "time"
    x = np.array(drawn(widget)[0]["x"], dtype=float)
    assert widget.chart.spec["layout"]["xaxis"]["title"]["text"] == "seconds since the run started"
    assert (x >= 0).all() and (x < 60).all() and (np.diff(x) >= 0).all()
    assert not np.array_equal(x, np.arange(50))
    assert "seconds" in widget.chart.text
    widget.xaxis.value = "step"
    assert drawn(widget)[0]["x"][:2] == [0, 1]


def test_picking_a_metric_draws_it_alone(runs) -> None:
    comparison = nm.compare(runs["short-a"], runs["no-loss"])
    widget = CurvesWidget(comparison)
    assert len(widget.panels) == 2
    widget.metric.value = "acc"
    assert [p.title for p in widget.panels] == ["acc"]
    assert [t["meta"] for t in widget.traces] == [runs["short-a"], runs["no-loss"]]
    assert all(t["mode"] == "markers" for t in widget.traces)  # lone points are dots
    assert "annotations" not in widget.chart.spec["layout"]  # the axis names it


def test_same_names_are_told_apart_by_id(ws) -> None:
    ids = []
    for _ in range(2):
        with nm.start_run("twin") as run:
            nm.log_metric("loss", 1.0)
        ids.append(run.run_id)
    widget = CurvesWidget(nm.compare(*ids))
    assert sorted(t["name"] for t in widget.traces) == sorted(f"twin ({i})" for i in ids)


def test_names_are_escaped_and_the_bundle_is_the_view_plus_svg(runs) -> None:
    comparison = nm.compare(runs[EVIL])
    widget = CurvesWidget(comparison, metric="loss")
    assert drawn(widget)[0]["name"] == html.escape(EVIL)
    data = widget.chart.outputs[0]["data"]
    assert CHART_MIME in data and EVIL not in data["text/html"] and "<svg" in data["text/html"]
    bundle = widget._repr_mimebundle_()
    view = {"model_id": widget.model_id, "version_major": 2, "version_minor": 0}
    assert bundle[VIEW_MIME] == view
    assert WIDGET_VIEW not in bundle
    assert "<svg" in bundle["text/html"] and EVIL not in bundle["text/html"]
    assert bundle["text/plain"] == "curves: loss: 1 run, steps 0–4999"
