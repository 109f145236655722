"""CurvesWidget: selection -> traces, downsampling, smoothing, the time axis, escaping."""

from __future__ import annotations

import html

import numpy as np
import pytest

import nb_mlops as nm
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


def test_one_trace_per_selected_run_with_the_metric(runs) -> None:
    comparison = nm.compare(runs["short-a"], runs["short-b"], runs["no-loss"])
    widget = CurvesWidget(comparison, metric="loss")
    traces = widget.traces
    assert len(widget.figure.data) == 2
    assert [t.meta for t in traces] == [runs["short-a"], runs["short-b"]]  # no-loss has none
    assert widget.traces_runs == [runs["short-a"], runs["short-b"]]
    assert [t.name for t in traces] == [
        comparison.label(runs["short-a"]),
        comparison.label(runs["short-b"]),
    ]
    assert [len(t.x) for t in traces] == [50, 80]
    assert list(traces[0].x[:3]) == [0, 1, 2]
    assert widget.figure.layout.yaxis.title.text == "loss"
    assert "nbm-curves" in widget.figure._dom_classes


def test_update_redraws_for_the_new_selection(runs) -> None:
    comparison = nm.compare()
    widget = CurvesWidget(comparison, [runs["short-a"]], metric="loss")
    assert len(widget.traces) == 1
    widget.update([runs["short-b"], runs[EVIL], runs["short-a"]])
    assert [t.meta for t in widget.traces] == [runs["short-b"], runs[EVIL], runs["short-a"]]
    widget.update([])
    assert widget.traces == []
    assert len(widget.figure.data) == 3 and not any(t.visible for t in widget.figure.data)
    assert "select runs" in widget.figure.layout.annotations[0].text
    widget.update([runs["no-loss"]])
    assert "no selected run logged loss" in widget.figure.layout.annotations[0].text


def test_long_series_are_downsampled_to_the_cap(runs) -> None:
    comparison = nm.compare(runs[EVIL])
    widget = CurvesWidget(comparison, metric="loss", max_points=2000)
    (trace,) = widget.traces
    assert len(trace.x) == len(trace.y) == 2000
    assert trace.x[0] == 0 and trace.x[-1] == 4999  # the endpoints survive
    small = CurvesWidget(comparison, metric="loss", max_points=300)
    assert len(small.traces[0].y) == 300


def test_smoothing_changes_y_but_not_the_first_point(runs) -> None:
    comparison = nm.compare(runs["short-b"])
    widget = CurvesWidget(comparison, metric="loss")
    raw = np.array(widget.traces[0].y)
    widget.smoothing.value = 0.9
    smooth = np.array(widget.traces[0].y)
    assert smooth[0] == pytest.approx(raw[0])  # debiased EMA starts at the first value
    assert not np.allclose(smooth, raw)
    assert np.std(np.diff(smooth)) < np.std(np.diff(raw))  # smoother
    widget.smoothing.value = 0.0
    assert np.allclose(widget.traces[0].y, raw)


def test_time_axis_is_seconds_since_the_run_started(runs) -> None:
    comparison = nm.compare(runs["short-a"])
    widget = CurvesWidget(comparison, metric="loss")
    widget.xaxis.value = "time"
    x = np.array(widget.traces[0].x, dtype=float)
    assert widget.figure.layout.xaxis.title.text == "seconds since the run started"
    assert (x >= 0).all() and (x < 60).all()
    assert (np.diff(x) >= 0).all()
    assert x.dtype.kind == "f" and not np.array_equal(x, np.arange(50))
    widget.xaxis.value = "step"
    assert list(widget.traces[0].x[:2]) == [0, 1]


def test_the_metric_dropdown_switches_curves(runs) -> None:
    comparison = nm.compare(runs["short-a"], runs["no-loss"])
    widget = CurvesWidget(comparison, metric="loss")
    assert len(widget.traces) == 1
    widget.metric.value = "acc"
    assert [t.meta for t in widget.traces] == [runs["short-a"], runs["no-loss"]]
    assert [len(t.y) for t in widget.traces] == [1, 1]
    assert widget.traces[0].mode == "markers"  # a lone point is drawn as a dot
    assert widget.figure.layout.yaxis.title.text == "acc"


def test_default_metric_is_one_the_selected_runs_have(runs) -> None:
    comparison = nm.compare(runs["no-loss"])
    assert CurvesWidget(comparison).metric.value == "acc"


def test_names_are_escaped_and_the_fallback_is_an_svg(runs) -> None:
    comparison = nm.compare(runs[EVIL])
    widget = CurvesWidget(comparison, metric="loss")
    name = widget.traces[0].name
    assert EVIL not in name and html.escape(EVIL) in name
    assert EVIL not in widget.traces[0].hovertemplate
    bundle = widget._repr_mimebundle_()
    assert WIDGET_VIEW in bundle
    assert "<svg" in bundle["text/html"] and EVIL not in bundle["text/html"]
    assert bundle["text/plain"] == "curves of loss for 1 run(s)"
