"""The Monitor: windows of time or rows, per-window metrics (equal to scikit-learn's on the same
rows), drift, late labels, alerts, reopening by name, and bad input refused before anything is
written."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    roc_auc_score,
)

from nb_mlops.monitor import Monitor, MonitorAlert, MonitorError, monitors

COLS = [f"f{i}" for i in range(6)]


@pytest.fixture(scope="module")
def data():
    x, y = make_classification(
        n_samples=4000, n_features=6, n_informative=4, n_redundant=0, random_state=0
    )
    frame = pd.DataFrame(x, columns=COLS)
    clf = LogisticRegression(max_iter=500).fit(frame.iloc[:1000], y[:1000])
    return frame, y, clf


def reference(data):
    frame, y, _ = data
    return frame.iloc[:1000].assign(label=y[:1000])


def make(ws, data, name="m", **options):
    _, _, clf = data
    options.setdefault("target", "label")
    return Monitor(name, model=clf, reference=reference(data), ws=ws, **options)


def test_metrics_per_day_equal_sklearn(ws, data):
    frame, y, clf = data
    mon = make(ws, data)
    day1, day2 = frame.iloc[1000:1600], frame.iloc[1600:2000]
    mon.observe(day1, labels=y[1000:1600], timestamp="2026-03-01T08:00:00")
    mon.observe(day2, labels=y[1600:2000], timestamp="2026-03-02T23:59:59Z")
    windows = mon.windows()
    assert list(windows["window"]) == ["2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"]
    assert list(windows["rows"]) == [600, 400] and list(windows["labelled"]) == [600, 400]
    for row, (x, labels) in zip(
        windows.itertuples(), [(day1, y[1000:1600]), (day2, y[1600:2000])], strict=True
    ):
        pred = clf.predict(x)
        assert row.accuracy == pytest.approx(accuracy_score(labels, pred))
        assert row.f1 == pytest.approx(f1_score(labels, pred))
        assert row.auc == pytest.approx(roc_auc_score(labels, clf.predict_proba(x)[:, 1]))
        assert row.start.endswith("T00:00:00Z") and row.end > row.start
        assert 0 <= row.estimated_accuracy <= 1
        assert not row.dataset_drift
    assert mon.metric_names == ["accuracy", "f1", "auc", "estimated_accuracy"]


def test_batch_spanning_row_windows_and_per_row_times(ws, data):
    frame, y, _ = data
    mon = make(ws, data, rows=250)
    times = pd.date_range("2026-01-01", periods=300, freq="min", tz="UTC")
    mon.observe(frame.iloc[1000:1300], labels=y[1000:1300], timestamp=times)
    mon.observe(frame.iloc[1300:1500], labels=y[1300:1500])
    windows = mon.windows()
    assert list(windows["window"]) == ["rows 0-249", "rows 250-499"]
    assert list(windows["rows"]) == [250, 250]
    assert windows["start"][0] == "2026-01-01T00:00:00Z"
    assert windows["end"][0] == "2026-01-01T04:09:00Z"  # its last row's time


def test_late_labels_update_their_windows(ws, data):
    frame, y, clf = data
    mon = make(ws, data)
    ids = [f"row-{i}" for i in range(1000, 1400)]
    first = mon.observe(frame.iloc[1000:1200], ids=ids[:200], timestamp="2026-03-01T10:00:00")
    mon.observe(frame.iloc[1200:1400], ids=ids[200:], timestamp="2026-03-02T10:00:00")
    assert first.windows[0]["labelled"] == 0 and first.windows[0]["accuracy"] is None
    assert math.isnan(mon.windows()["accuracy"][0])
    added = mon.add_labels(ids[150:250], y[1150:1250])
    assert sorted(w["window"] for w in added.windows) == [
        "2026-03-01T00:00:00Z",
        "2026-03-02T00:00:00Z",
    ]
    windows = mon.windows()
    assert list(windows["labelled"]) == [50, 50]
    pred = clf.predict(frame.iloc[1150:1200])
    assert windows["accuracy"][0] == pytest.approx(accuracy_score(y[1150:1200], pred))
    rows = mon.window_rows(0 + int(windows["index"][0]))
    assert rows["label"].notna().sum() == 50 and set(rows["id"]) == set(ids[:200])
    # a label given again corrects the earlier one
    with quiet_alerts():  # the wrong labels sink the window's metrics below their bounds
        mon.add_labels(ids[150:200], 1 - y[1150:1200])
    assert mon.windows()["accuracy"][0] == pytest.approx(accuracy_score(1 - y[1150:1200], pred))


def test_unknown_label_ids_write_nothing(ws, data):
    frame, _, _ = data
    mon = make(ws, data)
    mon.observe(frame.iloc[1000:1100], ids=range(100))
    before = sorted(p.name for p in mon.files.folder.iterdir())
    with pytest.raises(MonitorError, match="no row with id 'x'"):
        mon.add_labels([5, "x"], [0, 1])
    assert not (mon.files.folder / "labels.jsonl").exists()
    assert sorted(p.name for p in mon.files.folder.iterdir()) == before
    with pytest.raises(MonitorError, match="labels has 1 values for 2 rows"):
        mon.add_labels([1, 2], [0])


def test_drift_alerts_warn_once_and_are_recorded(ws, data):
    frame, _, _ = data
    mon = make(ws, data)
    shifted = frame.iloc[1000:1500].copy()
    shifted[COLS[:4]] += 2.0
    with pytest.warns(MonitorAlert) as caught:
        obs = mon.observe(shifted, timestamp="2026-03-05T00:00:00")
    assert any("drift_share" in str(w.message) for w in caught)
    assert obs.windows[0]["dataset_drift"] is True
    kinds = {(a["kind"], a["metric"]) for a in mon.alerts()}
    assert ("drift", "drift_share") in kinds
    assert mon.feature_drift().column("f0").drifted
    # a second batch in the same window: the alert stands, but is not announced again
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        mon.observe(shifted.iloc[:100], timestamp="2026-03-05T01:00:00")
    assert not [w for w in again if "drift_share" in str(w.message)]
    assert "ALERT" in str(mon) and "drift_share" in mon.to_html()


def test_unshifted_data_raises_no_alert(ws, data):
    frame, y, _ = data
    mon = make(ws, data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MonitorAlert)
        for day in range(3):
            part = slice(1000 + 500 * day, 1500 + 500 * day)
            mon.observe(frame.iloc[part], labels=y[part], timestamp=f"2026-04-0{day + 1}")
    assert mon.alerts() == []


def test_thresholds_alert_on_performance(ws, data):
    frame, y, _ = data
    mon = make(ws, data, thresholds={"accuracy": 0.99, "drift_share": None})
    assert "drift_share" not in mon.thresholds and mon.thresholds["accuracy"] == 0.99
    with pytest.warns(MonitorAlert, match="accuracy .* below its threshold 0.99"):
        mon.observe(frame.iloc[1000:1200], labels=y[1000:1200])
    alert = mon.alerts()[0]
    assert alert["kind"] == "threshold" and alert["threshold"] == 0.99
    assert alert["value"] < 0.99 and alert["time"]


def test_default_thresholds_follow_the_reference(ws, data):
    mon = make(ws, data)
    ref_acc = mon.definition["reference_metrics"]["accuracy"]
    assert mon.thresholds["accuracy"] == pytest.approx(ref_acc - 0.1)
    assert mon.thresholds["drift_share"] == 0.5


def test_regression_monitor(ws):
    x, y = make_regression(n_samples=1500, n_features=4, noise=5.0, random_state=1)
    frame = pd.DataFrame(x, columns=list("abcd"))
    model = LinearRegression().fit(frame.iloc[:500], y[:500])
    mon = Monitor(
        "reg", model=model, reference=frame.iloc[:500].assign(y=y[:500]), target="y", ws=ws
    )
    assert mon.task == "regression" and mon.metric_names == ["mae", "rmse"]
    mon.observe(frame.iloc[500:900], labels=y[500:900])
    got = mon.windows().iloc[0]
    pred = model.predict(frame.iloc[500:900])
    assert got["mae"] == pytest.approx(mean_absolute_error(y[500:900], pred))
    assert got["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y[500:900], pred)))
    with pytest.warns(MonitorAlert) as caught:
        mon.observe(frame.iloc[900:1000], labels=y[900:1000] + 100)
    said = [str(w.message) for w in caught]
    assert any("mae" in m for m in said) and any("rmse" in m for m in said), said


def test_reopening_by_name_continues(ws, data):
    frame, y, clf = data
    mon = make(ws, data, rows=300)
    mon.observe(frame.iloc[1000:1200], labels=y[1000:1200])
    again = Monitor("m", model=clf, ws=ws)  # a later kernel: the name (and the model object)
    again.observe(frame.iloc[1200:1500], labels=y[1200:1500])
    windows = again.windows()
    assert list(windows["rows"]) == [300, 200]
    assert monitors(ws) == ["m"]
    assert "2 windows, 500 rows observed" in str(Monitor("m", ws=ws))
    with pytest.raises(MonitorError, match="exists with another reference"):
        Monitor("m", model=clf, reference=frame.iloc[:10].assign(label=y[:10]), ws=ws)
    with pytest.raises(MonitorError, match="windows of 300 rows; they cannot change"):
        Monitor("m", rows=10, ws=ws)
    with pytest.raises(MonitorError, match=r"no monitor named .other. \(monitors: m\)"):
        Monitor("other", ws=ws)
    # reopened without a model object (it was not a registry URI): predictions must be given
    bare = Monitor("m", ws=ws)
    with pytest.raises(MonitorError, match="no model to predict with"):
        bare.observe(frame.iloc[:5])
    bare.observe(frame.iloc[:5], predictions=clf.predict(frame.iloc[:5]))


def test_predictions_only_monitor(ws, data):
    frame, y, clf = data
    ref = frame.iloc[:1000]
    mon = Monitor(
        "given",
        reference=ref,
        reference_predictions=clf.predict(ref),
        task="classification",
        ws=ws,
    )
    pred = clf.predict(frame.iloc[1000:1300])
    probs = clf.predict_proba(frame.iloc[1000:1300])
    mon.observe(frame.iloc[1000:1300], predictions=pred, labels=y[1000:1300], probabilities=probs)
    got = mon.windows().iloc[0]
    assert got["accuracy"] == pytest.approx(accuracy_score(y[1000:1300], pred))
    assert math.isnan(got["estimated_accuracy"])  # no labelled reference to calibrate on
    with pytest.raises(MonitorError, match="cannot tell its task"):
        Monitor("notask", reference=ref, ws=ws)


def test_an_all_nan_column_is_flagged_not_fatal(ws, data):
    frame, _, _ = data
    ref = frame.iloc[:500].copy()
    model = LogisticRegression().fit(ref.fillna(0), (ref["f0"] > 0).astype(int))

    class Filled:
        classes_ = model.classes_

        def predict(self, x):
            return model.predict(x.fillna(0))

        def predict_proba(self, x):
            return model.predict_proba(x.fillna(0))

    mon = Monitor("nan", model=Filled(), reference=ref, ws=ws)
    batch = frame.iloc[500:700].copy()
    batch["f3"] = np.nan
    with quiet_alerts():
        obs = mon.observe(batch)
    col = mon.feature_drift().column("f3")
    assert col.test is None and col.problem and "missing" in col.problem
    assert obs.windows[0]["rows"] == 200


def quiet_alerts():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", MonitorAlert)

    class Done:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            ctx.__exit__(*exc)

    return Done()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, f: m.observe(f.iloc[0:0]), "the batch frame has no rows"),
        (lambda m, f: m.observe(f[COLS[1:]]), "lacks the reference's column 'f0'"),
        (lambda m, f: m.observe(f.iloc[:3], labels=[1, 0]), "labels has 2 values for 3 rows"),
        (lambda m, f: m.observe(f.iloc[:3], ids=[1, 1, 2]), "ids holds '1' more than once"),
        (lambda m, f: m.observe(f.iloc[:3], ids="abc"), "ids must be a sequence"),
        (lambda m, f: m.observe(f.iloc[:3], timestamp="soon"), "timestamp cannot be read"),
        (lambda m, f: m.observe(f.iloc[:3], timestamp=[1, 2]), "timestamp has 2 values"),
        (lambda m, f: m.observe(f.iloc[:3], predictions=[[1, 2]] * 3), "one value per row"),
        (lambda m, f: m.observe([1, 2, 3]), "must be a pandas DataFrame"),
        (
            lambda m, f: m.observe(f.iloc[:3].assign(f0=["a", 1, None])),
            "failed to predict on the batch",
        ),
    ],
)
def test_bad_batches_write_nothing(ws, data, call, message):
    frame, _, _ = data
    mon = make(ws, data)
    with pytest.raises(MonitorError, match=message):
        call(mon, frame.iloc[1000:1100])
    assert not (mon.files.folder / "observations.jsonl").exists()
    assert not (mon.files.folder / "batches").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target": "nope"}, "target 'nope' is not a column"),
        ({"window": "fortnightly"}, "not a span of time"),
        ({"window": "1D", "rows": 5}, "not both"),
        ({"rows": 0}, "rows= is the number of rows"),
        ({"task": "ranking"}, "task must be"),
        ({"thresholds": {"precision": 0.5}}, "no metric 'precision' to alert on"),
        ({"thresholds": {"accuracy": "high"}}, "must be a number"),
        ({"drift_share": 0}, "drift_share must be in"),
    ],
)
def test_bad_options_make_no_monitor(ws, data, options, message):
    with pytest.raises(MonitorError, match=message):
        make(ws, data, name="bad", **options)
    assert monitors(ws) == []


def test_bad_names_and_columns(ws, data):
    frame, _, clf = data
    with pytest.raises(MonitorError, match="cannot name a folder"):
        Monitor("../up", model=clf, reference=frame, ws=ws)
    with pytest.raises(MonitorError, match="column names must be text"):
        Monitor("ints", model=clf, reference=pd.DataFrame(np.ones((3, 2))), ws=ws)
    with pytest.raises(MonitorError, match="'__id' starts with '__'"):
        Monitor("res", model=clf, reference=frame.rename(columns={"f0": "__id"}), ws=ws)
    with pytest.raises(MonitorError, match="must have a predict method"):
        Monitor("obj", model=object(), reference=frame, ws=ws)


def test_damaged_files_are_named(ws, data):
    frame, y, _ = data
    mon = make(ws, data)
    mon.observe(frame.iloc[1000:1100], labels=y[1000:1100])
    (mon.files.folder / "windows.jsonl").open("a").write('{"index": "x"}\n{broken\n')
    assert len(Monitor("m", ws=ws).windows()) == 1  # damaged lines are skipped
    good = json.loads(mon.files.definition.read_text())
    for field, value, said in (
        ("thresholds", {"accuracy": "high"}, "must be a number"),
        ("thresholds", {"nope": 1}, "no metric 'nope'"),
        ("features", [1, 2], "not a list of column names"),
        ("drift_share", 7, "drift_share 7 is not in"),
    ):
        mon.files.definition.write_text(json.dumps({**good, field: value}))
        with pytest.raises(MonitorError, match=f"is damaged: .*{said}"):
            Monitor("m", ws=ws)
    mon.files.definition.write_text(json.dumps({"format": 99}))
    with pytest.raises(MonitorError, match="not a format-1 monitor file"):
        Monitor("m", ws=ws)
    mon.files.definition.write_text("{")
    with pytest.raises(MonitorError, match="unreadable"):
        Monitor("m", ws=ws)


def test_result_forms(ws, data):
    frame, y, _ = data
    mon = make(ws, data)
    obs = mon.observe(frame.iloc[1000:1100].assign(extra=1), labels=y[1000:1100])
    assert obs.doc["ignored_columns"] == ["extra"]
    d = obs.to_dict()
    assert d["monitor"] == "m" and d["windows"][0]["rows"] == 100
    json.dumps(d, allow_nan=False)
    json.dumps(mon.to_dict(), allow_nan=False)
    assert "observed 100 rows" in str(obs) and "columns not monitored: extra" in str(obs)
    assert "<div" in obs.to_html()


def test_window_records_are_compacted(ws, data):
    frame, y, _ = data
    mon = make(ws, data)
    for i in range(25):  # 25 recomputations of one window
        part = slice(1000 + 10 * i, 1010 + 10 * i)
        mon.observe(frame.iloc[part], labels=y[part], timestamp="2026-07-01T12:00:00")
    lines = (mon.files.folder / "windows.jsonl").read_text().splitlines()
    assert len(lines) <= 2 + 16 + 1
    assert Monitor("m", ws=ws).windows()["rows"].tolist() == [250]


def test_windows_are_checked_against_the_reference_constraints(ws):
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"a": rng.normal(size=500), "c": rng.choice(list("xyz"), 500)})
    mon = Monitor(
        "cons", reference=ref, reference_predictions=(ref["a"] > 0).astype(int),
        task="classification", thresholds={"drift_share": None}, ws=ws,
    )  # fmt: skip
    assert mon.baseline().names == ["a", "c"]
    unseen = pd.DataFrame({"a": rng.normal(size=100), "c": ["x"] * 95 + ["new"] * 5})
    with quiet_alerts():
        mon.observe(unseen, predictions=np.zeros(100, int), timestamp="2026-08-01")
    first = mon.window_records()[-1]
    assert [v["kind"] for v in first["violations"]] == ["categorical_values"]
    assert "'new'" in first["violations"][0]["description"]
    assert not [a for a in first["alerts"] if a["kind"] == "constraint"]  # listed, not alerted
    holes = pd.DataFrame({"a": np.r_[rng.normal(size=50), [np.nan] * 50], "c": ["y"] * 100})
    with pytest.warns(MonitorAlert) as caught:  # and the all-zero predictions drift
        mon.observe(holes, predictions=np.zeros(100, int), timestamp="2026-08-02")
    said = [str(w.message) for w in caught]
    assert any("breaks the reference's constraints: completeness of a" in m for m in said), said
    assert mon.windows()["violations"].tolist() == [1, 1]
