"""The verdict's tiers on made-up records and replays: every tier, and the differences listed."""

from __future__ import annotations

import copy
import html
import math
from typing import Any

import numpy as np
import pytest

from nb_mlops.records.verdict import TIERS, Verdict, compare, model_keys, recorded_outputs

FP_A = "a" * 64
FP_B = "b" * 64


def recorded(**changes: Any) -> dict[str, Any]:
    """A record's manifest, as much of it as compare reads: run `fit` made one artifact and one
    model, logged accuracy and loss, and has a child run."""
    manifest = {
        "run": {
            "run_id": "r2",
            "name": "fit",
            "status": "finished",
            "params": {"n_estimators": 5, "layers": [64, 64]},
            "metrics": {"accuracy": 0.9722, "loss": 0.25},
            "children": [{"run_id": "c1", "name": "fold", "params": {}, "metrics": {"acc": 0.5}}],
        },
        "runs": [
            {"run_id": "r1", "name": "fit", "artifacts": [], "models": []},
            {
                "run_id": "r2",
                "name": "fit",
                "artifacts": [{"name": "model.joblib", "md5": "1" * 32}],
                "models": [{"name": "clf", "version": 3}],
            },
        ],
        "artifacts": [
            {"run": "fit", "name": "old.bin", "md5": "9" * 32},
            {"run": "fit", "name": "model.joblib", "md5": "1" * 32},
        ],
        "models": [
            {"run": "fit", "name": "clf", "version": 3, "fingerprint": FP_A, "params": "p.npz"}
        ],
    }
    manifest.update(changes)
    return manifest


def replayed(**changes: Any) -> dict[str, Any]:
    """The same run replayed exactly (its model version number differs: a fresh store)."""
    summary = {
        "run": {
            "run_id": "x9",
            "name": "fit",
            "status": "finished",
            "params": {"n_estimators": 5, "layers": [64, 64]},
            "metrics": {"accuracy": 0.9722, "loss": 0.25},
            "children": [{"name": "fold", "params": {}, "metrics": {"acc": 0.5}}],
        },
        "artifacts": [{"name": "model.joblib", "md5": "1" * 32}],
        "models": [{"name": "clf", "version": 1, "fingerprint": FP_A}],
        "failures": [],
    }
    summary.update(changes)
    return summary


ARRAYS = {"clf": {"coef_": np.array([[1.0, -2.0, 0.0]]), "classes_": np.array(["a", "b"])}}


def with_run(summary: dict[str, Any], **run_changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(summary)
    out["run"].update(run_changes)
    return out


def test_an_exact_replay_is_bitwise_identical() -> None:
    v = compare(recorded(), replayed(), ARRAYS, ARRAYS)
    assert v.tier == "bitwise-identical"
    assert v.differences == []
    assert v.checks["artifacts_equal"] and v.checks["fingerprints_equal"]
    assert v.metrics["fold/acc"] == {"recorded": 0.5, "replayed": 0.5}
    assert v.reproduced


def test_a_different_artifact_leaves_identical_parameters() -> None:
    rep = replayed(artifacts=[{"name": "model.joblib", "md5": "2" * 32}])
    v = compare(recorded(), rep, ARRAYS, ARRAYS)
    assert v.tier == "identical-parameters"
    assert v.differences == ["artifact model.joblib: md5 11111111.. -> 22222222.."]


def test_a_metric_off_within_tolerance_still_has_identical_parameters() -> None:
    rep = with_run(replayed(), metrics={"accuracy": 0.9723, "loss": 0.25})
    v = compare(recorded(), rep, ARRAYS, ARRAYS)
    assert v.tier == "identical-parameters"
    assert v.differences == ["metric accuracy: 0.9722 -> 0.9723 (within rtol 0.001)"]


def test_other_fingerprint_with_close_arrays_is_parameters_within_tolerance() -> None:
    rep = replayed(models=[{"name": "clf", "version": 1, "fingerprint": FP_B}])
    close = {
        "clf": {"coef_": np.array([[1.0 + 1e-9, -2.0, 0.0]]), "classes_": np.array(["a", "b"])}
    }
    v = compare(recorded(), rep, ARRAYS, close)
    assert v.tier == "parameters-within-tolerance"
    assert v.differences == ["model clf: fingerprint aaaaaaaa.. -> bbbbbbbb.."]
    # the same arrays, judged with a tighter tolerance, are not close
    tight = compare(recorded(), rep, ARRAYS, close, rtol_params=1e-12)
    assert tight.tier == "metrics-within-tolerance"
    assert any(
        d.startswith("model clf: array coef_: largest difference 1e-09") for d in tight.differences
    )


def test_far_arrays_with_close_metrics_is_metrics_within_tolerance() -> None:
    rep = replayed(models=[{"name": "clf", "version": 1, "fingerprint": FP_B}])
    rep = with_run(rep, metrics={"accuracy": 0.97225, "loss": 0.25})
    far = {"clf": {"coef_": np.array([[1.5, -2.0, 0.0]]), "classes_": np.array(["a", "b"])}}
    v = compare(recorded(), rep, ARRAYS, far)
    assert v.tier == "metrics-within-tolerance"
    assert "metric accuracy: 0.9722 -> 0.97225 (within rtol 0.001)" in v.differences
    assert any("array coef_: largest difference 0.5" in d for d in v.differences)


def test_metrics_beyond_tolerance_are_not_reproduced() -> None:
    rep = replayed(models=[{"name": "clf", "version": 1, "fingerprint": FP_B}])
    rep = with_run(rep, metrics={"accuracy": 0.9444, "loss": 0.25})
    v = compare(recorded(), rep, ARRAYS, {})
    assert v.tier == "not-reproduced"
    assert "metric accuracy: 0.9722 -> 0.9444 (rtol 0.001)" in v.differences
    assert "model clf: no fitted arrays in the replay to compare" in v.differences
    # a looser metric tolerance accepts the same replay
    loose = compare(recorded(), rep, ARRAYS, {}, rtol_metrics=0.05)
    assert loose.tier == "metrics-within-tolerance"


def test_a_missing_run_a_failed_run_and_failed_cells() -> None:
    v = compare(recorded(), replayed(run=None, failures=["cell 3 failed: NameError: x"]), {}, {})
    assert v.tier == "not-reproduced"
    assert v.differences == ["cell 3 failed: NameError: x", "run fit was not made by the replay"]
    failed = with_run(replayed(), status="failed", error={"type": "ValueError", "message": "bad"})
    v = compare(recorded(), failed, ARRAYS, ARRAYS)
    assert v.tier == "not-reproduced"
    assert v.differences[0] == "run fit status: finished -> failed (ValueError: bad)"


def test_params_children_and_extra_outputs_are_differences() -> None:
    rep = with_run(
        replayed(
            models=[*replayed()["models"], {"name": "other", "version": 1, "fingerprint": FP_B}]
        ),
        params={"n_estimators": 6, "layers": [64, 64], "new": True},
        children=[{"name": "fold", "params": {}, "metrics": {"acc": 0.7}}],
    )
    v = compare(recorded(), rep, ARRAYS, ARRAYS)
    assert "param n_estimators: 5 -> 6" in v.differences
    assert "param new: missing -> True" in v.differences
    assert "metric fold/acc: 0.5 -> 0.7 (rtol 0.001)" in v.differences
    assert "model other: registered by the replay only" in v.differences
    # clf kept its fingerprint: the extra model and the changes keep it from bitwise only
    assert v.tier == "identical-parameters"


def test_nothing_to_compare_is_not_evidence() -> None:
    rec = recorded(runs=[{"run_id": "r2", "name": "fit", "artifacts": [], "models": []}])
    rec["run"]["metrics"] = {}
    rec["run"]["children"] = []
    rep = with_run(replayed(artifacts=[], models=[]), metrics={}, children=[])
    v = compare(rec, rep, {}, {})
    assert v.tier == "not-reproduced"
    assert v.differences == ["run fit recorded no artifact, model or metric: nothing to compare"]


def test_metrics_only_run_can_be_bitwise_identical_and_nan_equals_nan() -> None:
    rec = recorded(runs=[], artifacts=[], models=[])
    rec["run"]["metrics"] = {"loss": math.nan, "acc": 1.0}
    rec["run"]["children"] = []
    rep = with_run(replayed(artifacts=[], models=[]), metrics={"loss": math.nan, "acc": 1.0})
    rep["run"]["children"] = []
    assert compare(rec, rep, {}, {}).tier == "bitwise-identical"
    rep["run"]["metrics"]["loss"] = 0.1
    v = compare(rec, rep, {}, {})
    assert v.tier == "not-reproduced"
    assert v.differences == ["metric loss: nan -> 0.1 (rtol 0.001)"]


def test_the_target_entry_decides_artifacts_and_models_when_names_repeat() -> None:
    arts, models = recorded_outputs(recorded())
    assert [a["name"] for a in arts] == ["model.joblib"]  # not old.bin of the earlier `fit`
    assert models == [
        {"run": "fit", "name": "clf", "version": 3, "fingerprint": FP_A, "params": "p.npz"}
    ]
    assert model_keys([{"name": "a"}, {"name": "b"}, {"name": "a"}]) == ["a", "b", "a#2"]


def test_array_shapes_and_text_arrays_are_compared() -> None:
    rep = replayed(models=[{"name": "clf", "version": 1, "fingerprint": FP_B}])
    other = {"clf": {"coef_": np.zeros((2, 3)), "classes_": np.array(["a", "c"])}}
    v = compare(recorded(), rep, ARRAYS, other)
    assert "model clf: array classes_: values differ" in v.differences
    assert "model clf: array coef_: shape (1, 3) -> (2, 3)" in v.differences


def test_renders_as_text_dict_and_escaped_html() -> None:
    rec = recorded()
    rec["run"]["name"] = "<b>fit</b>"
    rep = with_run(replayed(failures=["cell 2 failed: <script>x</script>"]), name="<b>fit</b>")
    v = compare(rec, rep, ARRAYS, ARRAYS)
    v.environment = ["python 3.10.1 -> 3.11.7"]
    d = v.to_dict()
    assert d["tier"] == v.tier and d["differences"] == v.differences
    assert d["environment"] == ["python 3.10.1 -> 3.11.7"]
    text = v.to_text()
    assert text.splitlines()[0] == f"reproducing <b>fit</b> (r2): {v.tier}"
    assert "  - python 3.10.1 -> 3.11.7" in text
    markup = v.to_html()
    assert "<script>" not in markup and "<b>fit" not in markup
    assert html.escape("cell 2 failed: <script>x</script>") in markup


def test_bad_tolerances_and_tiers_are_refused() -> None:
    with pytest.raises(ValueError, match="rtol_metrics must be a number >= 0"):
        compare(recorded(), replayed(), {}, {}, rtol_metrics=-1)
    with pytest.raises(ValueError, match="tier is one of"):
        Verdict("roughly")
    assert TIERS[0] == "bitwise-identical" and TIERS[-1] == "not-reproduced"


def test_system_metrics_never_decide_a_verdict() -> None:
    """CPU, memory and GPU readings describe the machine: a replay elsewhere differs in them."""
    machine = {"system.cpu_percent": 12.0, "system.memory_used_mb": 900.0}
    rec = recorded()
    rec["run"]["metrics"] = {**rec["run"]["metrics"], **machine}
    rep = with_run(
        replayed(),
        metrics={"accuracy": 0.9722, "loss": 0.25, "system.cpu_percent": 97.0},
    )
    v = compare(rec, rep, ARRAYS, ARRAYS)
    assert v.tier == "bitwise-identical", v.differences
    assert not any(k.startswith("system.") for k in v.metrics)
