"""DriftReport's three forms: the dict scripts read, the text the CLI prints, the HTML table a
notebook shows (every user string escaped)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import sanitized

from nb_mlops.monitor import ColumnDrift, DriftReport, MonitorError, drift


def shifted_report() -> DriftReport:
    rng = np.random.default_rng(21)
    reference = pd.DataFrame(
        {
            "<b>age</b>": rng.normal(40, 10, 400),
            "city": rng.choice(["Seoul", "Busan"], 400),
            "dept": rng.choice(["a", "b", "c"], 400),
            "empty": np.nan,
        }
    )
    current = pd.DataFrame(
        {
            "<b>age</b>": rng.normal(48, 10, 300),
            "city": rng.choice(["Seoul", "Busan", "<script>x</script>"], 300),
            "dept": rng.choice(["a", "b", "c"], 300),
            "empty": np.nan,
        }
    )
    return drift(reference, current)


def test_text_form_has_the_verdict_and_one_line_per_column() -> None:
    text = shifted_report().to_text()
    lines = text.splitlines()
    assert lines[0].startswith("dataset drift: 2 of 3 columns drifted (67%; the dataset drifts at")
    assert "not tested: empty: all values missing in both frames" in text
    age = next(line for line in lines if line.startswith("<b>age</b>"))
    assert "numerical" in age and "ks" in age and "DRIFT" in age
    city = next(line for line in lines if line.startswith("city "))
    assert "<script>x</script>" in city and "chisquare" in city and "inf" in city
    dept = next(line for line in lines if line.startswith("dept "))
    assert " ok " in dept and "chisquare" in dept


def test_html_form_escapes_user_strings_and_keeps_the_table_readable() -> None:
    report = shifted_report()
    markup = report.to_html()
    assert "<b>age</b>" not in markup and "<script>" not in markup
    assert "&lt;b&gt;age&lt;/b&gt;" in markup and "&lt;script&gt;" in markup
    assert markup.count("<tr") == 1 + len(report.columns)
    assert report._repr_html_() == markup
    seen = sanitized(markup)  # a strict viewer drops styles: the verdict is still in the words
    assert "DRIFT" in seen and "dataset drift: 2 of 3 columns" in seen


def test_dict_form_is_strict_json_and_lists_what_drifted() -> None:
    report = shifted_report()
    out = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert out["drifted_columns"] == ["<b>age</b>", "city"] == report.drifted_columns
    assert (out["n_drifted"], out["n_tested"], out["dataset_drift"]) == (2, 3, True)
    city = out["columns"][1]
    assert city["statistic"] is None and city["p_value"] == 0.0
    assert city["unseen_categories"] == ["<script>x</script>"]
    assert out["columns"][3]["problem"] == "all values missing in both frames"
    assert report.to_frame().shape[0] == 4


def test_column_lookup() -> None:
    report = shifted_report()
    assert report.column("dept").test == "chisquare"
    with pytest.raises(MonitorError, match="no column 'nope' in this drift report"):
        report.column("nope")


def test_report_with_nothing_tested_has_no_dataset_drift() -> None:
    report = DriftReport([ColumnDrift("x", None, problem="all values missing in both frames")])
    assert (report.dataset_drift, report.share_drifted, report.drifted_columns) == (False, 0.0, [])
    assert report.to_text().startswith("no dataset drift: 0 of 0 columns drifted")


def test_unseen_categories_stop_at_20_but_count_all() -> None:
    reference = pd.DataFrame({"c": ["a"] * 100})
    current = pd.DataFrame({"c": [f"n{i:02d}" for i in range(30)] * 2 + ["a"] * 40})
    col = drift(reference, current).column("c")
    assert col.unseen_count == 30
    assert len(col.unseen_categories) == 20
    assert col.unseen_share == pytest.approx(0.6)
    assert "+27 (60.0%)" in drift(reference, current).to_text()
