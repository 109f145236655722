"""MonitoringWidget: a monitor's timelines, one window's feature drift and distributions, alerts.

Two real monitors: a small classification story (two labelled days, one unlabelled, two drifted
days, then the model swapped in the last window) with a feature and a category named like an
XSS payload; and a monitor of 1,000 daily windows x 50 features, whose first 997 window records
are copies of real ones appended through the monitor's own files (computing 1,000 windows takes
minutes), for the payload bound.
"""

from __future__ import annotations

import copy
import html
import json
import math
import re
import time
import warnings
from types import SimpleNamespace

import ipywidgets.widgets.widget as widget_module
import numpy as np
import pandas as pd
import pytest
from conftest import sanitized
from sklearn.linear_model import LinearRegression, LogisticRegression

from nb_mlops.monitor import Monitor, MonitorAlert, MonitorError, state
from nb_mlops.notebook.widgets import monitoring
from nb_mlops.notebook.widgets.chart import CHART_MIME, VIEW_MIME
from nb_mlops.notebook.widgets.monitoring import (
    CATEGORIES,
    HIST_BINS,
    Dashboard,
    MonitoringWidget,
    WindowAxis,
    distribution,
)
from nb_mlops.notebook.widgets.render import DOMAIN_TYPES, WIDGET_VIEW, domain_bundle, widget_for
from nb_mlops.store.workspace import open_workspace

EVIL = "<img src=x onerror=alert(1)>"
NUMERIC = ["age", "income", "score"]
DAYS = [f"2026-03-0{d}T00:00:00Z" for d in range(1, 6)]
MAX_WIRE_BYTES = 250_000  # every widget model's state and the bundle, 1,000 windows x 50 features


class NumbersOnly:
    """A classifier on the numeric columns (the monitor hands it every feature)."""

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_

    def predict(self, x):
        return self.model.predict(x[NUMERIC])

    def predict_proba(self, x):
        return self.model.predict_proba(x[NUMERIC])


def frame(rng, n: int, shift: float = 0.0, cities=None) -> pd.DataFrame:
    df = pd.DataFrame(rng.normal(size=(n, 3)) + shift, columns=NUMERIC)
    df["city"] = rng.choice(list(cities or ("Seoul", "Busan", "Daegu")), n)
    df[EVIL] = rng.normal(size=n) + shift  # a numeric feature named like an XSS payload
    return df


def labels(df: pd.DataFrame, rng) -> np.ndarray:
    return (df["age"] + df["income"] + rng.normal(0, 0.5, len(df)) > 0).astype(int).to_numpy()


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MonitorAlert)
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    """Days 1-2 labelled, day 3 not, days 4-5 drifted (numbers +1.5, cities -> EVIL/Busan),
    then another model serves a last batch into day 5 (a model-version alert)."""
    ws = open_workspace(tmp_path_factory.mktemp("story") / ".nbmlops")
    rng = np.random.default_rng(7)
    ref = frame(rng, 1500)
    y = labels(ref, rng)
    model = NumbersOnly(LogisticRegression().fit(ref[NUMERIC], y))
    mon = Monitor("churn", model=model, reference=ref.assign(churned=y), target="churned", ws=ws)
    batches = []
    for day in range(5):
        drifted = day >= 3
        batch = frame(rng, 400, 1.5 if drifted else 0.0, (EVIL, "Busan") if drifted else None)
        batches.append(batch)
        given = labels(batch, rng) if day < 2 else None
        quiet(mon.observe, batch, labels=given, timestamp=f"2026-03-0{day + 1}T10:00:00Z")
    mon.model = NumbersOnly(LogisticRegression(C=0.001).fit(ref[NUMERIC][:200], y[:200]))
    last = frame(rng, 100, 1.5, (EVIL, "Busan"))
    batches[-1] = pd.concat([batches[-1], last], ignore_index=True)
    quiet(mon.observe, last, timestamp="2026-03-05T18:00:00Z")
    return SimpleNamespace(mon=mon, ref=ref, batches=batches)


def traces(widget) -> dict[str, dict]:
    return {t["name"]: t for t in widget.timeline.spec["data"]}


# ------------------------------------------------------------------ the timelines
def test_timelines_draw_each_metric_with_thresholds_and_alerts(story) -> None:
    mon = story.mon
    widget = MonitoringWidget(mon)
    drawn = traces(widget)
    frame_ = mon.windows()
    assert list(frame_["window"]) == DAYS
    for metric, name in [("accuracy", "accuracy"), ("f1", "F1"), ("auc", "AUC")]:
        t = drawn[name]
        assert (t["x0"], t["dx"]) == ("2026-03-01", 86_400_000)  # evenly spaced: no x array
        assert "x" not in t
        want = [None if math.isnan(v) else float(f"{v:.4g}") for v in frame_[metric]]
        assert t["y"] == want
        assert t["y"][2:] == [None, None, None]  # no labels after day 2
    estimated = drawn["estimated accuracy (no labels)"]
    assert estimated["line"]["dash"] == "dash"
    assert estimated["line"]["color"] == drawn["accuracy"]["line"]["color"]  # beside it
    assert estimated["y"] == pytest.approx(list(frame_["estimated_accuracy"]), abs=1e-3)
    assert all(v is not None for v in estimated["y"])  # estimated on every window
    bars = drawn["drift share"]
    assert bars["type"] == "bar" and bars["yaxis"] == "y2"
    assert bars["y"] == pytest.approx(list(frame_["drift_share"]), abs=1e-4)
    assert bars["y"][3] >= 0.5 and bars["y"][0] < 0.5
    for metric, bound in mon.thresholds.items():
        if metric == "estimated_accuracy":
            continue  # the accuracy's line stands for both (same bound by default)
        line = next(t for n, t in drawn.items() if n.startswith(f"{monitoring.label(metric)} thr"))
        assert line["y"] == [bound, bound] and line["x"] == ["2026-03-01", "2026-03-05"]
        assert line["line"]["dash"] == "dot"
    alerts = drawn["drift alert"]  # one mark per window, naming what fired
    assert alerts["x"] == ["2026-03-04", "2026-03-05"]
    assert alerts["text"][0] == "drift share, prediction drift"
    assert alerts["y"] == pytest.approx(bars["y"][3:], abs=1e-4)
    layout = widget.timeline.spec["layout"]
    (shape,) = layout["shapes"]  # the model changed in the last window: a red vertical line
    assert shape["x0"] == shape["x1"] == "2026-03-05" and shape["yref"] == "paper"
    assert any(a["text"] == "⚠ model" for a in layout["annotations"])
    assert layout["xaxis"]["type"] == "date"
    out = widget.timeline.outputs[-1]["data"]
    assert CHART_MIME in out and out["text/html"].count("<svg") == 2
    assert "5 windows" in widget.timeline.text and "2 with alerts" in widget.timeline.text


def test_a_regression_monitor_over_row_windows_and_refresh(ws) -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300)})
    target = 2 * ref["x"] + rng.normal(0, 0.1, 300)
    mon = Monitor(
        "prices", model=LinearRegression().fit(ref, target), reference=ref.assign(y=target),
        target="y", rows=100, ws=ws,
    )  # fmt: skip
    batch = pd.DataFrame({"x": rng.normal(size=250), "z": rng.normal(size=250)})
    quiet(mon.observe, batch, labels=2 * batch["x"])
    widget = MonitoringWidget(mon)
    drawn = traces(widget)
    assert {"MAE", "RMSE", "drift share"} <= set(drawn)
    assert (drawn["MAE"]["x0"], drawn["MAE"]["dx"]) == (0, 1)  # window numbers
    assert (drawn["drift share"]["offset"], drawn["drift share"]["width"]) == (0, 0.9)
    assert widget.timeline.spec["layout"]["xaxis"]["title"]["text"] == "window (100 rows each)"
    assert drawn["MAE threshold (≤ {:.4g})".format(mon.thresholds["mae"])]["y"][0] > 0
    assert widget.slider.max == 2 and widget.record["window"] == "rows 200-299"

    more = pd.DataFrame({"x": rng.normal(size=150), "z": rng.normal(size=150) + 3})
    quiet(mon.observe, more, labels=2 * more["x"])
    widget.select_window(0)
    widget.refresh()
    assert widget.slider.max == 3 and widget.slider.value == 3  # the latest window again
    assert widget.record["window"] == "rows 300-399"
    assert len(traces(widget)["MAE"]["y"]) == 4
    assert "z" in widget.table.value.split("<tbody>")[1].split("</tr>")[0]  # most drifted first
    assert "window rows 300-399" in widget.window_label.value


# ------------------------------------------------------------------ one window's drift
def test_the_latest_window_s_feature_drift_most_drifted_first(story) -> None:
    widget = MonitoringWidget(story.mon)
    assert widget.record["window"] == DAYS[-1] and widget.slider.value == 4
    table = widget.table.value
    rows = re.findall(r"<tr( class='nbm-drifted')?><td>([^<]*)</td>", table)
    names = [html.unescape(name) for _, name in rows]
    assert sorted(names) == sorted([*NUMERIC, "city", EVIL])
    drifted = [html.unescape(n) for klass, n in rows if klass]
    assert set(drifted) == {*NUMERIC, "city", EVIL}  # everything moved on day 5
    assert EVIL not in table and html.escape(EVIL) in table
    for header in ("test", "statistic", "p-value / distance", "threshold", "drift"):
        assert f"<th>{header}</th>" in table
    report = story.mon.feature_drift()
    first = report.column(names[0])
    assert all(first.value >= report.column(n).value for n in names if n != "city")
    assert widget.feature.value == names[0]  # the most drifted feature is shown first

    widget.select_window(DAYS[0])  # a quiet day: nothing drifted
    assert widget.slider.value == 0 and widget.record["window"] == DAYS[0]
    assert "nbm-drifted" not in widget.table.value
    assert "window 2026-03-01T00:00:00Z: 400 rows, 400 labelled" in widget.window_label.value
    widget.step(1)
    assert widget.record["window"] == DAYS[1]
    with pytest.raises(MonitorError, match="no window '2026-04-01'"):
        widget.select_window("2026-04-01")
    with pytest.raises(MonitorError, match="no feature 'nope'"):
        widget.select_feature("nope")


def test_the_numeric_distributions_overlay_reference_and_window(story) -> None:
    widget = MonitoringWidget(story.mon, window=DAYS[3], feature="age")
    ref_trace, cur_trace = widget.distribution.spec["data"]
    assert widget.distribution.spec["layout"]["barmode"] == "overlay"
    assert len(ref_trace["x"]) == len(cur_trace["x"]) == HIST_BINS
    assert ref_trace["x"] == cur_trace["x"]  # shared bins
    assert sum(ref_trace["y"]) == pytest.approx(1, abs=2e-3)
    assert sum(cur_trace["y"]) == pytest.approx(1, abs=2e-3)
    centres = np.array(ref_trace["x"])
    ref_mean = float(centres @ np.array(ref_trace["y"]))
    cur_mean = float(centres @ np.array(cur_trace["y"]))
    assert cur_mean - ref_mean == pytest.approx(1.5, abs=0.2)  # the shift fed on day 4
    assert ref_trace["name"] == "reference (1,500)" and cur_trace["name"] == "window (400)"
    out = widget.distribution.outputs[-1]["data"]
    assert "<svg" in out["text/html"] and "age: reference (1,500 values)" in out["text/plain"]


def test_the_categorical_distributions_compare_category_shares(story) -> None:
    widget = MonitoringWidget(story.mon, window=DAYS[3])
    widget.select_feature("city")
    ref_trace, cur_trace = widget.distribution.spec["data"]
    assert widget.distribution.spec["layout"]["barmode"] == "group"
    want_ref = story.ref["city"].value_counts(normalize=True)
    want_cur = story.batches[3]["city"].value_counts(normalize=True)
    shown = dict(zip(ref_trace["x"], ref_trace["y"], strict=True))
    assert shown["Seoul"] == pytest.approx(want_ref["Seoul"], abs=1e-4)
    current = dict(zip(cur_trace["x"], cur_trace["y"], strict=True))
    unseen = html.escape(f"{EVIL} (unseen)")
    assert current[unseen] == pytest.approx(want_cur[EVIL], abs=1e-4)  # escaped for plotly.js
    assert shown[unseen] == 0 and current.get("Seoul", 0) == 0
    assert EVIL not in json.dumps(widget.distribution.spec)
    assert EVIL not in widget.distribution.outputs[-1]["data"]["text/html"]

    widget.select_feature(EVIL)  # a numeric feature with a hostile name
    assert widget.distribution.spec["layout"]["barmode"] == "overlay"
    assert EVIL not in json.dumps(widget.distribution.spec)
    static = widget.distribution.outputs[-1]["data"]["text/html"]
    assert EVIL not in static and html.escape(EVIL) in static


def test_distribution_helper_bins_categories_and_missing_values() -> None:
    ref = pd.Series([f"c{i % 30}" for i in range(300)] + [None] * 100)
    cur = pd.Series([f"c{i % 5}" for i in range(50)] + ["new"] * 50)
    dist = distribution(ref, cur)
    assert dist.kind == "categorical" and len(dist.labels) == CATEGORIES + 1
    assert dist.labels[-1].startswith("other (")
    assert sum(dist.reference) == pytest.approx(1) and sum(dist.current) == pytest.approx(1)
    assert "new (unseen)" in dist.labels and dist.missing_reference == pytest.approx(0.25)
    numbers = distribution(pd.Series(np.arange(1000.0)), pd.Series([1e9, 5.0, np.nan]))
    assert numbers.kind == "numerical" and numbers.current[-1] == pytest.approx(0.5)
    assert any("end bins" in n for n in numbers.notes)  # the outlier counted in the last bin
    flat = distribution(pd.Series([2.0] * 10), pd.Series([2.0] * 5), "numerical")
    assert sum(flat.reference) == pytest.approx(1) and flat.width > 0


# ------------------------------------------------------------------ alerts and the bundle
def test_alerts_newest_first_with_model_version_alerts_loud(story) -> None:
    widget = MonitoringWidget(story.mon)
    board = widget.board
    windows = [a["window"] for a in board.alerts]
    assert windows == sorted(windows, reverse=True)
    assert board.alerts[0]["window"] == DAYS[-1]
    assert board.alerts[0]["kind"] == "model-version"  # a window's loudest alert first
    assert {a["kind"] for a in board.alerts} >= {"drift", "model-version"}
    body = widget.alerts.value
    loud = re.findall(r"<tr class='nbm-alert-model' style='[^']*'>(.*?)</tr>", body)
    assert len(loud) == 1 and "⚠ MODEL VERSION" in loud[0]
    assert "MODEL CHANGED WITHOUT A PROMOTION" in loud[0]
    assert body.index("nbm-alert-model") < body.index("drift_share")
    assert "⚠ MODEL VERSION ALERT, window 2026-03-05T00:00:00Z" in widget.header.value


def test_the_bundle_is_our_view_with_a_readable_escaped_static_dashboard(story) -> None:
    widget = MonitoringWidget(story.mon)
    bundle = widget._repr_mimebundle_()
    assert set(bundle) == {VIEW_MIME, "text/html", "text/plain"} and WIDGET_VIEW not in bundle
    page = bundle["text/html"]
    assert EVIL not in page and html.escape(EVIL) in page
    assert page.count("<svg") == 3  # metrics, drift share, the feature's distribution
    visible = sanitized(page)  # what a strict public viewer leaves: no SVG, no styles
    for text in (
        "monitor churn: classification, windows of 1 day of time",
        "⚠ MODEL VERSION ALERT",
        "Latest windows",
        "Feature drift of window 2026-03-05T00:00:00Z",
        f"{EVIL} numerical",
        "Alerts, newest first",
        "MODEL CHANGED WITHOUT A PROMOTION",
        "values beyond the 0.5th",  # the distribution's caption
    ):
        assert text in visible, text
    text = bundle["text/plain"]
    assert "!!! MODEL VERSION ALERT" in text and "ALERT 2026-03-05T00:00:00Z" in text
    assert text.splitlines()[0].startswith("monitor churn")


def test_the_window_s_constraint_violations_are_listed_escaped(story) -> None:
    widget = MonitoringWidget(story.mon)
    latest = story.mon.window_records()[-1]
    kinds = {v["kind"] for v in latest["violations"]}
    assert "categorical_values" in kinds  # the drifted days bring the XSS-named city
    shown = widget.violations.value
    assert "nbm-violations-table" in shown and EVIL not in shown
    assert html.escape(f"'{EVIL}'") in shown or html.escape(EVIL) in shown
    widget.select_window(story.mon.window_records()[0]["index"])  # a plain day: no unseen city
    assert "categorical_values" not in widget.violations.value
    bundle = widget._repr_mimebundle_()
    assert "Constraint violations of window" in sanitized(bundle["text/html"])
    assert "constraint violations" in bundle["text/plain"]


def test_a_monitor_shows_as_the_dashboard(story, ip) -> None:
    assert DOMAIN_TYPES[("nb_mlops.monitor.monitor", "Monitor")] == "_monitoring_widget"
    assert isinstance(widget_for(story.mon), MonitoringWidget)
    ip.run_line_magic("config", "TrackMagics.widgets = 'on'")
    try:
        data, _ = ip.display_formatter.format(story.mon)
    finally:
        ip.run_line_magic("config", "TrackMagics.widgets = 'auto'")
    assert VIEW_MIME in data and "Feature drift of window" in data["text/html"]
    assert domain_bundle(story.mon)[VIEW_MIME]["model_id"]


def test_a_monitor_that_observed_nothing_yet_then_its_first_window(ws) -> None:
    ref = pd.DataFrame({"x": np.arange(20.0)})
    mon = Monitor("fresh", reference=ref, task="regression", ws=ws)
    widget = MonitoringWidget(mon)
    assert widget.timeline.spec is None and "observed nothing yet" in widget.timeline.text
    assert widget.record is None and widget.window_controls not in widget.children
    assert "no window" in widget.distribution.text
    bundle = widget._repr_mimebundle_()
    assert "0 windows" in bundle["text/plain"] and "no alerts" in bundle["text/html"]

    quiet(mon.observe, pd.DataFrame({"x": np.arange(20.0) + 100}), predictions=np.zeros(20))
    widget.refresh()
    assert widget.window_controls in widget.children and widget.record["index"] >= 0
    assert widget.table.value.count("DRIFT") == 1
    assert widget.distribution.spec["data"][1]["name"] == "window (20)"
    assert widget._repr_mimebundle_()["text/html"].count("<svg") == 3


# ------------------------------------------------------------------ bounded
def test_the_axis_is_explicit_when_windows_are_far_apart() -> None:
    spec = SimpleNamespace(kind="time", size=3600.0)
    records = [{"index": i, "v": float(i)} for i in (0, 1, 500, 10_000)]
    axis = WindowAxis.of(records, spec)
    assert not axis.dense
    assert axis.trace_x() == {"x": ["1970-01-01 00:00", "1970-01-01 01:00", "1970-01-21 20:00",
                                    "1971-02-21 16:00"]}  # fmt: skip
    assert axis.values(records, "v") == [0, 1, 500, 10_000]
    gappy = [*records[:2], {"index": 3, "v": None}]
    dense = WindowAxis.of(gappy, spec)
    assert dense.dense and dense.values(gappy, "v") == [0.0, 1.0, None, None]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """1,000 daily windows x 50 features: 3 observed, 997 copies of their records before them
    (varied metrics and drift share; drift alerts where it passes 0.5; one model-version
    alert)."""
    ws = open_workspace(tmp_path_factory.mktemp("big") / ".nbmlops")
    rng = np.random.default_rng(0)
    cols = [f"feature_{i:02d}" for i in range(50)]
    ref = pd.DataFrame(rng.normal(size=(1000, 50)), columns=cols)
    y = (ref["feature_00"] + rng.normal(size=1000) > 0).astype(int)
    mon = Monitor("big", model=LogisticRegression().fit(ref, y), reference=ref.assign(y=y),
                  target="y", ws=ws)  # fmt: skip
    last = 20_000 + 999
    for k in range(3):
        batch = pd.DataFrame(rng.normal(size=(300, 50)) + (k == 2), columns=cols)
        quiet(mon.observe, batch, labels=(batch["feature_00"] > 0).astype(int),
              timestamp=(last - 2 + k) * 86_400 + 60)  # fmt: skip
    real = mon.window_records()
    for i in range(997):
        rec = copy.deepcopy(real[i % 2])
        index = last - 999 + i
        rec.update(index=index, window=mon.spec.label(index))
        rec["start"], rec["end"] = mon.spec.bounds(index)
        for key in ("accuracy", "f1", "auc", "estimated_accuracy"):
            rec[key] = round(0.8 + 0.05 * math.sin(i / 40) + rng.normal(0, 0.01), 6)
        rec["drift_share"] = round(max(0.0, 0.2 + 0.4 * math.sin(i / 90)), 6)
        rec["alerts"] = []
        if rec["drift_share"] > 0.5:
            rec["alerts"].append({"kind": "drift", "metric": "drift_share", "window": rec["window"],
                                  "index": index, "value": rec["drift_share"], "threshold": 0.5,
                                  "message": "drift_share is above its threshold 0.5"})  # fmt: skip
        if i == 500:
            rec["alerts"].append({"kind": "model-version", "metric": "fingerprint",
                                  "window": rec["window"], "index": index, "value": None,
                                  "threshold": None,
                                  "message": f"MODEL CHANGED {EVIL}"})  # fmt: skip
        mon.files.append(state.WINDOWS, rec)
    return mon


def test_1000_windows_and_50_features_stay_small_on_the_wire(big) -> None:
    before = set(widget_module._instances)
    t0 = time.perf_counter()
    widget = MonitoringWidget(big)
    bundle = widget._repr_mimebundle_()
    built_s = time.perf_counter() - t0
    made = [w for k, w in widget_module._instances.items() if k not in before]
    state_bytes = sum(len(json.dumps(w.get_state(), default=str)) for w in made)
    bundle_bytes = len(json.dumps(bundle))
    total = state_bytes + bundle_bytes
    assert total <= MAX_WIRE_BYTES, (state_bytes, bundle_bytes)
    assert len(bundle["text/html"]) <= 100_000
    assert built_s < 10, built_s
    drawn = traces(widget)
    assert len(drawn["accuracy"]["y"]) == 1000 and "x" not in drawn["accuracy"]
    assert "1,000 windows" in widget.timeline.text
    assert len(widget.timeline.spec["layout"]["shapes"]) == 1
    assert widget.table.value.count("<tr") == 51  # header + 50 features
    assert widget.distribution.spec is not None  # the latest window's rows are stored
    assert EVIL not in widget.alerts.value + bundle["text/html"]
    print(f"\n1,000 windows x 50 features: {state_bytes:,} B of widget state + "
          f"{bundle_bytes:,} B of bundle = {total:,} B, built in {built_s:.2f} s")  # fmt: skip

    widget.select_window(big.window_records()[10]["index"])  # a copied record: no rows stored
    assert widget.distribution.spec is None
    assert "cannot be read" in widget.distribution.text


def test_a_lone_value_between_gaps_gets_a_marker() -> None:
    assert monitoring.isolated([None, 0.5, None, 0.7, 0.8])
    assert not monitoring.isolated([0.5, 0.6, None, 0.7, 0.8])
    assert monitoring.isolated([0.5]) and not monitoring.isolated([None, None])


def test_the_timeline_keeps_the_latest_windows(big, monkeypatch) -> None:
    monkeypatch.setattr(monitoring, "TIMELINE_WINDOWS", 100)
    board = Dashboard(big)
    content = monitoring.timeline_content(board)
    assert "the latest 100 of 1,000 windows" in content.text
    accuracy = next(t for t in content.spec["data"] if t["name"] == "accuracy")
    assert len(accuracy["y"]) == 100 and accuracy["x0"] == board.records[-100]["window"][:10]
