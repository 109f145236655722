"""Verifying runs of this store: made in a real IPython shell (so they have an execution
history), exported to a temporary record and replayed in a fresh kernel."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

from nb_mlops.records.record import RecordError
from nb_mlops.records.verify import verify
from nb_mlops.store.workspace import Workspace

LOAD = """import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import SGDClassifier
X, y = load_iris(return_X_y=True)"""
TRACK = """%%track -n sgd --seed 0
alpha = 0.001
model = SGDClassifier(alpha=alpha, random_state=np.random.randint(2**31 - 1)).fit(X, y)
track.log(accuracy=model.score(X, y))
track.model(model, "iris-sgd")"""


def cell(ip, code: str) -> None:
    with capture_output():
        result = ip.run_cell(code)
    assert result.error_in_exec is None, result.error_in_exec


@pytest.mark.slow
def test_a_seeded_run_verifies_and_the_verdict_links_to_it(
    ip, ws: Workspace, tmp_path: Path
) -> None:
    """The data was loaded in an untracked cell before the tracked one: the replay has it."""
    cell(ip, LOAD)
    cell(ip, TRACK)
    (original,) = ws.catalog.docs("runs").values()
    models_before = sorted(ws.catalog.docs("models"))
    asked: list[str] = []
    verdict = verify(ws, "sgd", workdir=tmp_path / "work", confirm=lambda s: not asked.append(s))
    assert verdict.tier in ("bitwise-identical", "identical-parameters"), verdict.to_text()
    assert len(asked) == 1 and "Reproducing run sgd" in asked[0]
    assert verdict.record is None  # the temporary record is gone
    assert verdict.run_id == original["run_id"]
    kept = ws.catalog.get("runs", verdict.verdict_run)
    assert kept["name"] == "reproduce-sgd"
    assert kept["tags"]["reproduces"] == original["run_id"]  # the run itself, in this store
    assert kept["params"]["tier"] == verdict.tier
    assert sorted(ws.catalog.docs("models")) == models_before == ["iris-sgd/1"]


@pytest.mark.slow
def test_state_from_outside_the_recorded_cells_is_a_difference(
    ip, ws: Workspace, tmp_path: Path
) -> None:
    """A name the shell had before any recorded cell (typed in another notebook, say) is
    missing from the replay: the cell that reads it fails, and the run is not reproduced."""
    ip.user_ns["outside_scale"] = 3.0
    cell(ip, "%%track -n scaled\ntrack.log(value=outside_scale * 2)")
    verdict = verify(ws, "scaled", workdir=tmp_path / "work", yes=True)
    assert verdict.tier == "not-reproduced"
    failed = [d for d in verdict.differences if "failed" in d]
    assert failed and failed[0].endswith(
        "failed: NameError: name 'outside_scale' is not defined"
    ), verdict.differences
    assert "metric value: 6 -> missing" in verdict.differences


def test_verify_needs_yes_or_a_confirmation_before_exporting(ws: Workspace) -> None:
    with pytest.raises(RecordError, match=r"pass yes=True \(--yes\)"):
        verify(ws, "anything")


def test_an_unknown_run_is_refused(ws: Workspace) -> None:
    from nb_mlops.errors import RunNotFound

    with pytest.raises(RunNotFound, match="nope"):
        verify(ws, "nope", yes=True)
