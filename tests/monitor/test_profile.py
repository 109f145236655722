"""Baselines: what a baseline keeps of each column, role overrides, the category limit, the
kept sample, and the baseline's text and HTML forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from monitor.baseline_frames import kinds, people

from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.profile import baseline

# ------------------------------------------------------------------ what a baseline keeps


def test_each_column_gets_its_type_role_completeness_range_and_categories() -> None:
    ref = people()
    b = baseline(ref)
    assert b.rows == 400 and b.names == ["income", "age", "kids", "city", "member"]
    income, age, kids, city, member = b.columns
    assert (income.type, income.role) == ("fractional", "numerical")
    assert (age.type, age.role) == ("integral", "numerical")  # 72 values: more than 10
    assert (kids.type, kids.role) == ("integral", "categorical")  # 4 values, gaps as NaN
    assert (city.type, city.role) == ("string", "categorical")
    assert (member.type, member.role) == ("boolean", "categorical")

    values = ref["income"].to_numpy()
    assert income.min == values.min() and income.max == values.max()
    assert income.mean == pytest.approx(values.mean())
    assert income.std == pytest.approx(values.std(ddof=1))
    assert income.quantiles["0.5"] == pytest.approx(np.median(values))
    assert income.quantiles["0.05"] == pytest.approx(np.quantile(values, 0.05))
    assert income.completeness == 1.0 and income.distinct == 400 and income.categories is None

    assert kids.completeness == pytest.approx(0.9) and kids.count == 360
    assert {c["value"] for c in kids.categories} == {0, 1, 2, 3}
    assert all(isinstance(c["value"], int) for c in kids.categories)  # not 0.0, 1.0, ...
    counts = ref["city"].value_counts()
    assert city.categories == [{"value": k, "count": int(v)} for k, v in counts.items()]
    assert city.distinct == 3 and city.min is None
    assert {c["value"] for c in member.categories} == {True, False}


def test_overrides_set_the_role_and_bad_ones_are_refused() -> None:
    ref = people()
    b = baseline(ref, categorical=["age"], numerical=["member"])
    assert b.column("age").role == "categorical" and len(b.column("age").categories) == 72
    assert b.column("member").role == "numerical" and b.column("member").max == 1.0
    with pytest.raises(MonitorError, match=r"categorical= names column 'ag', .*did you mean 'age'"):
        baseline(ref, categorical="ag")
    with pytest.raises(MonitorError, match="named both categorical and numerical"):
        baseline(ref, categorical=["age"], numerical=["age"])
    with pytest.raises(MonitorError, match="'city' holds text in the reference; it cannot be num"):
        baseline(ref, numerical=["city"])
    with pytest.raises(MonitorError, match="max_categories must be a whole number"):
        baseline(ref, max_categories=-1)


def test_too_many_categories_keeps_no_set_and_checks_no_unseen_values() -> None:
    ref = pd.DataFrame({"id": [f"u{i}" for i in range(50)], "g": ["a", "b"] * 25})
    b = baseline(ref, max_categories=10)
    assert b.column("id").categories is None
    assert "50 distinct values, more than max_categories=10" in b.column("id").note
    batch = pd.DataFrame({"id": ["new-user"] * 5, "g": ["a"] * 5})
    assert kinds(b.check(batch, drift=False)) == []


def test_the_sample_is_bounded_and_seeded() -> None:
    ref = people(3000)
    b = baseline(ref, sample_size=500, seed=3)
    assert b.sample_rows == 500 and set(b.sample) == set(b.names)
    frame = b.sample_frame()
    assert frame.shape == (500, 5)
    assert set(frame["income"]) <= set(ref["income"])  # rows of the reference, not made up
    assert baseline(ref, sample_size=500, seed=3).sample == b.sample
    assert baseline(ref, sample_size=500, seed=4).sample != b.sample
    small = baseline(ref.head(100), sample_size=500)
    assert small.sample_rows == 100
    none = baseline(ref, sample_size=0)
    assert none.sample is None
    with pytest.raises(MonitorError, match=r"keeps no reference sample.*drift=False"):
        none.check(ref)
    assert len(none.check(ref, drift=False)) == 0


def test_the_reference_itself_has_no_violations() -> None:
    ref = people(1500)
    result = baseline(ref).check(ref)
    assert len(result) == 0 and not result
    assert result.to_dict() == {"violations": [], "checked_rows": 1500, "columns": 5}


# ------------------------------------------------------------------ forms and bad input


def test_baseline_forms_escape_column_names() -> None:
    b = baseline(pd.DataFrame({"<i>x</i>": [1.5, 2.5], "c": ["<script>", "b"]}))
    text = b.to_text()
    assert text.startswith("baseline of 2 rows, 2 columns; a sample of 2 rows kept for drift")
    assert "<i>x</i>" in text
    markup = b.to_html()
    assert "<i>" not in markup and "<script>" not in markup and "&lt;script&gt;" in markup
    assert b._repr_html_() == markup


def test_an_empty_reference_or_one_that_is_not_a_frame_is_a_clear_error() -> None:
    with pytest.raises(MonitorError, match="the reference frame has no rows"):
        baseline(pd.DataFrame({"x": []}))
    with pytest.raises(MonitorError, match="the reference data must be a pandas DataFrame"):
        baseline([1, 2, 3])
