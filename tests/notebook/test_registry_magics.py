"""The registry's subcommands in a real IPython shell: register, models, model, alias, rollback,
hook, and `track.model` inside a tracked cell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import nb_mlops as nm

_TRAIN = (
    "%%track -n {name} --seed 0\n"
    "from sklearn.datasets import load_iris\n"
    "from sklearn.ensemble import RandomForestClassifier\n"
    "n_estimators = {n}\n"
    "X, y = load_iris(return_X_y=True)\n"
    "model = RandomForestClassifier(n_estimators=n_estimators, random_state={seed}).fit(X, y)\n"
    "track.log(accuracy=model.score(X, y))\n"
    "version = track.model(model, 'iris-clf', description='rf {n}')\n"
)


def cell(ip, code: str):
    with capture_output() as cap:
        result = ip.run_cell(code)
    return result, cap


def ok(ip, code: str):
    result, cap = cell(ip, code)
    assert result.error_in_exec is None, (result.error_in_exec, cap.stdout, cap.stderr)
    return result.result, cap


@pytest.fixture
def two_versions(ip, ws):
    ok(ip, _TRAIN.format(name="rf-small", n=3, seed=0))
    ok(ip, _TRAIN.format(name="rf-big", n=8, seed=1))
    return ip


def test_track_model_in_a_tracked_cell(two_versions, ws) -> None:
    ip = two_versions
    version = ip.user_ns["version"]
    assert (version.name, version.version) == ("iris-clf", 2)
    run = ws.catalog.get("runs", version.run_id)
    assert run["name"] == "rf-big" and run["params"]["n_estimators"] == 8
    assert run["models"] == [{"name": "iris-clf", "version": 2}]


def test_models_views(two_versions) -> None:
    ip = two_versions
    listing, _ = ok(ip, "%track models")
    assert listing.to_dict()["models"][0]["name"] == "iris-clf"
    view, _ = ok(ip, "%track models iris-clf")
    rows = view.to_dict()["versions"]
    assert [r["version"] for r in rows] == [1, 2]
    assert all("accuracy" in r["metrics"] for r in rows)
    one, _ = ok(ip, "%track models iris-clf 1")
    assert one.version == 1 and "rf 3" in str(one)
    both, _ = ok(ip, "%track models iris-clf 1 2")
    params = {p["key"]: p for p in both.to_dict()["params"]}
    assert params["n_estimators"]["a"] == 3 and params["n_estimators"]["b"] == 8
    assert not both.to_dict()["same_fingerprint"]


def test_alias_rollback_and_history(two_versions) -> None:
    ip = two_versions
    move, _ = ok(ip, '%track alias iris-clf production 1 -m "first release"')
    assert move.to_version == 1
    ok(ip, "%track alias iris-clf production 2 --protect")
    result, _ = cell(ip, "%track alias iris-clf production 1")
    assert "protected" in str(result.error_in_exec)
    back, _ = ok(ip, '%track rollback iris-clf production --force -m "v2 regressed"')
    assert (back.from_version, back.to_version) == (2, 1)
    history, _ = ok(ip, "%track alias iris-clf production")
    entries = sorted(history.to_dict()["history"], key=lambda e: e["at"])
    assert [(e["event"], e["to"]) for e in entries] == [("set", 1), ("set", 2), ("rollback", 1)]
    assert entries[-1]["why"] == "v2 regressed" and entries[-1]["forced"]
    assert "(protected)" in str(history)
    assert nm.get_model_version("models:/iris-clf@production").version == 1
    ok(ip, "%track alias iris-clf production --unprotect --force")
    removed, _ = ok(ip, "%track alias iris-clf production --remove")
    assert removed.event == "remove"


def test_model_edits_archive_delete_export_import(two_versions, project) -> None:
    ip = two_versions
    v, _ = ok(ip, '%track model iris-clf 1 --describe "small forest" --tag stage=dev')
    assert (v.description, v.tags) == ("small forest", {"stage": "dev"})
    v, _ = ok(ip, "%track model iris-clf 1 --untag stage --archive")
    assert v.status == "archived" and v.tags == {}
    ok(ip, "%track model iris-clf 1 --restore")
    msg, _ = ok(ip, '%track model iris-clf --describe "iris classifier"')
    assert msg.to_dict()["description"] == "iris classifier"
    out, _ = ok(ip, f"%track model iris-clf 2 --export {project / 'bundle.zip'}")
    assert (project / "bundle.zip").is_file() and "exported models:/iris-clf/2" in str(out)
    imported, _ = ok(ip, f"%track register --import {project / 'bundle.zip'} iris-copy")
    assert imported.doc["origin"]["kind"] == "imported" and imported.name == "iris-copy"
    gone, _ = ok(ip, "%track model iris-clf 1 --delete")
    assert "deleted iris-clf version 1" in str(gone)


def test_register_a_runs_artifact_and_a_file(ip, ws, project) -> None:
    ok(
        ip,
        "%%track -n saver\n"
        "import joblib\n"
        "joblib.dump({'w': [1, 2]}, 'weights.joblib')\n"
        "track.artifact('weights.joblib')\n",
    )
    v, _ = ok(ip, "%track register saver weights --artifact weights.joblib -d 'from a run'")
    assert (v.name, v.flavor, v.description) == ("weights", "joblib", "from a run")
    (project / "model.onnx").write_bytes(b"onnx")
    f, _ = ok(ip, "%track register --file model.onnx onnx-model --tag fmt=onnx")
    assert (f.flavor, f.tags) == ("file", {"fmt": "onnx"})


def test_deploy_hook_commands(two_versions, project) -> None:
    ip = two_versions
    log = project / "deploy.log"
    ok(ip, f"%track hook iris-clf 'echo $NB_MLOPS_ALIAS {{version}} >> {log}' --alias production")
    listed, _ = ok(ip, "%track hook iris-clf")
    assert "iris-clf@production" in str(listed)
    move, _ = ok(ip, "%track alias iris-clf production 2")
    assert move.hooks[0]["ok"] and log.read_text() == "production 2\n"
    ok(ip, "%track alias iris-clf staging 1")  # another alias: the hook does not run
    assert log.read_text() == "production 2\n"
    removed, _ = ok(ip, "%track hook iris-clf --remove")
    assert removed.to_dict()["removed"] == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%track register", "register needs RUN and NAME"),
        ("%track register --file x.pkl", "takes one NAME"),
        ("%track model iris-clf --archive", "need a VERSION"),
        ("%track model iris-clf 1 --archive --delete", "--delete takes no other option"),
        ("%track model iris-clf 1 --archive --restore", "choose --archive or --restore"),
        ("%track alias iris-clf production --protect --unprotect", "choose --protect"),
        ("%track alias iris-clf production 1 --remove", "takes no VERSION"),
        ("%track hook iris-clf 'x' --remove", "takes no COMMAND"),
        ("%track model iris-clf 1 --tag novalue", "K=V"),
    ],
)
def test_usage_errors(ip, ws, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ip.run_line_magic("track", line.removeprefix("%track "))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%track models ghost", "no model named 'ghost'"),
        ("%track models iris-clf 9", "has no version 9"),
        ("%track alias iris-clf bad/alias 1", "alias 'bad/alias'"),
        ("%track alias iris-clf production 7", "has no version 7"),
        ("%track rollback iris-clf canary", "no alias 'canary' to roll back"),
        ("%track register --import missing.zip", "no such bundle"),
    ],
)
def test_errors_are_one_line(two_versions, line: str, message: str) -> None:
    result, cap = cell(two_versions, line)
    assert message in str(result.error_in_exec)
    shown = [ln for ln in cap.stderr.splitlines() + cap.stdout.splitlines() if ln.strip()]
    assert len([ln for ln in shown if message in ln]) == 1
    assert "Traceback" not in cap.stdout + cap.stderr


def test_model_edits_are_all_or_nothing(two_versions) -> None:
    ip = two_versions
    ok(ip, "%track alias iris-clf production 2")
    result, _ = cell(ip, '%track model iris-clf 2 --describe "new" --tag stage=prod --archive')
    assert "move those aliases first" in str(result.error_in_exec)
    v = nm.get_model_version("iris-clf", 2)
    assert (v.description, v.tags, v.status) == ("rf 8", {}, "active")  # nothing applied
    result, _ = cell(ip, "%track model iris-clf 1 --describe x --export /no/such/dir/b.zip")
    assert "no such folder" in str(result.error_in_exec)
    assert nm.get_model_version("iris-clf", 1).description == "rf 3"
    view, _ = ok(ip, "%track model iris-clf")  # no option: the model is shown
    assert [v["version"] for v in view.to_dict()["versions"]] == [1, 2]


def test_an_empty_hook_command_is_refused(two_versions) -> None:
    result, _ = cell(two_versions, '%track hook iris-clf ""')
    assert "non-empty" in str(result.error_in_exec)
