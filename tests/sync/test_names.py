"""What MLflow accepts, and how a sync makes our names and batches fit (no server needed)."""

from __future__ import annotations

import re

import pytest

from nb_mlops.sync.names import MAX_KEY, KeyFitter, fit_key, fit_value, param_text
from nb_mlops.sync.runs import (
    MAX_ENTITIES,
    MAX_METRICS,
    MAX_PARAMS,
    MAX_TAGS,
    batches,
    cells_script,
)

MLFLOW_NAME = re.compile(r"^[/\w.\- :]*$")


@pytest.mark.parametrize(
    ("key", "fitted"),
    [
        ("loss", "loss"),
        ("f1 score", "f1 score"),
        ("val/acc", "val/acc"),
        ("정확도", "정확도"),
        ("f1 (macro)", "f1 _macro_"),
        ("size%", "size_"),
        ("a//b", "a__b"),
        ("../x", "___x"),
        ("/abs", "_abs"),
        ("a/./b", "a_._b"),
        ("", "_"),
        (".", "_"),
        ("x" * 300, "x" * MAX_KEY),
    ],
)
def test_keys_fit(key: str, fitted: str) -> None:
    import posixpath

    out = fit_key(key)
    assert out == fitted
    assert MLFLOW_NAME.fullmatch(out) and len(out) <= MAX_KEY
    norm = posixpath.normpath(out)
    assert norm == out and norm != "." and not norm.startswith(("..", "/"))


def test_values_are_cut_with_a_marker_and_redacted() -> None:
    assert fit_value("short", 10) == "short"
    cut = fit_value("y" * 7000, 6000)
    assert len(cut) == 6000 and cut.endswith("[cut by nb-mlops]")
    assert param_text("db_password", "hunter2") == "[REDACTED]"
    assert param_text("url", "https://me:pw123456@host/x") == "https://me:[REDACTED]@host/x"
    assert param_text("lr", 0.1) == "0.1" and param_text("flag", True) == "True"


@pytest.mark.parametrize(
    ("n_params", "n_tags", "n_metrics"),
    [(0, 0, 0), (3, 2, 10), (150, 120, 2500), (100, 100, 800), (0, 0, 1000), (250, 0, 0)],
)
def test_batches_hold_everything_within_the_limits(n_params, n_tags, n_metrics) -> None:
    params = [(f"p{i}", "v") for i in range(n_params)]
    tags = [(f"t{i}", "v") for i in range(n_tags)]
    metrics = [("m", 0.1, 0, i) for i in range(n_metrics)]
    sent = list(batches(params, tags, metrics))
    for p, t, m in sent:
        assert len(p) <= MAX_PARAMS and len(t) <= MAX_TAGS and len(m) <= MAX_METRICS
        assert len(p) + len(t) + len(m) <= MAX_ENTITIES
        assert p or t or m
    assert [x for b in sent for x in b[0]] == params
    assert [x for b in sent for x in b[1]] == tags
    assert [x for b in sent for x in b[2]] == metrics


def test_cells_script_is_redacted_and_readable() -> None:
    cells = [
        {"n": 3, "status": "finished", "start": "2026-12-06T00:00:00+00:00", "source": "x = 1\n"},
        {"n": None, "source": "api_key = 'sk-abcdefghijklmnopqrstuvwx'"},
    ]
    text = cells_script({"name": "r", "run_id": "abcd1234"}, cells)
    assert text.startswith("# The cells run r (abcd1234) executed")
    assert "# %% In [3] finished 2026-12-06T00:00:00+00:00\nx = 1\n" in text
    assert "# %% cell\napi_key = '[REDACTED]'" in text


def test_names_that_fit_to_one_are_told_apart() -> None:
    fit = KeyFitter(reserved=("nbmlops.run_id",))
    assert [fit(k) for k in ("a@b", "a#b", "a_b", "a@b", "nbmlops.run_id")] == [
        "a_b",
        "a_b_2",
        "a_b_3",
        "a_b",
        "nbmlops.run_id_2",
    ]
    assert fit.changed == [
        ("a@b", "a_b"),
        ("a#b", "a_b_2"),
        ("a_b", "a_b_3"),
        ("nbmlops.run_id", "nbmlops.run_id_2"),
    ]
    long = KeyFitter()
    first, second = long("x" * 260), long("x" * 251)
    assert first == "x" * MAX_KEY and second == "x" * (MAX_KEY - 2) + "_2"
