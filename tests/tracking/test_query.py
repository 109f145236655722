"""Reading runs back: the runs frame, filters, resolving a RUN argument, crashed runs."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from conftest import cli, cli_json, run_env

import nb_mlops as nm
from nb_mlops import api
from nb_mlops.errors import FilterSyntaxError, InvalidValue, RunNotFound
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking import run as run_module
from nb_mlops.tracking.order import OrderByError
from nb_mlops.tracking.query import BASE_COLUMNS, resolve_run


def make_runs() -> dict[str, str]:
    """Three finished runs and one failed one; returns name -> run_id."""
    ids = {}
    with nm.start_run("rf-1", tags={"team": "nlp"}) as r:
        nm.log_params({"model": "rf", "n_estimators": 100})
        nm.log_metric("acc", 0.5)
        nm.log_metric("acc", 0.81)
    ids["rf-1"] = r.run_id
    with nm.start_run("rf-2", tags={"team": "vision"}) as r:
        nm.log_params({"model": "rf", "n_estimators": 300})
        nm.log_metrics({"acc": 0.93, "loss": 0.2})
    ids["rf-2"] = r.run_id
    with nm.start_run("gbm", experiment="boost") as r:
        nm.log_params({"model": "gbm", "depth": "deep"})
        nm.log_metric("acc", 0.7)
    ids["gbm"] = r.run_id
    with pytest.raises(ZeroDivisionError), nm.start_run("broken") as r:
        nm.log_param("model", "rf")
        _ = 1 / 0
    ids["broken"] = r.run_id
    return ids


# --------------------------------------------------------------------------- the frame
def test_runs_frame_columns_in_order(ws: Workspace) -> None:
    make_runs()
    frame = nm.runs()
    cols = list(frame.columns)
    assert cols[:6] == ["run_id", "name", "experiment", "status", "start", "duration"]
    assert cols[:6] == BASE_COLUMNS
    rest = cols[6:]
    sections = [c.split(".", 1)[0] for c in rest if c != "parent"]
    assert sections == sorted(sections, key=["params", "metrics", "tags"].index)
    assert [c for c in rest if c.startswith("params.")] == [
        "params.depth",
        "params.model",
        "params.n_estimators",
    ]
    assert [c for c in rest if c.startswith("metrics.")] == ["metrics.acc", "metrics.loss"]
    assert [c for c in rest if c.startswith("tags.")] == ["tags.team"]
    assert set(rest) - {c for c in rest if "." in c} <= {"parent"}


def test_runs_frame_values_types_and_order(ws: Workspace) -> None:
    ids = make_runs()
    frame = nm.runs()
    assert frame["name"].tolist() == ["broken", "gbm", "rf-2", "rf-1"]  # newest first
    assert frame["run_id"].tolist() == [ids[n] for n in ("broken", "gbm", "rf-2", "rf-1")]
    assert frame["status"].tolist() == ["failed", "finished", "finished", "finished"]
    assert frame["experiment"].tolist() == ["Default", "boost", "Default", "Default"]
    assert isinstance(frame["start"].dtype, pd.DatetimeTZDtype)
    assert str(frame["start"].dt.tz) == "UTC"
    now = pd.Timestamp.now(tz="UTC")
    assert ((now - frame["start"]) < pd.Timedelta(minutes=5)).all()
    assert frame["start"].is_monotonic_decreasing
    assert frame["duration"].dtype == "float64"
    assert (frame["duration"] >= 0).all()
    assert frame["params.n_estimators"].dtype == "float64"
    assert frame["params.n_estimators"].tolist()[2:] == [300.0, 100.0]
    assert math.isnan(frame["params.n_estimators"].iloc[0])
    assert frame["metrics.acc"].dtype == "float64"
    by_name = frame.set_index("name")
    assert by_name.loc["rf-1", "metrics.acc"] == 0.81  # the last value, not the first
    assert by_name.loc["rf-2", "metrics.loss"] == 0.2
    assert math.isnan(by_name.loc["rf-1", "metrics.loss"])
    assert by_name.loc["gbm", "params.depth"] == "deep"
    assert by_name.loc["rf-2", "tags.team"] == "vision"
    assert by_name.loc["rf-1", "parent"] is None


def test_mixed_type_param_column_stays_object(ws: Workspace) -> None:
    with nm.start_run("a"):
        nm.log_param("size", 10)
    with nm.start_run("b"):
        nm.log_param("size", "large")
    with nm.start_run("c"):
        nm.log_param("flag", True)
    frame = nm.runs()
    assert frame["params.size"].dtype == object
    assert set(frame["params.size"].dropna()) == {10, "large"}
    assert frame["params.flag"].dropna().tolist() == [True]


def test_runs_frame_with_no_runs(ws: Workspace) -> None:
    frame = nm.runs()
    assert len(frame) == 0
    assert list(frame.columns)[:6] == BASE_COLUMNS


def test_running_run_shows_live_metrics(ws: Workspace) -> None:
    with nm.start_run("live"):
        nm.log_metric("loss", 0.9)
        nm.log_metric("loss", 0.3)
        frame = nm.runs()
        assert frame["status"].tolist() == ["running"]
        assert frame["metrics.loss"].tolist() == [0.3]
        assert math.isnan(frame["duration"].iloc[0])
        detail = nm.get_run("live").to_dict()
        assert detail["metrics"] == {"loss": 0.3}
        assert [p[1] for p in detail["series"]["loss"]] == [0.9, 0.3]


# --------------------------------------------------------------------------- filters
@pytest.mark.parametrize(
    ("filter_text", "names"),
    [
        ("metrics.acc > 0.8", ["rf-2", "rf-1"]),
        ('params.model = "rf"', ["broken", "rf-2", "rf-1"]),
        ("params.model = 'rf' AND metrics.acc >= 0.9", ["rf-2"]),
        ("status = 'FAILED'", ["broken"]),
        ("attributes.status = 'KILLED'", []),
        ("params.depth IS NOT NULL", ["gbm"]),
        ("attributes.status = 'finished'", ["gbm", "rf-2", "rf-1"]),
        ("tags.team = 'nlp' OR experiment = 'boost'", ["gbm", "rf-1"]),
        (
            "(params.n_estimators > 200 OR params.depth = 'deep') AND status = 'finished'",
            ["gbm", "rf-2"],
        ),
        ("name LIKE 'rf-%'", ["rf-2", "rf-1"]),
        ("metrics.loss < 1", ["rf-2"]),
        ("metrics.missing > 0", []),
        ("", ["broken", "gbm", "rf-2", "rf-1"]),
    ],
)
def test_filters(ws: Workspace, filter_text: str, names: list[str]) -> None:
    make_runs()
    assert nm.runs(filter_text)["name"].tolist() == names


def test_filter_on_parent(ws: Workspace) -> None:
    with nm.start_run("outer") as outer, nm.start_run("child"):
        pass
    assert nm.runs(f"parent = '{outer.run_id}'")["name"].tolist() == ["child"]
    assert nm.runs("parent = null")["name"].tolist() == ["outer"]


def test_bad_filter_raises_filter_syntax_error(ws: Workspace) -> None:
    make_runs()
    with pytest.raises(FilterSyntaxError):
        nm.runs("metrics.acc >> 1")


def test_order_by_and_max_results(ws: Workspace) -> None:
    make_runs()  # acc: rf-1 0.81, rf-2 0.93, gbm 0.7, broken none
    assert nm.runs(order_by=["metrics.acc DESC"])["name"].tolist() == [
        "rf-2",
        "rf-1",
        "gbm",
        "broken",
    ]
    assert nm.runs(order_by="metrics.acc")["name"].tolist() == ["gbm", "rf-1", "rf-2", "broken"]
    assert nm.runs("params.model = 'rf'", order_by=["start_time"], max_results=2)[
        "name"
    ].tolist() == ["rf-1", "rf-2"]
    assert nm.runs(max_results=1)["name"].tolist() == ["broken"]  # newest first
    assert nm.runs(order_by=["params.n_estimators DESC", "run_name"])["name"].tolist() == [
        "rf-2",
        "rf-1",
        "broken",
        "gbm",
    ]
    table = api.run_table(order_by=["status", "metrics.acc DESC"], max_results=3)
    assert [d["name"] for d in table.runs] == ["broken", "rf-2", "rf-1"]
    assert table.to_dict()["order_by"] == ["status", "metrics.acc DESC"]
    assert "ordered by status, metrics.acc DESC" in table.to_text()


def test_bad_order_by_and_max_results(ws: Workspace) -> None:
    make_runs()
    with pytest.raises(OrderByError, match="column 13: expected ASC, DESC"):
        nm.runs(order_by=["metrics.acc DOWN"])
    with pytest.raises(OrderByError, match="already ordered by"):
        nm.runs(order_by=["start_time", "created DESC"])
    with pytest.raises(InvalidValue, match="positive integer"):
        nm.runs(max_results=0)


@pytest.mark.slow
def test_runs_command_orders_and_limits(ws: Workspace, project: Path, ip) -> None:
    """`--order-by` (repeatable) and `--max-results`: one command table, CLI and magic alike."""
    make_runs()
    out = cli_json(
        project,
        "runs",
        "--order-by",
        "params.model DESC",
        "--order-by=metrics.acc DESC",
        "--max-results",
        "3",
        "status = 'finished'",
    )
    assert [r["name"] for r in out["runs"]] == ["rf-2", "rf-1", "gbm"]
    assert out["order_by"] == ["params.model DESC", "metrics.acc DESC"]
    table = ip.run_line_magic(
        "track", "runs --order-by 'metrics.acc' --max-results 2 params.model = 'rf'"
    )
    assert [d["name"] for d in table.runs] == ["rf-1", "rf-2"]
    bad = cli(project, "runs", "--max-results", "0")
    assert bad.returncode != 0 and "positive integer" in bad.stderr
    bad = cli(project, "runs", "--order-by", "metrics.acc SIDEWAYS")
    assert bad.returncode != 0
    assert "bad order_by clause at column 13" in bad.stderr


def test_runs_record_the_user_and_answer_mlflow_names(
    ws: Workspace, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "kim")
    (project / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with nm.start_run("reader", data=["data.csv"]) as reader:
        nm.log_metric("acc", 0.5)
    monkeypatch.setenv("LOGNAME", "lee")
    with nm.start_run("parent") as parent, nm.start_run("child") as child:
        pass
    assert ws.catalog.get("runs", reader.run_id)["user"] == "kim"
    assert nm.runs("user_id = 'lee'")["name"].tolist() == ["child", "parent"]
    assert nm.runs("tags.mlflow.user = 'kim'")["name"].tolist() == ["reader"]
    assert nm.runs(f"tags.mlflow.parentRunId = '{parent.run_id}'")["run_id"].tolist() == [
        child.run_id
    ]
    md5 = ws.catalog.get("runs", reader.run_id)["data"][0]["md5"]
    assert nm.runs(f"datasets.name = 'data.csv' AND datasets.digest = '{md5}'")[
        "name"
    ].tolist() == ["reader"]
    assert nm.runs("datasets.name IS NULL")["name"].tolist() == ["child", "parent"]
    uri = (ws.runs_dir / reader.run_id).absolute().as_uri()
    assert nm.runs(f"artifact_uri = '{uri}'")["name"].tolist() == ["reader"]
    start = ws.catalog.get("runs", child.run_id)["start"]
    millis = int(dt.datetime.fromisoformat(start).timestamp() * 1000)
    assert child.run_id in nm.runs(f"attributes.start_time = {millis}")["run_id"].tolist()


def test_user_is_none_when_unknown(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare container: no login variables, and a uid with no passwd entry."""
    import pwd

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    uid = 54_321
    with pytest.raises(KeyError):
        pwd.getpwuid(uid)
    monkeypatch.setattr(os, "getuid", lambda: uid)
    with nm.start_run("anonymous") as r:
        pass
    assert ws.catalog.get("runs", r.run_id)["user"] is None
    assert nm.runs("user_id IS NULL")["name"].tolist() == ["anonymous"]


def test_user_follows_the_login_variables(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user is kept between runs, but only while the variables that name it stay."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USER", "alice")
    with nm.start_run("a") as a:
        pass
    monkeypatch.setenv("LOGNAME", "bob")  # read before USER, as getpass reads them
    with nm.start_run("b") as b:
        pass
    users = [ws.catalog.get("runs", r.run_id)["user"] for r in (a, b)]
    assert users == ["alice", "bob"]


# --------------------------------------------------------------------------- resolving
def test_get_run_by_id_prefix_and_name(ws: Workspace) -> None:
    ids = make_runs()
    rid = ids["rf-2"]
    assert nm.get_run(rid).to_dict()["name"] == "rf-2"
    prefix = next(
        rid[:n] for n in range(1, 9) if sum(i.startswith(rid[:n]) for i in ids.values()) == 1
    )
    assert nm.get_run(prefix).to_dict()["run_id"] == rid
    assert nm.get_run("gbm").to_dict()["run_id"] == ids["gbm"]
    assert nm.get_run(f"  {rid}  ").to_dict()["run_id"] == rid


def test_name_means_the_latest_run_of_that_name(ws: Workspace) -> None:
    with nm.start_run("again") as first:
        nm.log_metric("m", 1)
    with nm.start_run("again") as second:
        nm.log_metric("m", 2)
    with nm.start_run("other"):
        pass
    detail = nm.get_run("again").to_dict()
    assert detail["run_id"] == second.run_id != first.run_id
    assert detail["metrics"] == {"m": 2.0}


def test_ambiguous_prefix_and_unknown_run(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = iter(["abc12345", "abc67890", "zzz00000"])
    monkeypatch.setattr(run_module, "new_run_id", lambda: next(fixed))
    for name in ("one", "two", "three"):
        with nm.start_run(name):
            pass
    with pytest.raises(RunNotFound, match="ambiguous") as info:
        nm.get_run("abc")
    assert "abc12345" in str(info.value) and "abc67890" in str(info.value)
    assert nm.get_run("abc6").to_dict()["name"] == "two"
    assert nm.get_run("z").to_dict()["name"] == "three"
    with pytest.raises(RunNotFound, match="nope"):
        nm.get_run("nope")
    for empty in ("", "   "):
        with pytest.raises(RunNotFound):
            nm.get_run(empty)
    with pytest.raises(RunNotFound):
        resolve_run(ws, None)  # type: ignore[arg-type]


def test_run_ids_do_not_clash(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = itertools.chain(["dup00000", "dup00000", "new00000"])
    monkeypatch.setattr(run_module, "new_run_id", lambda: next(ids))
    with nm.start_run("first") as a:
        pass
    with nm.start_run("second") as b:
        pass
    assert (a.run_id, b.run_id) == ("dup00000", "new00000")
    assert ws.catalog.get("runs", "dup00000")["name"] == "first"


def test_get_run_detail_contents(ws: Workspace) -> None:
    with nm.start_run("detail", tags={"t": 1}) as run:
        nm.log_metric("loss", 1.0)
        nm.log_metric("loss", 0.5)
    d = nm.get_run("detail").to_dict()
    assert d["run_id"] == run.run_id
    assert d["status"] == "finished"
    assert [(p[0], p[1]) for p in d["series"]["loss"]] == [(0, 1.0), (1, 0.5)]
    assert d["cells"] == [] and d["stdout"] == "" and d["children"] == []
    start = dt.datetime.fromisoformat(d["start"])
    assert start.utcoffset() == dt.timedelta(0)


# --------------------------------------------------------------------------- crashes
CRASHER = textwrap.dedent(
    """
    import time
    import nb_mlops as nm

    run = nm.start_run("doomed", params={"lr": 0.5})
    nm.log_metric("loss", 0.9)
    nm.log_metric("loss", 0.4)
    nm.log_metric("acc", 0.75, step=3)
    run.flush()
    print("ready", run.run_id, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.slow
def test_killed_process_leaves_a_crashed_run(ws: Workspace, project: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHER],
        cwd=project,
        env=run_env(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().split()
        if line[:1] != ["ready"]:
            proc.kill()
            pytest.fail(f"subprocess did not start a run: {proc.communicate()[1]}")
        run_id = line[1]
        assert ws.catalog.get("runs", run_id)["status"] == "running"
        frame = nm.runs()
        assert frame.loc[frame.run_id == run_id, "status"].tolist() == ["running"]
        assert frame.loc[frame.run_id == run_id, "metrics.loss"].tolist() == [0.4]
    finally:
        proc.kill()  # SIGKILL: no atexit, no finally
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -9
    frame = nm.runs()
    row = frame[frame.run_id == run_id].iloc[0]
    assert row["status"] == "crashed"
    assert row["metrics.loss"] == 0.4
    assert row["metrics.acc"] == 0.75
    assert row["params.lr"] == 0.5
    doc = ws.catalog.get("runs", run_id)
    assert doc["status"] == "crashed"
    assert doc["metrics"] == {"loss": 0.4, "acc": 0.75}
    assert doc["end"] is not None and doc["end"] >= doc["start"]
    assert nm.runs("status = 'crashed'")["run_id"].tolist() == [run_id]
    assert nm.get_run("doomed").to_dict()["status"] == "crashed"


def test_a_run_name_typo_gets_a_suggestion(ws) -> None:
    import nb_mlops as nm
    from nb_mlops.errors import RunNotFound

    with nm.start_run("rf-baseline"):
        pass
    with pytest.raises(RunNotFound, match="did you mean 'rf-baseline'\\?"):
        nm.get_run("rf-basline")


def test_a_filter_on_a_key_no_run_has_says_so(ws, capsys: pytest.CaptureFixture[str]) -> None:
    import nb_mlops as nm

    with nm.start_run("a"):
        nm.log_metric("accuracy", 0.9)
        nm.log_param("depth", 3)
    capsys.readouterr()
    assert len(nm.runs("metrics.acuracy > 0.5")) == 0  # empty, as MLflow's
    assert "no run has metrics.acuracy; did you mean 'metrics.accuracy'?" in capsys.readouterr().err
    assert len(nm.runs("params.zzz = 1")) == 0
    assert "no run has params.zzz (the runs have 1 params" in capsys.readouterr().err
    assert len(nm.runs("metrics.accuracy > 0.95")) == 0  # a known key: nothing to say
    assert capsys.readouterr().err == ""
