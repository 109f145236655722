"""`nm.mlflow_sync` against a real `mlflow server` (SQLite backend, from .venv-mlflow): what
arrives, that a second sync sends only what is new, that nothing is ever duplicated (a lost
state, two processes at once), and that nothing secret is sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_env

import nb_mlops as nm
from nb_mlops.errors import FilterSyntaxError, SyncError
from nb_mlops.store.workspace import Workspace

SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def _runs_there(client, experiment: str) -> list:
    from mlflow.entities import ViewType

    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=1000)


def _by_ours(client, experiment: str) -> dict:
    return {r.data.tags["nbmlops.run_id"]: r for r in _runs_there(client, experiment)}


def _history(client, run_id: str, key: str) -> list[tuple[int, float, int]]:
    return [(m.step, m.value, m.timestamp) for m in client.get_metric_history(run_id, key)]


def _points(ws: Workspace, run_id: str, key: str) -> list[tuple[int, float, int]]:
    from nb_mlops.store.pack import read_run_points

    doc = ws.catalog.get("runs", run_id)
    return [(s, v, int(ts * 1000)) for k, v, s, ts in read_run_points(ws, doc) if k == key]


def test_runs_arrive_whole(ws: Workspace, project: Path, uri, client, unique):
    exp = f"push-{unique}"
    (project / "data.csv").write_text("a,b\n1,2\n3,4\n")
    nm.snapshot("data.csv", "first")
    (project / "report.txt").write_text("all good\n")
    folder = project / "plots"
    folder.mkdir()
    (folder / "a.txt").write_text("A")
    (folder / "b.txt").write_text("B")
    with nm.start_run(
        "rf baseline", experiment=exp, data=["data.csv"], system_metrics=False
    ) as run:
        nm.log_params({"n_estimators": 200, "lr": 0.1, "model": "rf"})
        nm.set_tags({"team": "nlp", "note": "한국어 태그"})
        for step in range(5):
            nm.log_metric("loss", 1.0 / (step + 1), step=step)
        nm.log_metric("acc", 0.9)
        nm.log_artifact(project / "report.txt")
        nm.log_artifact(folder)
        with nm.start_run("child", system_metrics=False) as child:
            nm.log_metric("loss", 0.5)
    with (
        pytest.raises(RuntimeError),
        nm.start_run("bad", experiment=exp, system_metrics=False) as bad,
    ):
        raise RuntimeError("boom")
    stopped = nm.start_run("stopped", experiment=exp, system_metrics=False)
    nm.end_run("interrupted")
    live = nm.start_run("live", experiment=exp, system_metrics=False)
    nm.log_metric("x", 1.0)

    report = nm.mlflow_sync(uri)
    assert set(report.created) == {
        run.run_id,
        child.run_id,
        bad.run_id,
        stopped.run_id,
        live.run_id,
    }
    assert report.points == 5 + 1 + 1 + 1

    there = _by_ours(client, exp)
    r = there[run.run_id]
    assert r.info.run_name == "rf baseline" and r.info.status == "FINISHED"
    doc = ws.catalog.get("runs", run.run_id)
    from nb_mlops.tracking.fields import epoch_ms

    assert r.info.start_time == epoch_ms(doc["start"])
    assert r.info.end_time == epoch_ms(doc["end"])
    assert r.data.params == {"n_estimators": "200", "lr": "0.1", "model": "rf"}
    assert r.data.tags["team"] == "nlp" and r.data.tags["note"] == "한국어 태그"
    assert r.data.tags["mlflow.user"] == doc["user"]
    assert _history(client, r.info.run_id, "loss") == _points(ws, run.run_id, "loss")
    assert _history(client, r.info.run_id, "acc") == _points(ws, run.run_id, "acc")
    files = {a.path for a in client.list_artifacts(r.info.run_id)}
    assert {"report.txt", "plots"} <= files
    assert {a.path for a in client.list_artifacts(r.info.run_id, "plots")} == {
        "plots/a.txt",
        "plots/b.txt",
    }
    local = client.download_artifacts(r.info.run_id, "plots/b.txt", str(project / "dl"))
    assert Path(local).read_text() == "B"
    inputs = r.inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["data.csv"]
    assert inputs[0].dataset.digest == doc["data"][0]["md5"]
    assert json.loads(inputs[0].dataset.source)["version"] == 1

    assert there[child.run_id].data.tags["mlflow.parentRunId"] == r.info.run_id
    assert there[bad.run_id].info.status == "FAILED"
    assert there[stopped.run_id].info.status == "KILLED"
    assert there[live.run_id].info.status == "RUNNING"
    assert "nbmlops.crashed" not in there[bad.run_id].data.tags
    nm.end_run()


def test_second_sync_sends_only_what_is_new(ws: Workspace, uri, client, unique):
    exp = f"incr-{unique}"
    with nm.start_run("done", experiment=exp, system_metrics=False) as done:
        nm.log_metrics({"a": 1.0, "b": 2.0})
    live = nm.start_run("live", experiment=exp, system_metrics=False)
    for step in range(3):
        nm.log_metric("loss", 3.0 - step, step=step)

    first = nm.mlflow_sync(uri, models=False)
    assert first.points == 5
    again = nm.mlflow_sync(uri, models=False)
    # the finished run costs nothing; the running one is read and found with nothing new
    assert again.created == [] and again.unchanged == 1 and again.points == 0
    assert again.params == 0 and again.tags == 0

    for step in range(3, 6):
        nm.log_metric("loss", 3.0 - step, step=step)
    nm.log_param("late", "yes")
    nm.end_run()
    third = nm.mlflow_sync(uri, models=False)
    assert third.updated == [live.run_id] and third.points == 3 and third.params == 1
    r = _by_ours(client, exp)[live.run_id]
    assert r.info.status == "FINISHED"
    assert [s for s, _, _ in _history(client, r.info.run_id, "loss")] == [0, 1, 2, 3, 4, 5]
    assert len(_runs_there(client, exp)) == 2
    assert done.run_id not in third.runs and third.unchanged == 1
    # both finished and sent: nothing to do but ask whether the server is there
    fourth = nm.mlflow_sync(uri, models=False)
    assert fourth.unchanged == 2 and fourth.requests == 1 and fourth.points == 0


def test_lost_state_never_duplicates(ws: Workspace, uri, client, unique):
    exp = f"lost-{unique}"
    with nm.start_run("r", experiment=exp, system_metrics=False) as run:
        for step in range(30):
            nm.log_metric("m", float(step), step=step)
        nm.log_params({"p": 1})
    nm.mlflow_sync(uri, models=False)
    for state in (ws.home / "sync").glob("*.json"):
        state.unlink()
    report = nm.mlflow_sync(uri, models=False)
    assert report.created == [] and report.updated == [run.run_id]
    runs = _runs_there(client, exp)
    assert len(runs) == 1
    assert len(client.get_metric_history(runs[0].info.run_id, "m")) == 30

    # a damaged state file is a note and a full check, never a failure or a duplicate
    for state in (ws.home / "sync").glob("*.json"):
        state.write_text("{not json")
    report = nm.mlflow_sync(uri, models=False)
    assert any("damaged" in n for n in report.notes)
    assert len(_runs_there(client, exp)) == 1
    # a hand-edited one of the right format but the wrong shapes: the same
    for state in (ws.home / "sync").glob("*.json"):
        state.write_text(
            json.dumps(
                {
                    "format": 1,
                    "runs": {run.run_id: {"remote": 7, "sent": {"m": "x"}}},
                    "models": [1],
                }
            )
        )
    report = nm.mlflow_sync(uri)
    assert report.updated == [run.run_id]
    assert len(_runs_there(client, exp)) == 1
    assert len(client.get_metric_history(runs[0].info.run_id, "m")) == 30


def test_batches_stay_within_mlflow_limits(ws: Workspace, uri, client, unique):
    exp = f"batch-{unique}"
    with nm.start_run("many", experiment=exp, system_metrics=False) as run:
        nm.log_params({f"p{i}": i for i in range(150)})
        nm.set_tags({f"t{i}": str(i) for i in range(120)})
        for step in range(2500):
            nm.log_metric("loss", step / 2500, step=step)
    report = nm.mlflow_sync(uri, models=False)
    assert report.points == 2500 and report.params == 150
    # create, 1 listing, 3 log_batch (<= 1000 entities each: 2,500 + 150 + 120 + system tags),
    # end, experiment lookup and reach: no request per point
    assert report.requests <= 10
    r = _by_ours(client, exp)[run.run_id]
    assert len(r.data.params) == 150
    history = _history(client, r.info.run_id, "loss")
    assert [s for s, _, _ in history] == list(range(2500))


def test_statuses_and_crash(project: Path, ws: Workspace, uri, client, unique):
    exp = f"crash-{unique}"
    code = textwrap.dedent(
        f"""
        import os, nb_mlops as nm
        nm.start_run("dies", experiment="{exp}", system_metrics=False)
        nm.log_metric("loss", 0.5)
        nm.active_run().flush()
        os._exit(3)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=run_env(project), check=False
    )
    assert done.returncode == 3
    report = nm.mlflow_sync(uri, models=False)
    (ours,) = report.created
    assert nm.get_run(ours).to_dict()["status"] == "crashed"
    r = _by_ours(client, exp)[ours]
    assert r.info.status == "FAILED"
    assert r.data.tags["nbmlops.crashed"] == "true"


def test_nothing_secret_is_sent(ip, ws: Workspace, uri, client, unique):
    exp = f"secret-{unique}"
    ip.run_cell(
        f"%%track -n leaky -e {exp}\napi_token = '{SECRET}'\nprint('token is {SECRET}')\nx = 1"
    )
    with nm.start_run("tags", experiment=exp, system_metrics=False):
        nm.log_params({"db_password": "hunter2-hunter2", "url": "https://me:pw123456@host/x"})
        nm.set_tags({"auth": "Bearer abcdefghijklmnop", "plain": SECRET})
    nm.mlflow_sync(uri, models=False)
    seen = []
    for r in _runs_there(client, exp):
        seen += [json.dumps(r.data.params), json.dumps(r.data.tags)]
        for art in client.list_artifacts(r.info.run_id, "nb_mlops"):
            path = client.download_artifacts(r.info.run_id, art.path, str(ws.root / "dl"))
            seen.append(Path(path).read_text())
    text = "\n".join(seen)
    assert "x = 1" in text  # the cell did arrive, as a script
    for secret in (SECRET, "hunter2-hunter2", "pw123456", "abcdefghijklmnop"):
        assert secret not in text
    assert "[REDACTED]" in text


def test_cells_arrive_as_a_script(ip, ws: Workspace, uri, client, unique):
    exp = f"cells-{unique}"
    ip.run_cell("import math\nbase = 3")
    ip.run_cell(f"%%track -n cell-run -e {exp}\ny = base * 2\nprint('y is', y)")
    nm.mlflow_sync(uri, models=False)
    (r,) = _runs_there(client, exp)
    names = {a.path for a in client.list_artifacts(r.info.run_id, "nb_mlops")}
    assert names == {"nb_mlops/cells.py", "nb_mlops/stdout.txt"}
    script = Path(client.download_artifacts(r.info.run_id, "nb_mlops/cells.py", str(ws.root / "d")))
    text = script.read_text()
    assert "# %% In [" in text and "y = base * 2" in text
    out = Path(client.download_artifacts(r.info.run_id, "nb_mlops/stdout.txt", str(ws.root / "e")))
    assert out.read_text() == "y is 6\n"


def test_experiment_option_and_filter(ws: Workspace, uri, client, unique):
    exp = f"one-{unique}"
    for model in ("rf", "gbm", "rf"):
        with nm.start_run(
            model, experiment=f"local-{unique}", params={"model": model}, system_metrics=False
        ):
            nm.log_metric("acc", 0.5)
    report = nm.mlflow_sync(uri, experiment=exp, filter="params.model = 'rf'", models=False)
    assert len(report.created) == 2
    runs = _runs_there(client, exp)
    assert sorted(r.data.params["model"] for r in runs) == ["rf", "rf"]
    assert {r.data.tags["nbmlops.experiment"] for r in runs} == {f"local-{unique}"}
    assert client.get_experiment_by_name(f"local-{unique}") is None
    with pytest.raises(FilterSyntaxError):
        nm.mlflow_sync(uri, filter="params.model ==", models=False)


def test_names_mlflow_refuses_are_fitted(ws: Workspace, uri, client, unique):
    exp = f"names-{unique}"
    with nm.start_run("odd", experiment=exp, system_metrics=False) as run:
        nm.log_metric("f1 (macro)", 0.7)
        nm.log_param("size%", 10)
        nm.log_param("long", "x" * 7000)
    report = nm.mlflow_sync(uri, models=False)
    r = _by_ours(client, exp)[run.run_id]
    assert "f1 _macro_" in r.data.metrics and r.data.params["size_"] == "10"
    assert len(r.data.params["long"]) == 6000 and r.data.params["long"].endswith(
        "[cut by nb-mlops]"
    )
    assert any("'f1 (macro)' is sent as 'f1 _macro_'" in n for n in report.notes)


def test_two_processes_at_once_make_one_copy(project: Path, ws: Workspace, uri, client, unique):
    exp = f"race-{unique}"
    for i in range(6):
        with nm.start_run(f"r{i}", experiment=exp, system_metrics=False):
            nm.log_metric("m", float(i))
    env = run_env(project)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nb_mlops", "mlflow", "sync", "--tracking-uri", uri, "--json"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    created = [json.loads(out)["created"] for out, _ in outs]
    assert sorted(len(c) for c in created) == [0, 6]
    assert len(_runs_there(client, exp)) == 6


def test_bad_targets_are_one_line(ws: Workspace, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(SyncError, match="--tracking-uri"):
        nm.mlflow_sync()
    for bad, why in [
        ("http://me:hunter2@host:5000", "credentials"),
        ("https://host/?token=" + SECRET, "credentials"),
        ("ftp://host", "not an http"),
        ("localhost:5000", "not an http"),
        ("http://ho\nst", "control"),
        ("   ", "empty"),
    ]:
        with pytest.raises(SyncError, match=why) as err:
            nm.mlflow_sync(bad)
        assert "\n" not in str(err.value) and "hunter2" not in str(err.value)
    with pytest.raises(SyncError, match="jobs"):
        nm.mlflow_sync("http://127.0.0.1:1", jobs=0)
    with pytest.raises(SyncError, match="experiment"):
        nm.mlflow_sync("http://127.0.0.1:1", experiment=" ")
    assert not (ws.home / "sync").exists() or not list((ws.home / "sync").iterdir())


def test_unreachable_server_fails_fast(ws: Workspace):
    import time

    from sync.mlflow_server import free_port

    with nm.start_run("r", system_metrics=False):
        pass
    t0 = time.monotonic()
    with pytest.raises(SyncError, match=r"MLflow at http://127\.0\.0\.1:\d+: .*refused") as err:
        nm.mlflow_sync(f"http://127.0.0.1:{free_port()}")
    assert time.monotonic() - t0 < 30
    assert "\n" not in str(err.value)
    assert os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES") is None  # put back


def test_mlflow_environment_uri(ws: Workspace, uri, client, unique, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with nm.start_run("env", experiment=f"env-{unique}", system_metrics=False):
        nm.log_metric("m", 1.0)
    assert nm.mlflow_sync(models=False).tracking_uri == uri
    assert len(_runs_there(client, f"env-{unique}")) == 1


def test_one_bad_run_does_not_stop_the_others(ws: Workspace, project: Path, uri, client, unique):
    exp = f"bad-one-{unique}"
    (project / "a.txt").write_text("A")
    with nm.start_run("broken", experiment=exp, system_metrics=False) as broken:
        nm.log_artifact(project / "a.txt")
    for i in range(5):
        with nm.start_run(f"good-{i}", experiment=exp, system_metrics=False):
            nm.log_metric("m", float(i))
    # the artifact's object is gone from the cache: that run cannot be sent whole
    md5 = ws.catalog.get("runs", broken.run_id)["artifacts"][0]["md5"]
    path = ws.objects.path_of(md5)
    path.chmod(0o644)
    path.unlink()
    report = nm.mlflow_sync(uri, models=False)
    assert report.skipped[broken.run_id].startswith(f"not sent: no such object: {md5}")
    assert len(report.created) == 5 and broken.run_id not in report.created
    assert len(_runs_there(client, exp)) == 6  # the broken one exists there, its files do not
    # the good ones are done; the broken one is tried again at the next sync
    again = nm.mlflow_sync(uri, models=False)
    assert again.unchanged == 5 and broken.run_id in again.skipped


def test_clashing_names_and_nested_artifacts(ws: Workspace, project: Path, uri, client, unique):
    exp = f"clash-{unique}"
    (project / "report").write_text("file")
    folder = project / "nested"
    folder.mkdir()
    (folder / "extra.txt").write_text("inside")
    with nm.start_run("clash", experiment=exp, system_metrics=False) as run:
        nm.log_params({"a@b": 1, "a#b": 2})
        nm.set_tags({"nbmlops.run_id": "mine", "x (y)": "1", "x [y]": "2"})
        nm.log_metrics({"f1 (macro)": 0.5, "f1 [macro]": 0.6})
        nm.log_artifact(project / "report", name="report")
        nm.log_artifact(folder / "extra.txt", name="report/extra.txt")
    report = nm.mlflow_sync(uri, models=False)
    # MLflow's artifact store on disk cannot hold a file `report` and `report/extra.txt`: the
    # server fails that upload; the run is reported, everything before it arrived
    assert "not sent" in report.skipped[run.run_id]
    r = _by_ours(client, exp)[run.run_id]
    assert r.data.params == {"a_b": "1", "a_b_2": "2"}
    assert r.data.tags["nbmlops.run_id"] == run.run_id and r.data.tags["nbmlops.run_id_2"] == "mine"
    assert r.data.tags["x _y_"] == "1" and r.data.tags["x _y__2"] == "2"
    assert r.data.metrics == {"f1 _macro_": 0.5, "f1 _macro__2": 0.6}
    assert {a.path for a in client.list_artifacts(r.info.run_id)} == {"report"}
