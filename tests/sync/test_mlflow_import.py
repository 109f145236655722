"""`nm.mlflow_import`: MLflow runs brought into the store with their series, statuses mapped
back, never twice, never the runs that started here."""

from __future__ import annotations

import time

import pytest

import nb_mlops as nm
from nb_mlops.errors import FilterSyntaxError, SyncError
from nb_mlops.store.workspace import Workspace


def _made_there(client, exp_name: str) -> dict[str, str]:
    """Runs made on the server by MLflow's own client: name -> MLflow run id."""
    from mlflow.entities import Metric, Param, RunTag

    exp = client.create_experiment(exp_name)
    now = int(time.time() * 1000) - 60_000
    made = {}
    specs = [
        ("finished", "FINISHED", {}),
        ("failed", "FAILED", {}),
        ("crashed", "FAILED", {"nbmlops.crashed": "true"}),
        ("killed", "KILLED", {}),
        ("still running", None, {}),
    ]
    for i, (name, status, tags) in enumerate(specs):
        run = client.create_run(exp, start_time=now + i * 1000, run_name=name, tags=tags)
        rid = run.info.run_id
        metrics = [Metric("loss", 1.0 / (s + 1), now + i * 1000 + s, s) for s in range(4)]
        metrics.append(Metric("acc", 0.5 + i / 10, now + i * 1000 + 9, 0))
        client.log_batch(
            rid,
            metrics=metrics,
            params=[Param("model", "rf" if i % 2 == 0 else "gbm"), Param("depth", str(i))],
            tags=[RunTag("team", "nlp"), RunTag("mlflow.user", "kim")],
        )
        if status is not None:
            client.set_terminated(rid, status, end_time=now + i * 1000 + 500)
        made[name] = rid
    child = client.create_run(
        exp,
        start_time=now + 10_000,
        run_name="child",
        tags={"mlflow.parentRunId": made["finished"]},
    )
    client.set_terminated(child.info.run_id, "FINISHED", end_time=now + 10_500)
    made["child"] = child.info.run_id
    return made


def test_runs_come_with_their_series(ws: Workspace, uri, client, unique):
    exp = f"import-{unique}"
    made = _made_there(client, exp)
    report = nm.mlflow_import(uri, experiment=exp)
    assert len(report.created) == 5
    assert report.skipped == {made["still running"]: "it is RUNNING there; import it once it ends"}
    ours = {report.runs[rid]: name for name, rid in made.items() if rid in report.runs}
    table = nm.runs(f"experiment = '{exp}'")
    assert len(table) == 5
    status = {ours[r]: s for r, s in zip(table["run_id"], table["status"], strict=True)}
    assert status == {
        "finished": "finished",
        "failed": "failed",
        "crashed": "crashed",
        "killed": "interrupted",
        "child": "finished",
    }
    finished = nm.get_run(report.runs[made["finished"]]).to_dict()
    history = client.get_metric_history(made["finished"], "loss")
    assert finished["series"]["loss"] == [[m.step, m.value, m.timestamp / 1000] for m in history]
    assert finished["params"] == {"model": "rf", "depth": "0"}
    assert finished["tags"] == {"team": "nlp"}
    assert finished["user"] == "kim"
    assert finished["origin"]["run_id"] == made["finished"]
    assert finished["origin"]["tracking_uri"] == uri
    run = client.get_run(made["finished"])
    assert finished["duration"] == pytest.approx((run.info.end_time - run.info.start_time) / 1000)
    child = nm.get_run(report.runs[made["child"]]).to_dict()
    assert child["parent"] == finished["run_id"]
    # the comparison widgets and filters see them as any other runs
    assert len(nm.runs(f"experiment = '{exp}' AND metrics.acc > 0.65")) == 2
    assert nm.compare(filter=f"experiment = '{exp}'").to_dict()

    again = nm.mlflow_import(uri, experiment=exp)
    assert again.created == [] and again.unchanged == 5
    assert len(nm.runs(f"experiment = '{exp}'")) == 5

    # once it ends there, the run left behind comes too
    client.set_terminated(made["still running"], "FINISHED")
    late = nm.mlflow_import(uri, experiment=exp)
    assert late.created == [late.runs[made["still running"]]]


def test_runs_that_started_here_are_not_brought_back(ws: Workspace, uri, client, unique):
    exp = f"roundtrip-{unique}"
    with nm.start_run("here", experiment=exp, system_metrics=False) as run:
        nm.log_metric("m", 1.0)
    nm.mlflow_sync(uri, models=False)
    report = nm.mlflow_import(uri, experiment=exp)
    assert report.created == [] and report.unchanged == 1
    assert len(nm.runs()) == 1 and nm.runs()["run_id"][0] == run.run_id


def test_imported_runs_are_not_synced_back_as_new(ws: Workspace, uri, client, unique):
    exp = f"back-{unique}"
    made = _made_there(client, exp)
    nm.mlflow_import(uri, experiment=exp)
    report = nm.mlflow_sync(uri, models=False)
    assert report.created == []
    assert len(report.skipped) == 5 and all(
        "came from this server" in w for w in report.skipped.values()
    )
    assert len(client.search_runs([client.get_experiment_by_name(exp).experiment_id])) == len(made)


def test_a_run_another_store_synced_keeps_its_id(tmp_path, ws: Workspace, uri, client, unique):
    from nb_mlops.store.workspace import open_workspace
    from nb_mlops.sync.session import import_from_mlflow, push_to_mlflow
    from nb_mlops.tracking.run import start_run

    exp = f"colleague-{unique}"
    other = open_workspace(tmp_path / "colleague" / ".nbmlops")
    run = start_run("theirs", experiment=exp, workspace=other, system_metrics=False)
    run.log_metric("m", 2.0)
    run.end()
    push_to_mlflow(other, uri, models=False)
    report = import_from_mlflow(ws, uri, experiment=exp)
    assert report.created == [run.run_id]
    assert nm.get_run(run.run_id).to_dict()["metrics"] == {"m": 2.0}


def test_unknown_experiments_are_one_line(ws: Workspace, uri, client, unique):
    with pytest.raises(SyncError, match="no experiment named") as err:
        nm.mlflow_import(uri, experiment=f"missing-{unique}")
    assert "\n" not in str(err.value)


def test_our_filter_grammar_chooses_the_runs(ws: Workspace, uri, client, unique):
    exp = f"grammar-{unique}"
    made = _made_there(client, exp)
    report = nm.mlflow_import(
        uri,
        experiment=exp,
        filter="status = 'interrupted' OR (status = 'crashed' AND tags.team = 'nlp')",
    )
    assert sorted(report.runs) == sorted([made["killed"], made["crashed"]])
    more = nm.mlflow_import(
        uri, experiment=exp, filter="status = 'finished' AND metrics.acc < 0.55"
    )
    assert list(more.runs) == [made["finished"]]
    with pytest.raises(FilterSyntaxError):
        nm.mlflow_import(uri, experiment=exp, filter="metrics.acc >")


def test_runs_the_server_cannot_describe_are_left_out(ws: Workspace, uri, client, unique):
    exp = client.create_experiment(f"odd-{unique}")
    odd = client.create_run(exp, start_time=10**17, run_name="far future")
    client.set_terminated(odd.info.run_id, "FINISHED", end_time=10**17 + 5)
    fine = client.create_run(exp, run_name="fine")
    client.set_terminated(fine.info.run_id, "FINISHED")
    report = nm.mlflow_import(uri, experiment=f"odd-{unique}")
    assert "is not a time" in report.skipped[odd.info.run_id]
    assert list(report.runs) == [fine.info.run_id]
