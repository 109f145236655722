"""Constraint checks: one hand example per violation kind, their order, the result's forms,
bad batches and options, and the speed of checking a large batch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import sanitized
from monitor.baseline_frames import kinds, people

from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.profile import baseline
from nb_mlops.monitor.violations import KINDS

# ------------------------------------------------------------------ one example per kind


def test_missing_and_extra_columns() -> None:
    b = baseline(people())
    batch = people(50, seed=1).drop(columns=["city"]).assign(score=1.5)
    result = b.check(batch, drift=False)
    assert kinds(result) == [("city", "missing_column"), ("score", "extra_column")]
    missing, extra = result
    assert (missing["observed"], missing["expected"]) == (None, "string")
    assert (extra["observed"], extra["expected"]) == ("fractional", None)
    assert (
        missing["description"] == "column 'city' (string) is in the baseline but not in the batch"
    )
    assert result.columns == 4 and result.checked_rows == 50


def test_data_type_text_in_an_integral_column() -> None:
    b = baseline(people())
    batch = people(20, seed=1)
    batch["age"] = batch["age"].astype(object)
    batch.loc[[2, 5, 7], "age"] = ["old", "old", 4.5]
    (v,) = [v for v in b.check(batch, drift=False) if v["kind"] == "data_type"]
    assert v["column"] == "age" and v["count"] == 3 and v["share"] == pytest.approx(0.15)
    assert v["examples"] == ["old", 4.5]
    assert (v["observed"], v["expected"]) == ("mixed", "integral")
    assert "3 of 20 values (15.0%) are not (e.g. 'old', 4.5)" in v["description"]


def test_data_type_numbers_in_a_text_column_and_true_false_in_a_number_column() -> None:
    b = baseline(people())
    batch = people(10, seed=1)
    batch["city"] = np.arange(10)
    batch["income"] = [True] * 10
    result = b.check(batch, drift=False)
    by_column = {v["column"]: v for v in result if v["kind"] == "data_type"}
    assert by_column["city"]["observed"] == "integral" and by_column["city"]["count"] == 10
    assert by_column["income"]["observed"] == "boolean"
    # values of the wrong type are not also counted as unseen categories or out of range
    assert kinds(result) == [("income", "data_type"), ("city", "data_type")]


def test_completeness_with_the_default_tolerance_and_without() -> None:
    ref = pd.DataFrame({"x": np.arange(100.0), "k": [1.0, np.nan] * 50})
    b = baseline(ref)
    batch = pd.DataFrame({"x": [np.nan] * 5 + list(range(95)), "k": [1.0] * 100})
    assert kinds(b.check(batch, drift=False)) == []  # 95% >= 100% * (1 - 0.1)
    (v,) = b.check(batch, drift=False, completeness_tolerance=0)
    assert v["kind"] == "completeness" and v["column"] == "x"
    assert (v["observed"], v["expected"], v["threshold"]) == (0.95, 1.0, 1.0)
    batch.loc[:14, "x"] = np.nan
    (v,) = b.check(batch, drift=False)
    assert (v["observed"], v["threshold"]) == (0.85, pytest.approx(0.9))
    assert v["description"] == (
        "column 'x' is 85.0% complete (15 of 100 values missing); the baseline is 100.0% "
        "complete and the batch must reach 90.0% (tolerance 10%)"
    )


def test_categorical_values_never_seen_are_counted_and_listed_most_frequent_first() -> None:
    b = baseline(people())
    batch = people(100, seed=1)
    batch.loc[:5, "city"] = "Daegu"
    batch.loc[6:7, "city"] = "<Jeju>"
    (v,) = b.check(batch, drift=False)
    assert (v["column"], v["kind"]) == ("city", "categorical_values")
    assert v["observed"] == ["Daegu", "<Jeju>"] and v["unseen_count"] == 2
    assert v["rows"] == 8 and v["share"] == pytest.approx(0.08)
    assert v["expected"] == ["Seoul", "Busan", "Incheon"]
    assert v["description"] == (
        "column 'city' has 2 values the baseline never saw ('Daegu', '<Jeju>') in 8 of 100 "
        "non-missing rows (8.0%)"
    )
    assert kinds(b.check(batch, drift=False, categorical_threshold=0.1)) == []
    assert len(b.check(batch, drift=False, categorical_threshold=0.05)) == 1


def test_the_list_of_unseen_values_is_bounded_and_unseen_integers_show_as_integers() -> None:
    b = baseline(people())
    batch = people(100, seed=1)
    batch["city"] = [f"town{i % 30}" for i in range(100)]
    batch["kids"] = 7.0
    result = b.check(batch, drift=False)
    city = next(v for v in result if v["column"] == "city")
    assert len(city["observed"]) == 20 and city["unseen_count"] == 30 and city["rows"] == 100
    assert "and 25 more" in city["description"]
    kids = next(v for v in result if v["column"] == "kids")
    assert kids["observed"] == [7]


def test_range_outside_min_max_with_and_without_tolerance() -> None:
    ref = pd.DataFrame({"t": np.linspace(10.0, 20.0, 101)})
    b = baseline(ref)
    batch = pd.DataFrame({"t": [9.5, 12.0, 15.0, 21.0, 25.0]})
    (v,) = b.check(batch, drift=False)
    assert (v["column"], v["kind"], v["count"]) == ("t", "range", 3)
    assert v["observed"] == [9.5, 25.0] and v["expected"] == [10.0, 20.0]
    assert v["description"] == (
        "column 't' has 3 of 5 values (60.0%) outside the baseline range [10, 20]; "
        "the batch spans [9.5, 25]"
    )
    (v,) = b.check(batch, drift=False, range_tolerance=0.1)  # [9, 21]: only 25 is out
    assert v["count"] == 1 and v["expected"] == [9.0, 21.0]
    assert "widened by 10% of its span" in v["description"]
    assert kinds(b.check(batch, drift=False, range_tolerance=0.5)) == []


def test_an_infinite_value_is_out_of_range_and_stays_json() -> None:
    b = baseline(pd.DataFrame({"t": np.linspace(0.0, 1.0, 50)}))
    (v,) = b.check(pd.DataFrame({"t": [0.5, np.inf]}), drift=False)
    assert v["kind"] == "range" and v["observed"] == [0.5, "inf"]
    json.dumps(v, allow_nan=False)


def test_drift_is_reported_per_drifted_column() -> None:
    ref = people(3000)
    b = baseline(ref)
    rng = np.random.default_rng(5)
    batch = people(600, seed=6)
    batch["income"] = rng.normal(60.0, 10.0, 600)  # a shift of one standard deviation
    result = b.check(batch)
    (v,) = [v for v in result if v["kind"] == "drift"]
    assert v["column"] == "income" and (v["test"], v["measure"]) == ("wasserstein", "distance")
    assert v["observed"] == pytest.approx(1.0, abs=0.15) and v["expected"] == 0.1
    assert "reference sample of 2000 rows, batch of 600" in v["description"]
    assert result.drift_report.column("income").drifted
    assert [v for v in b.check(batch, drift=False) if v["kind"] == "drift"] == []
    loose = b.check(batch, drift_options={"threshold": 5.0})
    assert [v for v in loose if v["kind"] == "drift"] == []
    with pytest.raises(MonitorError, match="drift_options has 'thresh'"):
        b.check(batch, drift_options={"thresh": 1})


def test_a_small_reference_gets_hypothesis_tests() -> None:
    ref = people(300)
    batch = people(300, seed=9)
    batch["income"] += 10
    result = baseline(ref).check(batch)
    (v,) = [v for v in result if v["kind"] == "drift"]
    assert v["column"] == "income" and v["test"] == "ks" and v["measure"] == "p_value"
    assert v["observed"] < 0.05 and "p-value" in v["description"]


def test_violations_are_ordered_by_kind_then_column() -> None:
    b = baseline(people(1500))
    batch = people(300, seed=1).drop(columns=["member"]).assign(extra=1)
    batch["income"] += 40
    batch.loc[:3, "city"] = "Daegu"
    batch.loc[:200, "kids"] = np.nan
    order = [v["kind"] for v in b.check(batch)]
    assert order == sorted(order, key=KINDS.index)
    assert set(order) >= {"missing_column", "extra_column", "completeness", "range", "drift"}


# ------------------------------------------------------------------ the result's forms


def test_violations_forms_and_frame() -> None:
    b = baseline(people())
    batch = people(40, seed=1).rename(columns={"city": "<b>city</b>"})
    result = b.check(batch, drift=False)
    assert len(result) == 2 and [v["kind"] for v in result] == ["missing_column", "extra_column"]
    assert result[0] is result.violations[0]
    assert result.kinds() == {"missing_column": 1, "extra_column": 1}
    frame = result.frame()
    assert list(frame.columns[:5]) == ["column", "kind", "description", "observed", "expected"]
    assert frame["column"].tolist() == ["city", "<b>city</b>"]
    assert set(result.to_dict()) == {"violations", "checked_rows", "columns"}
    json.dumps(result.to_dict(), allow_nan=False)
    text = result.to_text()
    assert text.startswith("2 violations in a batch of 40 rows; 4 columns compared")
    assert "<b>city</b>" in text
    markup = result.to_html()
    assert "<b>city" not in markup and "&lt;b&gt;city&lt;/b&gt;" in markup
    assert "column &#x27;&lt;b&gt;city&lt;/b&gt;&#x27; (string) is in the batch" in markup
    assert "2 violations" in sanitized(markup)
    empty = b.check(people(10, seed=2), drift=False)
    assert empty.frame().empty and list(empty.frame().columns)[:2] == ["column", "kind"]
    assert empty.to_text().startswith("no violations in a batch of 10 rows")


# ------------------------------------------------------------------ awkward batches


def test_empty_batches_and_bad_options_are_clear_errors() -> None:
    b = baseline(people())
    with pytest.raises(MonitorError, match="the batch frame has no rows"):
        b.check(people().head(0))
    with pytest.raises(MonitorError, match="the batch frame has no columns"):
        b.check(pd.DataFrame(index=range(3)))
    with pytest.raises(MonitorError, match="completeness_tolerance must be a number in"):
        b.check(people(), completeness_tolerance=2)
    with pytest.raises(MonitorError, match="range_tolerance must be a number >= 0"):
        b.check(people(), range_tolerance=-1)


def test_an_all_missing_column_is_flagged_not_a_crash() -> None:
    ref = people(1500)
    ref["gone"] = np.nan
    b = baseline(ref)
    assert b.column("gone").type == "empty" and b.column("gone").role is None
    assert "all values missing in the reference" in b.column("gone").note
    batch = people(300, seed=1).assign(gone="now here")
    batch["income"] = np.nan
    result = b.check(batch)
    assert kinds(result) == [("income", "completeness")]  # no type, range or drift noise
    assert result[0]["observed"] == 0.0
    assert result.drift_report.column("income").problem == "all values missing in the current"


def test_checking_a_large_batch_is_quick() -> None:
    import time

    rng = np.random.default_rng(0)
    cols = {f"f{i}": rng.normal(size=20_000) for i in range(40)}
    cols.update({f"c{i}": rng.choice(list("abcdef"), 20_000) for i in range(10)})
    frame = pd.DataFrame(cols)
    b = baseline(frame)
    batch = frame.sample(10_000, random_state=1)
    start = time.perf_counter()
    result = b.check(batch)
    took = time.perf_counter() - start
    assert result.columns == 50 and not [v for v in result if v["kind"] != "range"]
    assert took < 3.0, took
