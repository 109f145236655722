"""A baseline's dict and JSON forms: the round trip, and dicts and files that must be refused
with the field at fault named."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from monitor.baseline_frames import people

from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.profile import FORMAT, Baseline, baseline


def test_round_trip_through_a_dict_and_a_json_file(tmp_path: Path) -> None:
    ref = people(2500)
    ref["when"] = pd.date_range("2026-01-01", periods=2500, freq="h")
    ref["gone"] = np.nan
    ref["mixed"] = [1, "a"] * 1250
    b = baseline(ref)
    d = b.to_dict()
    assert d["format"] == FORMAT == 1
    assert Baseline.from_dict(json.loads(json.dumps(d, allow_nan=False))) == b
    path = b.save(tmp_path / "b.json")
    loaded = Baseline.load(path)
    assert loaded == b and loaded.to_dict() == d
    batch = people(400, seed=3).assign(when=pd.Timestamp("2026-06-01"), gone=np.nan, mixed="a")
    batch["income"] += 5
    assert loaded.check(batch).to_dict() == b.check(batch).to_dict()
    assert loaded.column("when").min == "2026-01-01T00:00:00"
    assert (loaded.column("gone").type, loaded.column("mixed").type) == ("empty", "mixed")


BAD = {
    "newer format": (lambda d: d.update(format=2), "format: 2 is newer than this nb-mlops"),
    "format as text": (lambda d: d.update(format="1"), "format: must be 1, not '1'"),
    "no format": (lambda d: d.pop("format"), "field 'format' is missing"),
    "extra field": (lambda d: d.update(shell="rm"), "unexpected field 'shell'"),
    "rows negative": (lambda d: d.update(rows=-3), "rows: must be a whole number >= 1"),
    "rows bool": (lambda d: d.update(rows=True), "rows: must be a whole numbe"),
    "no columns": (lambda d: d.update(columns=[]), "columns: must be a non-empty list"),
    "bad type": (
        lambda d: d["columns"][0].update(type="float"),
        "column 'x'.type: must be one of integral, fractional",
    ),
    "bad role": (
        lambda d: d["columns"][1].update(role="numerical"),
        "column 'c'.role: a string column cannot be numerical",
    ),
    "completeness off": (
        lambda d: d["columns"][0].update(completeness=0.5),
        "column 'x'.completeness: 0.5 is not count / rows (4 / 4)",
    ),
    "count too big": (
        lambda d: d["columns"][0].update(count=9),
        "column 'x'.count: must be a whole number in [0, 4], not 9",
    ),
    "min above max": (
        lambda d: d["columns"][0].update(min=9.0),
        "column 'x'.min: 9.0 is above max 4.0",
    ),
    "min text": (lambda d: d["columns"][0].update(min="0"), "column 'x'.min: must be a numbe"),
    "categories on numbers": (
        lambda d: d["columns"][0].update(categories=[{"value": 1, "count": 1}]),
        "column 'x'.categories: only a categorical column has categories",
    ),
    "null category": (
        lambda d: d["columns"][1]["categories"][0].update(value=None),
        "column 'c'.categories[0].value: a category is a value, not null",
    ),
    "nested category": (
        lambda d: d["columns"][1]["categories"][0].update(value={"a": 1}),
        "categories[0].value: must be a JSON number, text",
    ),
    "twice": (
        lambda d: d["columns"].append(copy.deepcopy(d["columns"][0])),
        "columns: column 'x' is listed twice",
    ),
    "bad quantile": (
        lambda d: d["columns"][0]["quantiles"].update({"0.3": 1.0}),
        "column 'x'.quantiles: unexpected field '0.3'",
    ),
    "sample short": (
        lambda d: d["sample"]["columns"]["x"].pop(),
        "sample.columns['x']: must be a list of sample.rows=4 values",
    ),
    "sample unknown column": (
        lambda d: d["sample"]["columns"].update(y=[1, 2, 3, 4]),
        "sample.columns['y']: is not a column of the baseline",
    ),
    "sample text in numbers": (
        lambda d: d["sample"]["columns"]["x"].__setitem__(0, "one"),
        "sample.columns['x'][0]: must be a number or null, not 'one'",
    ),
    "sample rows above rows": (
        lambda d: d["sample"].update(rows=40),
        "sample.rows: must be a whole number in [1, 4], not 40",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_dicts_are_refused_with_the_field_named(case: str) -> None:
    change, message = BAD[case]
    d = baseline(pd.DataFrame({"x": [1.0, 2.0, 3.5, 4.0], "c": list("abca")})).to_dict()
    change(d)
    with pytest.raises(MonitorError, match=re.escape(message)) as caught:
        Baseline.from_dict(d)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("baseline: ")


def test_a_dict_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(MonitorError, match="baseline: the baseline: must be an object, not list"):
        Baseline.from_dict([{"format": 1}])


def test_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MonitorError, match="no baseline file at"):
        Baseline.load(tmp_path / "none.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(MonitorError, match=r"junk\.json is not JSON"):
        Baseline.load(tmp_path / "junk.json")
    good = baseline(pd.DataFrame({"x": [1.0, 2.0]})).to_dict()
    text = json.dumps(good).replace('"mean": 1.5', '"mean": NaN')
    (tmp_path / "nan.json").write_text(text)
    with pytest.raises(MonitorError, match=r"nan\.json is not JSON: NaN is not a JSON number"):
        Baseline.load(tmp_path / "nan.json")
    good["columns"][0]["std"] = -1.0
    (tmp_path / "neg.json").write_text(json.dumps(good))
    with pytest.raises(MonitorError, match=r"baseline file .*neg.json: column 'x'.std: must not"):
        Baseline.load(tmp_path / "neg.json")


def test_a_label_names_where_a_bad_dict_came_from() -> None:
    d = baseline(pd.DataFrame({"x": [1.0]})).to_dict()
    with pytest.raises(MonitorError, match=r"^monitor 'm' state: rows: must be a whole number"):
        Baseline.from_dict({**d, "rows": 0}, label="monitor 'm' state")
