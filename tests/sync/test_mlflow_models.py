"""Registered models pushed to MLflow's registry: versions, aliases that follow ours, and a
scikit-learn version loaded back with `mlflow.sklearn.load_model` by MLflow itself (in its own
venv, as a user on the other side would)."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sync.mlflow_server import MLFLOW_PYTHON

import nb_mlops as nm
from nb_mlops.store.workspace import Workspace


def _load_there(uri: str, model_uri: str, rows: list) -> list:
    """Predictions of `model_uri` loaded by mlflow.sklearn in .venv-mlflow."""
    code = textwrap.dedent(
        f"""
        import json, sys, mlflow, mlflow.sklearn
        mlflow.set_tracking_uri({uri!r})
        model = mlflow.sklearn.load_model({model_uri!r})
        print(json.dumps([type(model).__name__, model.predict({rows!r}).tolist()]))
        """
    )
    done = subprocess.run(
        [str(MLFLOW_PYTHON), "-c", code], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sklearn_versions_and_aliases(ws: Workspace, project: Path, uri, client, unique):
    name = f"iris-{unique}"
    X, y = load_iris(return_X_y=True)
    with nm.start_run("lr", experiment=f"models-{unique}", system_metrics=False):
        lr = LogisticRegression(max_iter=500).fit(X, y)
        v1 = nm.register_model(name, lr, tags={"stage": "first"})
    with nm.start_run("tree", experiment=f"models-{unique}", system_metrics=False):
        tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
        v2 = nm.register_model(name, tree)
    nm.set_alias(name, "production", v1.version)
    nm.set_alias(name, "staging", v2.version)

    report = nm.mlflow_sync(uri)
    assert report.model_versions == [f"{name}/1 -> version 1", f"{name}/2 -> version 2"]
    versions = {
        mv.tags["nbmlops.version"]: mv for mv in client.search_model_versions(f"name = '{name}'")
    }
    assert versions["1"].tags["nbmlops.fingerprint"] == v1.fingerprint
    assert versions["1"].tags["stage"] == "first"
    assert versions["1"].tags["nbmlops.flavor"] == "sklearn"
    assert client.get_model_version_by_alias(name, "production").version == "1"
    assert client.get_model_version_by_alias(name, "staging").version == "2"
    # the version's run is the MLflow run of the run that made it
    lr_run = [r for r in report.runs if r == v1.run_id]
    assert versions["1"].run_id == report.runs[lr_run[0]]

    rows = X[:5].tolist()
    kind, predicted = _load_there(uri, f"models:/{name}@production", rows)
    assert kind == "LogisticRegression"
    assert predicted == lr.predict(np.array(rows)).tolist()

    # promote, roll back, remove: the aliases follow; nothing is registered twice
    nm.set_alias(name, "production", v2.version)
    moved = nm.mlflow_sync(uri)
    assert moved.model_versions == [] and moved.aliases == [f"{name}@production -> version 2"]
    assert client.get_model_version_by_alias(name, "production").version == "2"
    nm.rollback(name, "production")
    nm.delete_alias(name, "staging")
    back = nm.mlflow_sync(uri)
    assert sorted(back.aliases) == [f"{name}@production -> version 1", f"{name}@staging removed"]
    assert client.get_registered_model(name).aliases == {"production": "1"}
    assert len(client.search_model_versions(f"name = '{name}'")) == 2

    # a lost state finds the versions by their tags instead of registering them again
    for state in (ws.home / "sync").glob("*.json"):
        state.unlink()
    again = nm.mlflow_sync(uri)
    assert again.model_versions == []
    assert len(client.search_model_versions(f"name = '{name}'")) == 2

    # an edited state cannot point an alias at another version; an alias moved on the server
    # is moved back to ours
    for state in (ws.home / "sync").glob("*.json"):
        data = json.loads(state.read_text())
        data["models"][name] = {"versions": {"1": "2"}, "aliases": {"production": "2"}}
        state.write_text(json.dumps(data))
    client.set_registered_model_alias(name, "production", "2")
    fixed = nm.mlflow_sync(uri)
    assert fixed.aliases == [f"{name}@production -> version 1"]
    assert client.get_registered_model(name).aliases == {"production": "1"}
    quiet = nm.mlflow_sync(uri)
    assert quiet.aliases == [] and quiet.model_versions == []


def test_a_version_without_a_run_and_other_flavors(
    ws: Workspace, project: Path, uri, client, unique
):
    name = f"file-{unique}"
    weights = project / "weights.bin"
    weights.write_bytes(b"\x00\x01weights")
    version = nm.register_model(name, weights)
    report = nm.mlflow_sync(uri, experiment=f"holder-{unique}")
    assert report.model_versions == [f"{name}/1 -> version 1"]
    (mv,) = client.search_model_versions(f"name = '{name}'")
    run = client.get_run(mv.run_id)
    assert run.info.run_name == f"{name} version 1"
    folder = mv.source.rsplit("/artifacts/", 1)[1]
    files = {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(mv.run_id, folder)}
    assert files == {"weights.bin"}
    assert mv.tags["nbmlops.fingerprint"] == version.fingerprint


def test_models_can_be_left_out(ws: Workspace, uri, client, unique):
    name = f"skip-{unique}"
    X, y = load_iris(return_X_y=True)
    with nm.start_run("lr", experiment=f"skip-{unique}", system_metrics=False):
        nm.register_model(name, LogisticRegression(max_iter=300).fit(X, y))
    report = nm.mlflow_sync(uri, models=False)
    assert report.model_versions == [] and len(report.created) == 1
    assert client.search_model_versions(f"name = '{name}'") == []


def test_two_stores_share_a_model_name(tmp_path: Path, ws: Workspace, uri, client, unique):
    """Version 1 here and version 1 of a colleague's store are two models: both arrive."""
    from nb_mlops.store.workspace import open_workspace
    from nb_mlops.sync.session import push_to_mlflow

    name = f"shared-{unique}"
    X, y = load_iris(return_X_y=True)
    other = open_workspace(tmp_path / "colleague" / ".nbmlops")
    from nb_mlops.registry.versions import register

    theirs = register(other, name, DecisionTreeClassifier(max_depth=1).fit(X, y))
    mine = nm.register_model(
        name, LogisticRegression(max_iter=300).fit(X, y), tags={"score (val)": 0.9}
    )
    nm.set_alias(name, "prod", 1)
    push_to_mlflow(other, uri)
    report = nm.mlflow_sync(uri)
    assert report.model_versions == [f"{name}/1 -> version 2"]
    assert any("tag 'score (val)' is sent as 'score _val_'" in n for n in report.notes)
    by_fp = {
        mv.tags["nbmlops.fingerprint"]: mv
        for mv in client.search_model_versions(f"name = '{name}'")
    }
    assert set(by_fp) == {theirs.fingerprint, mine.fingerprint}
    assert by_fp[mine.fingerprint].tags["score _val_"] == "0.9"
    assert client.get_registered_model(name).aliases == {"prod": "2"}
