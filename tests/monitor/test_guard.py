"""The model-version guard: the served model's fingerprint against the version its alias points
to, and changes of model between observations with no alias move."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import nb_mlops as nm
from nb_mlops.monitor import Monitor, MonitorAlert

COLS = ["a", "b", "c", "d"]


@pytest.fixture
def setup(ws):
    x, y = make_classification(n_samples=1200, n_features=4, n_informative=3, n_redundant=0,
                               random_state=3)  # fmt: skip
    frame = pd.DataFrame(x, columns=COLS)
    v1 = LogisticRegression(C=1.0).fit(frame.iloc[:400], y[:400])
    v2 = LogisticRegression(C=0.01).fit(frame.iloc[400:800], y[400:800])
    nm.register_model("clf", v1)
    nm.register_model("clf", v2)
    nm.set_alias("clf", "production", 1)
    return frame, y, v1, v2


def guard_alerts(mon):
    return [a for a in mon.alerts() if a["kind"] == "model-version"]


def observe(mon, frame, at):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mon.observe(frame, timestamp=at)
    return [str(w.message) for w in caught if issubclass(w.category, MonitorAlert)]


def test_served_version_is_recorded_and_quiet_when_right(ws, setup):
    frame, _, _, _ = setup
    mon = Monitor("g", model="models:/clf@production", reference=frame.iloc[:400], ws=ws)
    assert observe(mon, frame.iloc[800:900], "2026-05-01") == []
    row = mon.windows().iloc[0]
    assert row["model_version"] == 1
    assert row["fingerprint"] == nm.get_model_version("models:/clf/1").fingerprint
    assert guard_alerts(mon) == []


def test_alias_moved_but_model_not_reloaded(ws, setup):
    frame, _, _, _ = setup
    mon = Monitor("g", model="models:/clf@production", reference=frame.iloc[:400], ws=ws)
    observe(mon, frame.iloc[800:850], "2026-05-01")
    nm.set_alias("clf", "production", 2)
    said = observe(mon, frame.iloc[850:900], "2026-05-02")
    assert any("MODEL VERSION MISMATCH" in s and "points to version 2" in s for s in said), said
    assert "version 1" in guard_alerts(mon)[0]["message"]
    # reopening loads what the alias points to now: the change is explained by the alias move
    again = Monitor("g", ws=ws)
    said = observe(again, frame.iloc[900:950], "2026-05-03")
    assert not [s for s in said if "MODEL" in s], said
    assert again.windows().iloc[-1]["model_version"] == 2


def test_swapped_model_object_alerts(ws, setup):
    frame, _, _, v2 = setup
    mon = Monitor("g", model="models:/clf@production", reference=frame.iloc[:400], ws=ws)
    observe(mon, frame.iloc[800:850], "2026-05-01")
    mon.model = v2  # someone swaps the served object; production still names version 1
    said = observe(mon, frame.iloc[850:900], "2026-05-02")
    assert any("MODEL VERSION MISMATCH" in s for s in said), said
    assert any("MODEL CHANGED WITHOUT A PROMOTION" in s for s in said), said
    window = mon.windows().iloc[-1]
    assert window["model_version"] == 2 and window["alerts"] >= 2
    assert "MODEL VERSION MISMATCH" in str(mon)


def test_a_refit_in_place_is_caught_without_an_alias(ws, setup):
    frame, y, _, _ = setup
    model = LogisticRegression().fit(frame.iloc[:400], y[:400])
    mon = Monitor("plain", model=model, reference=frame.iloc[:400], ws=ws)
    assert observe(mon, frame.iloc[800:850], "2026-05-01") == []
    model.fit(frame.iloc[400:800], y[400:800])  # the same object, new weights
    said = observe(mon, frame.iloc[850:900], "2026-05-02")
    assert any("no alias is followed" in s for s in said), said
    assert pd.isna(mon.windows().iloc[-1]["model_version"])
