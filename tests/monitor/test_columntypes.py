"""Column types as baselines infer and check them: floats with and without gaps, compatible
batch types, mixed and odd values, True apart from 1, non-text column names."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from monitor.baseline_frames import people

from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.profile import baseline


def test_a_float_column_without_gaps_stays_fractional_even_with_whole_values() -> None:
    b = baseline(pd.DataFrame({"price": [1.0, 2.0, 3.0, 4.0] * 5, "n": list(range(20))}))
    assert b.column("price").type == "fractional"
    assert b.column("n").type == "integral" and b.column("n").role == "numerical"


def test_compatible_types_are_no_violation() -> None:
    b = baseline(people())
    batch = people(30, seed=2)
    batch["income"] = batch["income"].round().astype(int)  # whole numbers in a number column
    batch["age"] = batch["age"].astype(float)  # an integer column held as floats
    batch.loc[0, "age"] = np.nan
    batch["city"] = batch["city"].astype("category")
    assert [v for v in b.check(batch, drift=False) if v["kind"] == "data_type"] == []


def test_mixed_types_in_the_reference_accept_anything_in_the_batch() -> None:
    b = baseline(pd.DataFrame({"m": [1, "a", 2.5, "b"] * 10, "x": np.arange(40.0)}))
    assert b.column("m").type == "mixed" and b.column("m").role == "categorical"
    assert b.to_dict()["columns"][0]["categories"][0]["value"] in (1, "a", 2.5, "b")
    result = b.check(pd.DataFrame({"m": [1, "a", "c"], "x": [1.0, 2.0, 3.0]}), drift=False)
    assert [(v["kind"], v["observed"]) for v in result] == [("categorical_values", ["c"])]


def test_true_and_one_are_different_categories() -> None:
    b = baseline(pd.DataFrame({"m": [1, "a"] * 10}))
    (v,) = b.check(pd.DataFrame({"m": [True, 1, "a"]}), drift=False)
    assert v["kind"] == "categorical_values" and v["observed"] == [True]


def test_unhashable_and_odd_values_do_not_crash() -> None:
    ref = pd.DataFrame({"l": [[1], [2]] * 10, "b": [b"x", b"y"] * 10, "x": np.arange(20.0)})
    b = baseline(ref)
    assert b.column("l").type == "mixed" and b.column("b").type == "unknown"
    assert {c["value"] for c in b.column("l").categories} == {"[1]", "[2]"}  # lists as text
    assert b.column("b").role is None and "only presence, type" in b.column("b").note
    json.dumps(b.to_dict(), allow_nan=False)
    assert len(b.check(ref)) == 0


def test_non_text_column_names_are_read_as_text() -> None:
    b = baseline(pd.DataFrame(np.arange(12.0).reshape(4, 3)))
    assert b.names == ["0", "1", "2"]
    assert len(b.check(pd.DataFrame(np.arange(12.0).reshape(4, 3)), drift=False)) == 0
    with pytest.raises(MonitorError, match="names read the same: '1'"):
        b.check(pd.DataFrame({1: [1.0], "1": [2.0]}))
