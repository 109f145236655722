"""The public verbs (`import nb_mlops as nm`): names, errors outside a run, which store is used."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import nb_mlops as nm
from nb_mlops import api
from nb_mlops.errors import NbMlopsError, NoActiveRunError
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking.run import Run
from nb_mlops.tracking.views import RunDetail

VERBS_NEEDING_A_RUN = [
    ("nm.log_metric", lambda: nm.log_metric("loss", 0.1)),
    ("nm.log_metrics", lambda: nm.log_metrics({"loss": 0.1})),
    ("nm.log_param", lambda: nm.log_param("lr", 0.1)),
    ("nm.log_params", lambda: nm.log_params({"lr": 0.1})),
    ("nm.log_artifact", lambda: nm.log_artifact("model.pkl")),
    ("nm.set_tag", lambda: nm.set_tag("team", "nlp")),
    ("nm.set_tags", lambda: nm.set_tags({"team": "nlp"})),
    ("end_run", lambda: nm.end_run()),
    ("track.log", lambda: nm.track.log(loss=0.1)),
]


@pytest.mark.parametrize(
    ("what", "call"), VERBS_NEEDING_A_RUN, ids=[v[0] for v in VERBS_NEEDING_A_RUN]
)
def test_logging_outside_a_run_says_how_to_start_one(what: str, call) -> None:
    with pytest.raises(NoActiveRunError) as info:
        call()
    message = str(info.value)
    assert what in message
    assert "%%track" in message
    assert "nm.start_run" in message
    assert "\n" not in message
    assert isinstance(info.value, NbMlopsError)


def test_nothing_is_written_by_a_refused_call(ws: Workspace) -> None:
    with pytest.raises(NoActiveRunError):
        nm.log_metric("loss", 0.1)
    assert ws.catalog.docs("runs") == {}


def test_public_names() -> None:
    for name in (
        "init",
        "start_run",
        "end_run",
        "active_run",
        "log_param",
        "log_params",
        "log_metric",
        "log_metrics",
        "log_artifact",
        "set_tag",
        "set_tags",
        "runs",
        "get_run",
        "delete_run",
        "gc",
        "track",
        "workspace",
        "repair",
        "__version__",
        "NbMlopsError",
    ):
        assert hasattr(nm, name), name
        assert name in nm.__all__
    assert callable(nm.load_ipython_extension) and callable(nm.unload_ipython_extension)


def test_start_run_returns_a_run_handle_and_track_follows_it(ws: Workspace) -> None:
    assert nm.active_run() is None
    assert repr(nm.track) == "<track: no active run>"
    with nm.start_run("handle") as run:
        assert isinstance(run, Run)
        assert nm.active_run() is run
        assert "handle" in repr(nm.track)
        nm.track.log(loss=0.5)
        assert "log_metric" in dir(nm.track)
        with nm.start_run("inner") as inner:
            assert nm.track.run_id == inner.run_id
        assert nm.track.run_id == run.run_id
    assert nm.active_run() is None
    assert ws.catalog.get("runs", run.run_id)["metrics"] == {"loss": 0.5}


def test_runs_returns_a_dataframe_and_get_run_a_detail(ws: Workspace) -> None:
    with nm.start_run("one"):
        nm.log_metric("acc", 0.9)
    frame = nm.runs()
    assert isinstance(frame, pd.DataFrame)
    assert frame["name"].tolist() == ["one"]
    detail = nm.get_run("one")
    assert isinstance(detail, RunDetail)
    assert detail.to_dict()["metrics"] == {"acc": 0.9}


def test_the_store_is_the_one_nb_mlops_home_names(ws: Workspace, project: Path) -> None:
    assert nm.workspace() is ws
    assert nm.workspace().home == project / ".nbmlops"
    with nm.start_run("here") as run:
        pass
    assert run.ws is ws
    # a run of no points needs no folder (runs/points.pack); its record is in this catalog
    assert run.run_id in (project / ".nbmlops" / "catalog" / "journal.jsonl").read_text()


def test_init_pins_another_store(ws: Workspace, tmp_path: Path) -> None:
    other = tmp_path / "other-project"
    other.mkdir()
    pinned = nm.init(other)
    assert pinned.home == other / ".nbmlops"
    assert (other / ".nbmlops" / "format.json").is_file()
    assert nm.workspace() is pinned
    with nm.start_run("elsewhere") as run:
        assert nm.workspace() is pinned
    assert pinned.catalog.get("runs", run.run_id) is not None
    assert ws.catalog.get("runs", run.run_id) is None
    assert nm.runs()["name"].tolist() == ["elsewhere"]
    # a .nbmlops folder may be named directly
    assert nm.init(other / ".nbmlops").home == other / ".nbmlops"
    api.reset()
    assert nm.workspace() is ws
    assert nm.runs().empty


def test_init_without_path_pins_the_store_found_from_cwd(ws: Workspace) -> None:
    assert nm.init() is ws
    assert nm.workspace() is ws


def test_workspace_is_the_active_runs_store(ws: Workspace, tmp_path: Path) -> None:
    other = nm.init(tmp_path / "elsewhere")
    with nm.start_run("r") as run:
        api.reset()  # unpinned while a run is active: logging still goes to the run's store
        assert nm.workspace() is other
        nm.log_metric("m", 1.0)
    assert other.catalog.get("runs", run.run_id)["metrics"] == {"m": 1.0}


def test_end_run_ends_the_innermost(ws: Workspace) -> None:
    outer = nm.start_run("outer")
    inner = nm.start_run("inner")
    nm.end_run()
    assert nm.active_run() is outer
    assert ws.catalog.get("runs", inner.run_id)["status"] == "finished"
    nm.end_run("failed")
    assert nm.active_run() is None
    assert ws.catalog.get("runs", outer.run_id)["status"] == "failed"


def test_repair_on_a_healthy_store(ws: Workspace) -> None:
    with nm.start_run("fine"):
        pass
    result = nm.repair()
    assert result["set_aside"] == 0
    assert result["kept"] >= 1
    assert nm.runs()["name"].tolist() == ["fine"]


def test_get_run_reads_like_a_dict(ws) -> None:
    with nm.start_run("indexed"):
        nm.log_param("lr", 0.1)
        nm.log_metric("loss", 0.5)
    run = nm.get_run("indexed")
    assert run["params"] == {"lr": 0.1}
    assert run["metrics"] == {"loss": 0.5}
    with pytest.raises(KeyError):
        run["nope"]
