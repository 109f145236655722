"""Our drift against Evidently's default data-drift preset, on the same frames.

Evidently (0.7, in `.venv-evidently`, made by `./dev setup`) runs once, as a subprocess, on every
case (tests/monitor/evidently_peer.py; frames and answers go through JSON files, floats exactly).
Cases: a small reference (300 rows: hypothesis tests) and a large one (3,000 rows: distances),
each unshifted and shifted, with numerical, categorical, binary, boolean, few-valued float and
integer columns, plus missing values and a category the reference never had. Compared per
column: the test chosen, the p-value or distance (relative 1e-6 or absolute 1e-9), the threshold
and the drift verdict; per case the number and share of drifted columns and dataset drift.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nb_mlops.monitor import drift

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PEER_VENV = REPO / ".venv-evidently"
PEER_PYTHON = PEER_VENV / "bin" / "python"
PEER_SCRIPT = Path(__file__).with_name("evidently_peer.py")
CASES = ["small-unshifted", "small-shifted", "large-unshifted", "large-shifted", "small-one-shift"]


def make_frame(rng: np.random.Generator, n: int, shifted: bool) -> pd.DataFrame:
    """Numerical, categorical, binary and few-valued columns; `shifted` moves most of them."""
    mean_shift = 0.6 if shifted else 0.0
    cats = ["red", "green", "blue", "amber"] + (["violet"] if shifted else [])
    cat_p = [0.1, 0.2, 0.3, 0.25, 0.15] if shifted else [0.4, 0.3, 0.2, 0.1]
    yes = 0.55 if shifted else 0.3
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(3 + mean_shift, 0.5, n),
            "score": rng.normal(mean_shift, 1.0, n),
            "steady": rng.normal(0.0, 1.0, n),  # never shifted
            "colour": rng.choice(cats, n, p=cat_p),
            "plan": rng.choice(["basic", "pro"], n, p=[1 - yes, yes]),
            "active": rng.random(n) < (0.8 if shifted else 0.5),
            "rating": rng.choice([1.0, 2.0, 3.0], n, p=[0.2, 0.5, 0.3]),  # float, 3 values
            "flag": rng.choice([0.0, 1.0], n),  # float, 2 values
            "rooms": rng.integers(1, 7 if not shifted else 9, n),  # int, <= 10 values: categorical
            "age": rng.integers(18, 90, n) + (5 if shifted else 0),  # int, many values: numerical
        }
    )
    frame.loc[rng.random(n) < 0.05, "score"] = np.nan  # missing values, left out by both
    return frame


def spec(frame: pd.DataFrame) -> dict[str, Any]:
    """A frame as the peer reads it: dtype and values per column (text as Python str)."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_bool_dtype(col.dtype):
            out[name] = {"dtype": "bool", "values": [bool(v) for v in col]}
        elif pd.api.types.is_integer_dtype(col.dtype):
            out[name] = {"dtype": "int64", "values": [int(v) for v in col]}
        elif pd.api.types.is_float_dtype(col.dtype):
            out[name] = {"dtype": "float64", "values": [float(v) for v in col]}
        else:
            out[name] = {"dtype": "object", "values": [None if pd.isna(v) else str(v) for v in col]}
    return out


def cases() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    rng = np.random.default_rng(17)
    found: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for size, n_ref, n_cur in (("small", 300, 250), ("large", 3000, 2000)):
        reference = make_frame(rng, n_ref, shifted=False)
        found[f"{size}-unshifted"] = (reference, make_frame(rng, n_cur, shifted=False))
        found[f"{size}-shifted"] = (reference, make_frame(rng, n_cur, shifted=True))
    # Mostly unshifted, one column shifted: dataset drift must stay off on both sides.
    reference, current = make_frame(rng, 800, False), make_frame(rng, 800, False)
    current["score"] = current["score"] + 1.0
    found["small-one-shift"] = (reference, current)
    return found


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict]]:
    """Per case: (Evidently's answer, ours as to_dict())."""
    if not PEER_PYTHON.exists():
        pytest.fail(
            f"Evidently is not installed in {PEER_VENV}: run ./dev setup (it builds "
            ".venv-evidently; this comparison must run, never be skipped)"
        )
    folder = tmp_path_factory.mktemp("evidently")
    frames = cases()
    source, target = folder / "in.json", folder / "out.json"
    payload = {name: {"reference": spec(r), "current": spec(c)} for name, (r, c) in frames.items()}
    source.write_text(json.dumps({"cases": payload}))
    done = subprocess.run(
        [str(PEER_PYTHON), str(PEER_SCRIPT), str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(target.read_text())["cases"]
    return {name: (theirs[name], drift(r, c).to_dict()) for name, (r, c) in frames.items()}


def close(a: float | None, b: float) -> bool:
    if a is None:  # ours gives None only for a value that is not finite
        return not math.isfinite(b)
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.parametrize("case", CASES)
def test_columns_match_evidently(compared: dict, case: str) -> None:
    theirs, ours = compared[case]
    by_name = {c["column"]: c for c in ours["columns"]}
    assert set(by_name) == set(theirs["columns"])
    for name, peer in theirs["columns"].items():
        mine = by_name[name]
        assert mine["test"] == peer["test"], (case, name, peer["method"])
        value = mine["p_value"] if "p_value" in mine else mine["distance"]
        assert close(value, peer["value"]), (case, name, value, peer["value"])
        assert mine["threshold"] == pytest.approx(peer["threshold"]), (case, name)
        assert mine["drifted"] == peer["drifted"], (case, name, value)


@pytest.mark.parametrize("case", CASES)
def test_dataset_drift_matches_evidently(compared: dict, case: str) -> None:
    theirs, ours = compared[case]
    assert ours["n_drifted"] == theirs["count"]
    assert ours["share_drifted"] == pytest.approx(theirs["share"])
    assert ours["dataset_drift"] == theirs["dataset_drift"]


def test_cases_cover_every_default_test_and_both_verdicts(compared: dict) -> None:
    """The comparison is only worth what it covers: every default test appears, drifted and not,
    and the dataset verdict goes both ways."""
    seen: dict[str, set[bool]] = {}
    verdicts = set()
    for _, ours in compared.values():
        verdicts.add(ours["dataset_drift"])
        for c in ours["columns"]:
            seen.setdefault(c["test"], set()).add(c["drifted"])
    assert set(seen) == {"ks", "chisquare", "z", "wasserstein", "jensenshannon"}
    assert all(flags == {True, False} for flags in seen.values()), seen
    assert verdicts == {True, False}
    shifted = compared["small-shifted"][1]
    assert shifted["columns"][3]["unseen_categories"] == ["violet"]  # colour
