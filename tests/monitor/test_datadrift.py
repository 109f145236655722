"""`nm.monitor.drift`: shifts are found, unshifted data is flagged at the documented rate, every
column is read as documented, and bad inputs get a clear error or a flagged column."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nb_mlops as nm
from nb_mlops.monitor import DriftReport, MonitorError, drift


def frames(seed: int, n_ref: int, n_cur: int, *, mean=0.0, new_category=False, yes=0.3):
    """A reference and a current frame: a normal column, a 3-value category and a binary one;
    the keyword arguments shift the current one."""
    rng = np.random.default_rng(seed)

    def make(n, mean, cats, p, yes):
        return pd.DataFrame(
            {
                "x": rng.normal(mean, 1.0, n),
                "colour": rng.choice(cats, n, p=p),
                "plan": rng.choice(["basic", "pro"], n, p=[1 - yes, yes]),
            }
        )

    base = ["red", "green", "blue"]
    reference = make(n_ref, 0.0, base, [0.5, 0.3, 0.2], 0.3)
    cats, p = ([*base, "violet"], [0.4, 0.2, 0.2, 0.2]) if new_category else (base, [0.5, 0.3, 0.2])
    return reference, make(n_cur, mean, cats, p, yes)


def test_the_package_exports_drift() -> None:
    assert nm.monitor.drift is drift
    assert {"drift", "DriftReport", "psi", "MonitorError"} <= set(dir(nm.monitor))


# ------------------------------------------------------------------ shifts are found


@pytest.mark.parametrize(("n_ref", "test"), [(500, "ks"), (5000, "wasserstein")])
def test_mean_shift_is_detected(n_ref: int, test: str) -> None:
    reference, current = frames(1, n_ref, 1000, mean=0.5)
    report = drift(reference, current)
    x = report.column("x")
    assert (x.test, x.drifted) == (test, True)
    assert report.drifted_columns == ["x"]
    assert not report.dataset_drift  # 1 of 3 columns


@pytest.mark.parametrize(("n_ref", "test"), [(500, "chisquare"), (5000, "jensenshannon")])
def test_new_category_is_detected_and_listed(n_ref: int, test: str) -> None:
    reference, current = frames(2, n_ref, 1000, new_category=True)
    colour = drift(reference, current).column("colour")
    assert (colour.test, colour.drifted) == (test, True)
    assert colour.unseen_categories == ["violet"]
    assert colour.unseen_count == 1
    assert 0.15 < colour.unseen_share < 0.25


@pytest.mark.parametrize(("n_ref", "test"), [(500, "z"), (5000, "jensenshannon")])
def test_proportion_change_is_detected(n_ref: int, test: str) -> None:
    reference, current = frames(3, n_ref, 1000, yes=0.6)
    plan = drift(reference, current).column("plan")
    assert (plan.test, plan.drifted) == (test, True)


def test_dataset_drift_at_the_configured_share() -> None:
    reference, current = frames(4, 500, 500, mean=0.5, yes=0.6)  # 2 of 3 columns move
    report = drift(reference, current)
    assert report.drifted_columns == ["x", "plan"]
    assert report.share_drifted == pytest.approx(2 / 3)
    assert report.dataset_drift
    assert not drift(reference, current, drift_share=0.7).dataset_drift
    one_of_three = frames(4, 500, 500, mean=0.5)
    assert not drift(*one_of_three).dataset_drift
    assert drift(*one_of_three, drift_share=1 / 3).dataset_drift  # reaching the share is enough


# ------------------------------------------------------------------ false positives


def in_binomial_band(count: int, n: int, rate: float) -> bool:
    """`count` of `n` within the central 99.8% of Binomial(n, rate)."""
    low, high = stats.binom.ppf([0.001, 0.999], n, rate)
    return bool(low <= count <= high)


def test_unshifted_data_is_flagged_at_the_documented_rates() -> None:
    """200 seeded unshifted pairs (300 / 200 rows): K-S and the z-test flag about 5% of them;
    chi-squared, a goodness of fit that takes the reference's shares as exact, the documented
    P(chi2(2) > q95 / (1 + 200/300)) = 16.6%; the dataset (2 of 3 columns) rarely."""
    flagged = {"ks": 0, "chisquare": 0, "z": 0}
    datasets = 0
    for seed in range(200):
        report = drift(*frames(1000 + seed, 300, 200))
        for c in report.columns:
            flagged[c.test] += c.drifted
        datasets += report.dataset_drift
    chisquare_rate = stats.chi2.sf(stats.chi2.ppf(0.95, 2) / (1 + 200 / 300), 2)
    assert chisquare_rate == pytest.approx(0.166, abs=1e-3)
    assert in_binomial_band(flagged["ks"], 200, 0.05), flagged
    assert in_binomial_band(flagged["z"], 200, 0.05), flagged
    assert in_binomial_band(flagged["chisquare"], 200, chisquare_rate), flagged
    assert datasets <= 10


def test_chisquare_false_positives_near_5_percent_with_a_large_reference() -> None:
    """1,000 reference rows against batches of 50: the inflation is 1.05, the rate 5.8%."""
    rate = stats.chi2.sf(stats.chi2.ppf(0.95, 2) / (1 + 50 / 1000), 2)
    flagged = sum(
        drift(*frames(3000 + seed, 1000, 50), columns=["colour"]).column("colour").drifted
        for seed in range(200)
    )
    assert in_binomial_band(flagged, 200, rate), flagged
    assert in_binomial_band(flagged, 200, 0.05), flagged


def test_unshifted_large_data_is_not_flagged_by_the_distances() -> None:
    """At 2,000 reference rows the distances' threshold (0.1) sits far above their sampling
    noise: no unshifted column is flagged in 50 seeded pairs."""
    worst = {"wasserstein": 0.0, "jensenshannon": 0.0}
    for seed in range(50):
        report = drift(*frames(5000 + seed, 2000, 1000))
        assert report.drifted_columns == []
        for c in report.columns:
            worst[c.test] = max(worst[c.test], c.value)
    assert 0 < worst["wasserstein"] < 0.1
    assert 0 < worst["jensenshannon"] < 0.1


# ------------------------------------------------------------------ how columns are read


def test_column_kinds_follow_the_dtypes() -> None:
    rng = np.random.default_rng(5)
    n = 400

    def make():
        return pd.DataFrame(
            {
                "f": rng.normal(size=n),
                "few_ints": rng.integers(0, 8, n),  # <= 10 values: categorical
                "many_ints": rng.integers(0, 500, n),
                "text": rng.choice(["a", "b", "c"], n),
                "flag": rng.random(n) < 0.5,
                "cat": pd.Categorical(rng.choice(["lo", "hi", "mid"], n)),
                "nullable": pd.array(rng.integers(0, 300, n), dtype="Int64"),
                "string": pd.array(rng.choice(["u", "v", "w"], n), dtype="string"),
            }
        )

    report = drift(make(), make())
    kinds = {c.column: (c.kind, c.test) for c in report.columns}
    assert kinds == {
        "f": ("numerical", "ks"),
        "few_ints": ("categorical", "chisquare"),
        "many_ints": ("numerical", "ks"),
        "text": ("categorical", "chisquare"),
        "flag": ("categorical", "z"),
        "cat": ("categorical", "chisquare"),
        "nullable": ("numerical", "ks"),
        "string": ("categorical", "chisquare"),
    }
    assert not report.problems


def test_overrides_of_kind_test_and_threshold() -> None:
    reference, current = frames(6, 500, 500, mean=0.15)
    report = drift(
        reference.assign(n=np.arange(500) % 4),
        current.assign(n=np.arange(500) % 4),
        numerical=["n"],
        stattest={"x": "psi"},
        threshold={"plan": 0.5},
    )
    assert report.column("n").kind == "numerical"
    assert report.column("n").test == "chisquare"  # 4 values: numerical, tested by value shares
    assert report.column("x").test == "psi"
    assert report.column("x").threshold == 0.1
    assert report.column("plan").threshold == 0.5
    report = drift(reference, current, categorical="x", stattest="psi", threshold=0.2)
    assert report.column("x").kind == "categorical"
    assert {c.test for c in report.columns} == {"psi"}
    assert {c.threshold for c in report.columns} == {0.2}
    assert drift(reference, current, method="psi").column("plan").test == "psi"
    assert drift(reference, current, columns=["plan"]).to_dict()["columns"][0]["column"] == "plan"


def test_numerical_override_converts_text_holding_numbers() -> None:
    ref = pd.DataFrame({"v": [str(i) for i in range(50)]})
    cur = pd.DataFrame({"v": [str(i + 20) for i in range(50)]})
    col = drift(ref, cur, numerical=["v"]).column("v")
    assert (col.kind, col.test) == ("numerical", "ks")
    assert col.statistic == pytest.approx(0.4)


def test_missing_shares_and_infinities() -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0, np.nan, np.inf] * 25, "c": ["a", None, "b", "a"] * 25})
    cur = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 25, "c": [None, None, "b", "a"] * 25})
    report = drift(ref, cur)
    x, c = report.column("x"), report.column("c")
    assert (x.missing_share_reference, x.missing_share_current) == (0.5, 0.0)
    assert (x.n_reference, x.n_current) == (50, 100)
    assert (c.missing_share_reference, c.missing_share_current) == (0.25, 0.5)
    assert (c.n_reference, c.n_current) == (75, 50)


# ------------------------------------------------------------------ bad inputs


def test_mismatched_columns_compare_the_common_ones_and_list_the_rest() -> None:
    reference, current = frames(7, 300, 300)
    report = drift(reference.assign(only_ref=1.0), current.assign(only_cur="z"))
    assert [c.column for c in report.columns] == ["x", "colour", "plan"]
    assert report.missing_columns == ["only_ref"]
    assert report.extra_columns == ["only_cur"]
    text = report.to_text()
    assert "missing from current: only_ref" in text
    assert "only in current (not tested): only_cur" in text


def test_frames_sharing_no_column_are_an_error_naming_them() -> None:
    with pytest.raises(MonitorError, match=r"share no column \(reference: a, b; current: c\)"):
        drift(pd.DataFrame({"a": [1.0], "b": [2.0]}), pd.DataFrame({"c": [1.0]}))


def test_named_column_missing_from_a_frame_is_an_error() -> None:
    reference, current = frames(8, 100, 100)
    with pytest.raises(MonitorError, match="'colour' is not in the current frame"):
        drift(reference, current.drop(columns="colour"), columns=["colour"])
    with pytest.raises(MonitorError, match="did you mean 'colour'"):
        drift(reference, current, columns=["color"])


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        (pd.DataFrame({"a": []}), pd.DataFrame({"a": [1.0]}), "the reference frame has no rows"),
        (pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": []}), "the current frame has no rows"),
        (pd.DataFrame(), pd.DataFrame({"a": [1.0]}), "the reference frame has no columns"),
        ([1, 2], pd.DataFrame({"a": [1.0]}), "must be a pandas DataFrame, not list"),
    ],
)
def test_empty_or_wrong_inputs_are_errors(reference, current, message) -> None:
    with pytest.raises(MonitorError, match=message):
        drift(reference, current)


def test_a_dict_of_columns_is_taken_as_a_frame() -> None:
    report = drift({"a": [1.0, 2.0, 3.0]}, {"a": [1.0, 2.0, 3.0]})
    assert report.column("a").drifted is False


def test_duplicate_columns_are_an_error() -> None:
    frame = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(MonitorError, match="duplicate columns: a"):
        drift(frame, frame)


def test_all_missing_column_is_flagged_not_tested() -> None:
    reference, current = frames(9, 300, 300, mean=0.6)
    report = drift(reference.assign(gone=np.nan), current.assign(gone=np.nan, x=np.nan))
    x, gone = report.column("x"), report.column("gone")
    assert (x.test, x.drifted, x.problem) == (None, False, "all values missing in the current")
    assert x.missing_share_current == 1.0
    assert (gone.test, gone.problem) == (None, "all values missing in both frames")
    assert report.problems == {"x": x.problem, "gone": gone.problem}
    assert len(report.tested) == 2
    assert "not tested: x: all values missing in the current" in report.to_text()
    refgone = drift(reference.assign(c=None), current.assign(c="a")).column("c")
    assert refgone.problem == "all values missing in the reference"


def test_mixed_types_are_categories_with_a_note() -> None:
    ref = pd.DataFrame({"m": [1, "1", 2.5, "x"] * 30})
    cur = pd.DataFrame({"m": [1, "1", 2.5, "y"] * 30})
    col = drift(ref, cur).column("m")
    assert (col.kind, col.test, col.drifted) == ("categorical", "chisquare", True)
    assert col.unseen_categories == ["y"]
    assert "mixed value types" in col.note


def test_unhashable_values_are_compared_as_text() -> None:
    ref = pd.DataFrame({"l": [[1], [2]] * 20})
    col = drift(ref, ref).column("l")
    assert (col.test, col.drifted) == ("z", False)
    assert "as text" in col.note


def test_type_change_from_numbers_to_text_is_flagged() -> None:
    ref = pd.DataFrame({"v": np.arange(50.0)})
    cur = pd.DataFrame({"v": ["n/a"] * 50})
    col = drift(ref, cur).column("v")
    assert col.test is None
    assert col.problem == "type changed: numbers in the reference, text in the current"


def test_text_in_reference_numbers_in_current_are_categories_all_unseen() -> None:
    col = drift(pd.DataFrame({"v": ["a", "b"] * 20}), pd.DataFrame({"v": [1, 2] * 20})).column("v")
    assert (col.kind, col.drifted, col.unseen_count) == ("categorical", True, 2)
    assert col.note == "text in the reference, numbers in the current"


def test_dates_are_not_tested() -> None:
    frame = pd.DataFrame({"when": pd.date_range("2026-01-01", periods=30), "x": np.arange(30.0)})
    report = drift(frame, frame)
    assert report.column("when").problem == "dates and times are not tested for drift"
    with pytest.raises(MonitorError, match="'when' holds dates"):
        drift(frame, frame, numerical=["when"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stattest": "kss"}, "unknown stattest 'kss'; did you mean 'ks'"),
        ({"stattest": "anova"}, r"one of ks, chisquare, z, wasserstein, jensenshannon, psi"),
        ({"stattest": {"nope": "ks"}}, "stattest= names column 'nope', which is not compared"),
        ({"stattest": "ks"}, "the ks test needs a numerical column; 'colour' is categorical"),
        ({"stattest": {"colour": "z"}}, "the z test needs a column with at most 2 values"),
        ({"stattest": "ks", "method": "ks"}, "stattest= or method=, not both"),
        ({"threshold": "high"}, "threshold must be a number, not 'high'"),
        ({"threshold": {"x": -1}}, "threshold for 'x' must not be negative"),
        ({"drift_share": 0}, r"drift_share must be in \(0, 1\]"),
        ({"drift_share": True}, "drift_share must be a number"),
        ({"categorical": ["x"], "numerical": ["x"]}, "'x' is named both categorical and numerical"),
        ({"numerical": ["zz"]}, "numerical= names column 'zz', which is not compared"),
        ({"numerical": ["colour"]}, "'colour' is named numerical but the reference frame holds"),
        ({"columns": []}, "columns= is empty"),
    ],
)
def test_bad_options_are_errors_naming_the_fault(options: dict, message: str) -> None:
    reference, current = frames(10, 100, 100)
    with pytest.raises(MonitorError, match=message):
        drift(reference, current, **options)


def test_an_error_is_one_line() -> None:
    reference, current = frames(10, 100, 100)
    with pytest.raises(MonitorError) as caught:
        drift(reference, current, stattest="ks")
    assert "\n" not in str(caught.value)


# ------------------------------------------------------------------ the report


def test_report_dict_has_the_documented_shape_and_is_strict_json() -> None:
    reference, current = frames(11, 300, 300, mean=0.5, new_category=True)
    report = drift(reference, current)
    assert isinstance(report, DriftReport)
    out = report.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["dataset_drift"] is True
    x, colour, _ = out["columns"]
    for c in out["columns"]:
        assert {"column", "test", "statistic", "threshold", "drifted"} <= set(c)
    assert "p_value" in x and "distance" not in x
    assert colour["statistic"] is None  # infinite chi-squared: an unseen category
    assert colour["unseen_categories"] == ["violet"]
    large = drift(*frames(11, 3000, 300)).to_dict()["columns"][0]
    assert "distance" in large and "p_value" not in large
    assert report.to_frame()["column"].tolist() == ["x", "colour", "plan"]


# ------------------------------------------------------------------ performance


def test_drift_on_10k_rows_by_50_columns_tests_every_column() -> None:
    """The benchmark's batch (benchmarks/bench_drift.py times it): 10,000 rows of 50 mixed
    columns against a 10,000-row reference, every column tested, the shifted ones drifted."""
    rng = np.random.default_rng(12)

    def batch(shift: float) -> pd.DataFrame:
        columns: dict[str, object] = {f"n{i}": rng.normal(shift, 1, 10_000) for i in range(30)}
        columns.update({f"c{i}": rng.choice(list("abcdefgh"), 10_000) for i in range(10)})
        columns.update({f"b{i}": rng.choice(["yes", "no"], 10_000) for i in range(5)})
        columns.update({f"i{i}": rng.integers(0, 1000, 10_000) for i in range(5)})
        return pd.DataFrame(columns)

    reference, current = batch(0.0), batch(0.2)
    report = drift(reference, current)
    assert len(report.tested) == 50
    assert sorted(report.drifted_columns) == sorted(f"n{i}" for i in range(30))
