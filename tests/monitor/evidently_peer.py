"""Evidently's default data-drift preset on the frames of a JSON file, for the parity test.

Run by `.venv-evidently/bin/python` (Evidently lives in its own venv, made by `./dev setup`):

    evidently_peer.py IN.json OUT.json

IN holds {"cases": {NAME: {"reference": FRAME, "current": FRAME}}}, a FRAME being
{COLUMN: {"dtype": "float64" | "int64" | "object" | "bool" | "category", "values": [...]}}
(NaN is written as JSON's NaN, a missing text value as null). OUT gets, per case, Evidently's
method, threshold, value (p-value or distance) and drift verdict per column, the drifted-columns
count and share and the dataset verdict — all read from Evidently's own report, its tests
included, nothing recomputed here.
"""

from __future__ import annotations

import json
import sys
import warnings

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset

# Evidently's display names -> the test names both projects register.
TESTS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
}


def frame(spec: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series(col["values"], dtype=col["dtype"]) for name, col in spec.items()}
    )


def run_case(case: dict) -> dict:
    report = Report([DataDriftPreset()], include_tests=True)
    snapshot = report.run(frame(case["current"]), frame(case["reference"])).dict()
    columns, by_id, dataset = {}, {}, {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            method = config["method"]
            columns[config["column"]] = {
                "method": method,
                "test": TESTS.get(method, method),
                "threshold": config["threshold"],
                "value": metric["value"],
            }
            by_id[metric["id"]] = config["column"]
        elif config["type"].endswith("DriftedColumnsCount"):
            dataset = {"count": metric["value"]["count"], "share": metric["value"]["share"]}
            dataset["id"] = metric["id"]
    for test in snapshot["tests"]:
        metric_id = test["metric_config"]["metric_id"]
        failed = test["status"] == "FAIL"
        if metric_id in by_id:
            columns[by_id[metric_id]]["drifted"] = failed
        elif metric_id == dataset.get("id"):
            dataset["dataset_drift"] = failed
    dataset.pop("id", None)
    return {"columns": columns, **dataset}


def main() -> None:
    source, target = sys.argv[1], sys.argv[2]
    with open(source) as f:
        cases = json.load(f)["cases"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's divide-by-zero on an unseen category
        out = {name: run_case(case) for name, case in cases.items()}
    with open(target, "w") as f:
        json.dump({"cases": out}, f)


if __name__ == "__main__":
    main()
