"""Runs brought in whole from elsewhere: their points first, then their document."""

from __future__ import annotations

import pytest

import nb_mlops as nm
from nb_mlops.errors import NbMlopsError
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking.ids import is_run_id, new_run_id, run_id_from
from nb_mlops.tracking.imported import PACKED_IMPORT_POINTS, mlflow_status, record_imported_run

FIELDS = {
    "name": "from mlflow",
    "experiment": "exp",
    "status": "finished",
    "start": 1_800_000_000.0,
    "end": 1_800_000_090.5,
    "user": "kim",
    "params": {"lr": "0.1"},
    "tags": {"team": "nlp", "api_token": "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"},
    "origin": {"kind": "mlflow", "run_id": "abc"},
}


@pytest.mark.parametrize("n", [0, 3, PACKED_IMPORT_POINTS + 5])
def test_an_imported_run_reads_like_any_other(ws: Workspace, n: int) -> None:
    points = [("loss", 1.0 / (s + 1), s, 1_800_000_000.0 + s) for s in range(n)]
    doc = record_imported_run(ws, "m1234567", FIELDS, points)
    assert doc["duration"] == 90.5 and doc["tags"]["api_token"] == "[REDACTED]"
    detail = nm.get_run("m1234567").to_dict()
    assert detail["status"] == "finished" and detail["origin"]["run_id"] == "abc"
    assert detail["series"].get("loss", []) == [[s, v, ts] for _, v, s, ts in points]
    assert (ws.run_files("m1234567").folder.exists()) == (n > PACKED_IMPORT_POINTS)
    assert len(nm.runs("experiment = 'exp'")) == 1


def test_an_import_never_overwrites(ws: Workspace) -> None:
    with nm.start_run("here", system_metrics=False) as run:
        pass
    with pytest.raises(NbMlopsError, match="already in the store"):
        record_imported_run(ws, run.run_id, FIELDS, [])
    with pytest.raises(NbMlopsError, match="finished, failed"):
        record_imported_run(ws, "m7654321", {**FIELDS, "status": "running"}, [])
    with pytest.raises(NbMlopsError, match="at most 250"):
        record_imported_run(ws, "m7654321", FIELDS, [("k" * 300, 1.0, 0, 0.0)])
    with pytest.raises(NbMlopsError, match="name must be one line"):
        record_imported_run(ws, "m7654321", {**FIELDS, "name": "a\nb"}, [])
    assert ("runs", "m7654321") not in ws.catalog


def test_statuses_map_back() -> None:
    assert mlflow_status("FINISHED", False) == "finished"
    assert mlflow_status("FAILED", False) == "failed"
    assert mlflow_status("FAILED", True) == "crashed"
    assert mlflow_status("KILLED", False) == "interrupted"
    assert mlflow_status("RUNNING", False) is None
    assert mlflow_status("SCHEDULED", False) is None


def test_derived_ids() -> None:
    assert run_id_from("abc") == run_id_from("abc") != run_id_from("abd")
    assert is_run_id(run_id_from("abc")) and is_run_id(new_run_id())
    assert not is_run_id("ABCDEFGH") and not is_run_id("abc") and not is_run_id(None)
