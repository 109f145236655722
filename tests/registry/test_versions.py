"""Registering versions (objects, files, folders, run artifacts), their records, changes."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import nb_mlops as nm
from nb_mlops.errors import InvalidName, ModelNotFound, NbMlopsError, RefusedError
from nb_mlops.registry.fingerprint import fingerprint
from nb_mlops.registry.flavors import FlavorError
from nb_mlops.registry.versions import ModelVersion, get_doc, register


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def _forest(iris, seed: int = 0) -> RandomForestClassifier:
    X, y = iris
    return RandomForestClassifier(n_estimators=5, random_state=seed).fit(X, y)


def test_register_an_object_makes_version_one_with_its_fingerprint(ws, iris) -> None:
    model = _forest(iris)
    v = nm.register_model("iris-clf", model, description="baseline", tags={"team": "ml"})
    assert isinstance(v, ModelVersion)
    assert (v.name, v.version, v.flavor) == ("iris-clf", 1, "sklearn")
    assert v.fingerprint == fingerprint(model) and len(v.fingerprint) == 64
    assert v.uri == "models:/iris-clf/1"
    assert v.description == "baseline" and v.tags == {"team": "ml"}
    doc = ws.catalog.get("models", "iris-clf/1")
    assert doc["artifact"]["file"] == "model.joblib"
    assert doc["meta"]["class"].endswith("RandomForestClassifier")
    assert doc["origin"] == {"kind": "local"}
    assert ws.objects.has(doc["artifact"]["md5"])
    assert doc["env"]["python"] and ws.objects.has(doc["env"]["packages"])
    assert doc["by"] and "@" in doc["by"]


def test_versions_count_up_and_are_never_given_twice(ws, iris) -> None:
    for seed in range(3):
        nm.register_model("m", _forest(iris, seed))
    nm.delete_model_version("m", 3)
    assert nm.register_model("m", _forest(iris, 9)).version == 4


def test_track_model_inside_a_run_records_lineage(ws, iris, project: Path) -> None:
    (project / "data.csv").write_text("a,b\n1,2\n3,4\n")
    with nm.start_run("rf", params={"n_estimators": 5}, data=["data.csv"]) as run:
        nm.log_metric("accuracy", 0.97)
        v = nm.track.model(_forest(iris), "iris-clf")
    assert v.run_id == run.run_id
    assert v.data == [{"path": "data.csv", "version": 1, "md5": v.data[0]["md5"]}]
    run_doc = ws.catalog.get("runs", run.run_id)
    assert run_doc["models"] == [{"name": "iris-clf", "version": 1}]
    assert v.doc["env"]["packages"] == run_doc["env"]["packages"]
    assert v.doc["run_name"] == "rf"


def test_data_argument_adds_lineage_without_a_run(ws, iris, project: Path) -> None:
    (project / "train.csv").write_text("x\n1\n")
    v = nm.register_model("m", _forest(iris), data=["train.csv"])
    assert [d["path"] for d in v.data] == ["train.csv"] and v.run_id is None


def test_track_model_after_the_run_ended_is_refused(ws, iris) -> None:
    with nm.start_run("r") as run:
        pass
    with pytest.raises(NbMlopsError, match="has ended"):
        run.model(_forest(iris), "m")


@pytest.mark.parametrize(
    ("make", "flavor", "file"),
    [
        (lambda: LogisticRegression(max_iter=300), "sklearn", "model.joblib"),
        (lambda: {"weights": np.arange(3.0)}, "joblib", "model.joblib"),
    ],
)
def test_flavor_is_detected(ws, iris, make, flavor: str, file: str) -> None:
    model = make()
    if hasattr(model, "fit"):
        model.fit(*iris)
    v = nm.register_model("m", model)
    assert v.flavor == flavor and v.doc["artifact"]["file"] == file


def test_torch_module_and_state_dict(ws) -> None:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    whole = nm.register_model("net", net)
    weights = nm.register_model("net", net.state_dict())
    assert (whole.flavor, weights.flavor) == ("pytorch", "pytorch-state-dict")
    assert whole.fingerprint == weights.fingerprint  # the fitted state is the same
    assert weights.doc["artifact"]["file"] == "state_dict.pt"


def test_xgboost_and_lightgbm_flavors(ws, iris) -> None:
    import lightgbm
    import xgboost

    X, y = iris
    xgb = nm.register_model("x", xgboost.XGBClassifier(n_estimators=3).fit(X, y))
    lgb = nm.register_model("l", lightgbm.train({"verbose": -1}, lightgbm.Dataset(X, y), 3))
    lgb_sk = nm.register_model("l", lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y))
    assert (xgb.flavor, xgb.doc["artifact"]["file"]) == ("xgboost", "model.ubj")
    assert (lgb.flavor, lgb.doc["artifact"]["file"]) == ("lightgbm", "model.txt")
    assert (lgb_sk.flavor, lgb_sk.doc["artifact"]["file"]) == ("lightgbm", "model.joblib")


def test_register_a_file_fingerprints_the_model_inside(ws, iris, project: Path) -> None:
    model = _forest(iris)
    joblib.dump(model, project / "a.joblib")
    joblib.dump(model, project / "b.joblib")
    a = nm.register_model("m", project / "a.joblib")
    b = nm.register_model("m", str(project / "b.joblib"))
    assert a.flavor == "joblib" and a.doc["fingerprint_kind"] == "state"
    assert a.fingerprint == b.fingerprint == fingerprint(model)
    assert a.doc["meta"]["source"] == str(project / "a.joblib")


def test_register_a_torch_weights_file_is_marked_weights_only(ws, project: Path) -> None:
    import torch

    net = torch.nn.Linear(2, 2)
    torch.save(net.state_dict(), project / "w.pt")
    v = nm.register_model("net", project / "w.pt")
    assert v.flavor == "pytorch-state-dict" and v.fingerprint == fingerprint(net)


def test_register_plain_files_and_folders_by_content(ws, project: Path) -> None:
    (project / "model.onnx").write_bytes(b"\x08\x01onnx-bytes")
    folder = project / "hf-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.bin").write_bytes(b"\0" * 100)
    f = nm.register_model("onnx", project / "model.onnx")
    d = nm.register_model("hf", folder)
    assert (f.flavor, f.doc["fingerprint_kind"]) == ("file", "content")
    assert (d.flavor, d.doc["artifact"]["nfiles"]) == ("folder", 2)
    assert d.doc["artifact"]["md5"].endswith(".dir") and d.doc["artifact"]["file"] is None
    # the same bytes again: the same fingerprint; other bytes: another
    (project / "copy.onnx").write_bytes(b"\x08\x01onnx-bytes")
    assert nm.register_model("onnx", project / "copy.onnx").fingerprint == f.fingerprint
    (project / "copy.onnx").write_bytes(b"other")
    assert nm.register_model("onnx", project / "copy.onnx").fingerprint != f.fingerprint


def test_register_a_runs_artifact(ws, iris, project: Path) -> None:
    model = _forest(iris)
    joblib.dump(model, project / "model.joblib")
    (project / "notes.txt").write_text("hi")
    with nm.start_run("train", params={"depth": 3}) as run:
        nm.log_artifact(project / "model.joblib")
    only = nm.register_model("m", run="train")
    assert only.run_id == run.run_id and only.fingerprint == fingerprint(model)
    assert only.doc["meta"]["source"] == f"run:{run.run_id}/model.joblib"
    with nm.start_run("two"):
        nm.log_artifact(project / "model.joblib")
        nm.log_artifact(project / "notes.txt")
    with pytest.raises(NbMlopsError, match=r"several artifacts .*model\.joblib, notes\.txt"):
        nm.register_model("m", run="two")
    picked = nm.register_model("m", run="two", artifact="model.joblib")
    assert picked.fingerprint == only.fingerprint
    with pytest.raises(ModelNotFound, match=r"no artifact 'nope\.pkl'"):
        nm.register_model("m", run="two", artifact="nope.pkl")
    with nm.start_run("bare"):
        pass
    with pytest.raises(ModelNotFound, match="has no artifacts"):
        nm.register_model("m", run="bare")


def test_register_needs_something_to_register(ws) -> None:
    with pytest.raises(NbMlopsError, match="register a model object or a path"):
        nm.register_model("m")


def test_bad_inputs_store_nothing(ws, iris, project: Path) -> None:
    with pytest.raises(InvalidName):
        nm.register_model("../evil", _forest(iris))
    with pytest.raises(ModelNotFound, match="no such model file"):
        nm.register_model("m", project / "missing.pkl")
    with pytest.raises(FlavorError, match="unknown flavor 'onnx'"):
        nm.register_model("m", _forest(iris), flavor="onnx")
    with pytest.raises(FlavorError, match=r"cannot save the builtins\.dict model as joblib"):
        nm.register_model("m", {"f": lambda x: x})
    import xgboost

    with pytest.raises(FlavorError, match=r"cannot save the xgboost\.core\.DMatrix model"):
        nm.register_model("m", xgboost.DMatrix(np.ones((2, 2))))
    (project / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(FlavorError, match=r"cannot read .*junk\.pkl as a pickle model"):
        nm.register_model("m", project / "junk.pkl")
    with pytest.raises(FlavorError, match="is a file"):
        nm.register_model("m", project / "junk.pkl", flavor="folder")
    assert ws.catalog.docs("models") == {}


def test_unknown_names_and_versions_say_what_exists(ws, iris) -> None:
    nm.register_model("known", _forest(iris))
    with pytest.raises(ModelNotFound, match="no model named 'other'; registered: known"):
        nm.get_model_version("other", 1)
    with pytest.raises(ModelNotFound, match=r"known has no version 7 \(versions: 1\)"):
        nm.get_model_version("known", 7)
    with pytest.raises(ModelNotFound, match="has no alias 'production'"):
        nm.get_model_version("models:/known@production")


def test_latest_is_the_newest_active_version(ws, iris) -> None:
    for seed in range(3):
        nm.register_model("m", _forest(iris, seed))
    assert nm.get_model_version("models:/m@latest").version == 3
    nm.archive_model_version("m", 3)
    assert nm.get_model_version("models:/m").version == 2
    nm.restore_model_version("m", 3)
    assert nm.get_model_version("models:/m@latest").version == 3


def test_descriptions_and_tags(ws, iris) -> None:
    nm.register_model("m", _forest(iris), tags={"a": 1})
    v = nm.update_model_version("m", 1, description="tuned", tags={"b": "x"}, remove_tags=["a"])
    assert (v.description, v.tags) == ("tuned", {"b": "x"})
    assert nm.get_model_version("models:/m/1").tags == {"b": "x"}
    with pytest.raises(NbMlopsError, match="has no tag 'zzz'"):
        nm.update_model_version("m", 1, remove_tags=["zzz"])
    doc = nm.update_model("m", description="iris classifier", tags={"owner": "ml"})
    assert doc["description"] == "iris classifier" and doc["tags"] == {"owner": "ml"}


def test_secret_tags_are_redacted(ws, iris) -> None:
    v = nm.register_model("m", _forest(iris), tags={"api_key": "sk-123", "max_tokens": 5})
    assert v.tags == {"api_key": "[REDACTED]", "max_tokens": 5}


def test_archive_and_delete_are_refused_while_aliased(ws, iris) -> None:
    nm.register_model("m", _forest(iris))
    nm.set_alias("m", "production", 1)
    with pytest.raises(RefusedError, match="m@production point at it"):
        nm.delete_model_version("m", 1)
    with pytest.raises(RefusedError, match="m@production"):
        nm.archive_model_version("m", 1)
    nm.delete_alias("m", "production")
    nm.archive_model_version("m", 1)
    assert nm.get_model_version("m", 1).status == "archived"
    assert nm.delete_model_version("m", 1) == {"name": "m", "version": 1}
    with pytest.raises(ModelNotFound, match="no version 1"):
        nm.get_model_version("m", 1)


def test_a_run_that_made_a_model_is_kept_until_forced(ws, iris) -> None:
    with nm.start_run("maker") as run:
        nm.track.model(_forest(iris), "m")
    with pytest.raises(RefusedError, match="m version 1"):
        nm.delete_run(run.run_id)
    nm.delete_run(run.run_id, force=True)
    kept = nm.get_model_version("m", 1).doc  # the version keeps its lineage
    assert kept["run_id"] == run.run_id
    assert kept["run_record"]["name"] == "maker" and kept["run_record"]["status"] == "finished"


def test_gc_keeps_registered_artifacts_and_frees_deleted_ones(ws, iris) -> None:
    v = nm.register_model("m", _forest(iris))
    md5 = v.doc["artifact"]["md5"]
    nm.gc(grace_s=0)
    assert ws.objects.has(md5)
    nm.delete_model_version("m", 1)
    nm.gc(grace_s=0)
    assert not ws.objects.has(md5)


def test_versions_registered_from_two_processes_get_distinct_numbers(ws, project, iris) -> None:
    import subprocess
    import sys

    from conftest import run_env

    code = (
        "import nb_mlops as nm\n"
        "for i in range(5):\n"
        "    nm.register_model('m', {'i': i, 'who': %r})\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code % who], cwd=project, env=run_env(project))
        for who in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    docs = ws.catalog.docs("models")
    assert sorted(d["version"] for d in docs.values()) == list(range(1, 11))


def test_to_dict_is_json(ws, iris) -> None:
    v = nm.register_model("m", _forest(iris))
    out = json.loads(json.dumps(v.to_dict()))
    assert out["uri"] == "models:/m/1" and out["aliases"] == [] and "refs" not in out


def test_get_doc_takes_a_parsed_reference(ws, iris) -> None:
    v = register(ws, "m", _forest(iris))
    assert get_doc(ws, "m", 1)["fingerprint"] == v.fingerprint


@pytest.mark.parametrize("name", ["../../../x.txt", "/etc/x.txt", "a/../../x.txt"])
def test_artifact_names_cannot_leave_their_folder(ws, project: Path, name: str) -> None:
    (project / "w.txt").write_text("w")
    with nm.start_run("r"), pytest.raises(NbMlopsError, match="must be a relative path"):
        nm.log_artifact(project / "w.txt", name=name)


def test_a_run_artifact_in_a_subfolder_registers_and_loads(ws, project: Path) -> None:
    (project / "w.txt").write_text("weights")
    with nm.start_run("r"):
        nm.log_artifact(project / "w.txt", name="models/w.txt")
    v = nm.register_model("w", run="r")
    path = nm.load_model(v.uri)
    assert path.read_text() == "weights" and path.as_posix().endswith("models/w.txt")


def test_a_record_pointing_outside_is_refused(ws, project: Path) -> None:
    (project / "w.txt").write_text("w")
    v = nm.register_model("w", project / "w.txt")
    art = {**v.doc["artifact"], "file": "../../../../escaped.txt"}
    ws.catalog.set("models", "w/1", {"artifact": art})
    with pytest.raises(RefusedError, match="outside"):
        nm.load_model("models:/w/1")
    assert not (project / "escaped.txt").exists()


def test_odd_arguments_get_one_line_errors(ws, iris, project: Path) -> None:
    model = _forest(iris)
    with pytest.raises(NbMlopsError, match="tags are a dict"):
        nm.register_model("m", model, tags=["a"])
    with pytest.raises(NbMlopsError, match="run= takes a run id"):
        nm.register_model("m", model, run=5)
    with pytest.raises(FlavorError, match="is not a pytorch model"):
        nm.register_model("m", {"w": 1}, flavor="pytorch")
    with pytest.raises(FlavorError, match="is for paths"):
        nm.register_model("m", model, flavor="file")
    with pytest.raises(ModelNotFound, match="empty path"):
        nm.register_model("m", "")
    for inside in (".", project, project / ".nbmlops", project / ".nbmlops" / "catalog"):
        with pytest.raises(RefusedError, match="holds the store"):
            nm.register_model("m", inside)
    with pytest.raises(InvalidName, match="alias '²'"):
        nm.get_model_version("m", "²")
    assert ws.catalog.docs("models") == {}


def test_one_dataset_path_and_a_number_description_are_taken(ws, iris, project: Path) -> None:
    (project / "train.csv").write_text("x\n1\n")
    v = nm.register_model("m", _forest(iris), data="train.csv", description=123)
    assert [d["path"] for d in v.data] == ["train.csv"] and v.description == "123"
