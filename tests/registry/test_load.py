"""Loading registered models: every flavor back as a working model, and pickles read safely."""

from __future__ import annotations

import json
import os
import pickle
import time
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.linear_model import LogisticRegression

import nb_mlops as nm
from nb_mlops.errors import InvalidName, ModelNotFound, ObjectCorrupt, RefusedError
from nb_mlops.registry.versions import ModelVersion
from nb_mlops.store.workspace import Workspace

X, Y = load_iris(return_X_y=True)
XB, YB = make_classification(n_samples=120, n_features=5, n_informative=3, random_state=0)


def _logreg(c: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=1000).fit(X, Y)


def _tamper(ws: Workspace, version: ModelVersion, data: bytes) -> Path:
    """Replace the bytes of a version's stored object (read-only on disk) with `data`."""
    path = ws.objects.path_of(version.doc["artifact"]["md5"])
    os.chmod(path, 0o644)
    path.write_bytes(data)
    return path


class _TouchOnUnpickle:
    """Unpickling this creates the file `marker`: a stand-in for a hostile pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _hostile_pickle(marker: Path) -> bytes:
    return pickle.dumps(_TouchOnUnpickle(marker))


def _export_and_import(uri: str, folder: Path) -> ModelVersion:
    folder.mkdir(parents=True, exist_ok=True)
    bundle = nm.export_model(uri, folder / "bundle.zip")
    return nm.import_model(bundle)


# -- references -----------------------------------------------------------------------------------


def test_load_by_number_alias_latest_and_version_object(project: Path) -> None:
    models = [_logreg(c) for c in (0.01, 0.1, 1.0)]
    registered = [nm.register_model("iris", m) for m in models]
    assert [v.version for v in registered] == [1, 2, 3]
    nm.set_alias("iris", "production", 2)

    def coef(ref) -> np.ndarray:
        return nm.load_model(ref).coef_

    np.testing.assert_array_equal(coef("models:/iris/3"), models[2].coef_)
    np.testing.assert_array_equal(coef("models:/iris/1"), models[0].coef_)
    np.testing.assert_array_equal(coef("models:/iris@production"), models[1].coef_)
    np.testing.assert_array_equal(coef("models:/iris@latest"), models[2].coef_)
    np.testing.assert_array_equal(coef(registered[0]), models[0].coef_)
    np.testing.assert_array_equal(registered[0].load().coef_, models[0].coef_)


def test_latest_skips_archived_versions(project: Path) -> None:
    first, second = _logreg(0.1), _logreg(1.0)
    nm.register_model("iris", first)
    nm.register_model("iris", second)
    nm.archive_model_version("iris", 2)
    np.testing.assert_array_equal(nm.load_model("models:/iris@latest").coef_, first.coef_)
    # an archived version stays readable by number
    np.testing.assert_array_equal(nm.load_model("models:/iris/2").coef_, second.coef_)
    nm.archive_model_version("iris", 1)
    with pytest.raises(ModelNotFound, match="iris has no active version for @latest"):
        nm.load_model("models:/iris@latest")


# -- flavors --------------------------------------------------------------------------------------


def test_sklearn_model_predicts_as_the_original(project: Path) -> None:
    model = _logreg()
    version = nm.register_model("iris", model)
    assert version.flavor == "sklearn"
    loaded = nm.load_model(version.uri)
    assert loaded is not model
    assert type(loaded) is LogisticRegression
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_torch_module_and_state_dict(project: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    inputs = torch.as_tensor(X[:10], dtype=torch.float32)
    expected = net(inputs)

    whole = nm.register_model("net", net)
    weights = nm.register_model("net-weights", net.state_dict())
    assert (whole.flavor, weights.flavor) == ("pytorch", "pytorch-state-dict")
    assert whole.fingerprint == weights.fingerprint

    loaded = nm.load_model(whole.uri)
    assert isinstance(loaded, torch.nn.Sequential)
    assert torch.equal(loaded(inputs), expected)

    state = nm.load_model(weights.uri)
    assert set(state) == set(net.state_dict())
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    fresh.load_state_dict(state)
    assert torch.equal(fresh(inputs), expected)


def test_xgboost_classifier_and_booster(project: Path) -> None:
    xgb = pytest.importorskip("xgboost")
    clf = xgb.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1).fit(XB, YB)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
        xgb.DMatrix(XB, label=YB),
        num_boost_round=5,
    )
    v_clf = nm.register_model("xgb-clf", clf)
    v_booster = nm.register_model("xgb-booster", booster)
    assert v_clf.flavor == v_booster.flavor == "xgboost"

    loaded_clf = nm.load_model(v_clf.uri)
    assert type(loaded_clf) is xgb.XGBClassifier
    np.testing.assert_array_equal(loaded_clf.predict_proba(XB), clf.predict_proba(XB))

    loaded_booster = nm.load_model(v_booster.uri)
    assert type(loaded_booster) is xgb.Booster
    np.testing.assert_array_equal(
        loaded_booster.predict(xgb.DMatrix(XB)), booster.predict(xgb.DMatrix(XB))
    )


def test_lightgbm_booster_and_classifier(project: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    params = {"objective": "binary", "num_leaves": 4, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(XB, label=YB), num_boost_round=5)
    clf = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1).fit(XB, YB)

    v_booster = nm.register_model("lgb-booster", booster)
    v_clf = nm.register_model("lgb-clf", clf)
    assert v_booster.flavor == v_clf.flavor == "lightgbm"
    assert v_booster.doc["artifact"]["file"] == "model.txt"

    loaded_booster = nm.load_model(v_booster.uri)
    assert type(loaded_booster) is lgb.Booster
    np.testing.assert_allclose(loaded_booster.predict(XB), booster.predict(XB))

    loaded_clf = nm.load_model(v_clf.uri)
    assert type(loaded_clf) is lgb.LGBMClassifier
    np.testing.assert_array_equal(loaded_clf.predict_proba(XB), clf.predict_proba(XB))


def test_generic_object_comes_back_equal(project: Path) -> None:
    obj = {"vocab": ["a", "b"], "threshold": 0.25, "weights": np.arange(6.0).reshape(2, 3)}
    version = nm.register_model("rules", obj)
    assert version.flavor == "joblib"
    loaded = nm.load_model(version.uri)
    assert loaded["vocab"] == ["a", "b"] and loaded["threshold"] == 0.25
    np.testing.assert_array_equal(loaded["weights"], obj["weights"])


def test_registered_file_comes_back_as_a_path_with_its_name(project: Path, ws: Workspace) -> None:
    source = project / "thresholds.json"
    source.write_text('{"cut": 0.7}\n')
    version = nm.register_model("cuts", source)
    assert version.flavor == "file"
    source.write_text("changed after registering\n")

    path = nm.load_model(version.uri)

    assert isinstance(path, Path)
    assert path.name == "thresholds.json"
    assert path.read_text() == '{"cut": 0.7}\n'
    assert path.is_relative_to(ws.home)


def test_registered_folder_comes_back_with_the_same_files(project: Path) -> None:
    folder = project / "export"
    (folder / "sub").mkdir(parents=True)
    files = {"config.json": b"{}\n", "sub/weights.bin": bytes(range(256)), "README": b"hi\n"}
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    version = nm.register_model("bundle-dir", folder)
    assert version.flavor == "folder"

    path = nm.load_model(version.uri)

    assert path.is_dir()
    got = {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    assert got == files


def test_a_registered_pickle_file_loads_as_its_object(project: Path) -> None:
    model = _logreg()
    joblib.dump(model, project / "clf.joblib")
    version = nm.register_model("from-file", project / "clf.joblib")
    assert version.flavor == "joblib"
    np.testing.assert_array_equal(nm.load_model(version.uri).predict(X), model.predict(X))


# -- safety: tampered objects ---------------------------------------------------------------------


def test_the_hostile_pickle_used_below_does_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    pickle.loads(_hostile_pickle(marker))
    assert marker.exists()


def test_a_tampered_pickle_is_refused_before_it_is_unpickled(
    project: Path, ws: Workspace, tmp_path: Path
) -> None:
    version = nm.register_model("iris", _logreg())
    marker = tmp_path / "unpickled"
    path = _tamper(ws, version, _hostile_pickle(marker))

    with pytest.raises(ObjectCorrupt) as info:
        nm.load_model(version.uri)

    assert not marker.exists()
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(ObjectCorrupt):
        version.load()
    assert not marker.exists()


def test_a_tampered_torch_module_is_refused(project: Path, ws: Workspace, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    version = nm.register_model("net", torch.nn.Linear(3, 2))
    marker = tmp_path / "unpickled"
    _tamper(ws, version, _hostile_pickle(marker))
    with pytest.raises(ObjectCorrupt):
        nm.load_model(version.uri)
    assert not marker.exists()


def test_a_flipped_byte_is_found(project: Path, ws: Workspace) -> None:
    version = nm.register_model("iris", _logreg())
    path = ws.objects.path_of(version.doc["artifact"]["md5"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    _tamper(ws, version, bytes(data))
    with pytest.raises(ObjectCorrupt, match="is corrupt"):
        nm.load_model("models:/iris/1")


def test_a_tampered_state_dict_is_refused(project: Path, ws: Workspace) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    version = nm.register_model("weights", torch.nn.Linear(3, 2).state_dict())
    path = ws.objects.path_of(version.doc["artifact"]["md5"])
    _tamper(ws, version, path.read_bytes() + b"\0")
    with pytest.raises(ObjectCorrupt):
        nm.load_model(version.uri)


# -- safety: imported versions --------------------------------------------------------------------


def test_an_imported_pickle_needs_trust(project: Path, tmp_path: Path) -> None:
    model = _logreg()
    nm.register_model("iris", model)
    imported = _export_and_import("models:/iris/1", tmp_path)
    assert imported.version == 2

    with pytest.raises(RefusedError) as info:
        nm.load_model(imported.uri)
    message = str(info.value)
    assert "models:/iris/2" in message
    assert "bundle.zip" in message
    assert "trust=True" in message
    assert "\n" not in message
    with pytest.raises(RefusedError):
        imported.load()
    with pytest.raises(RefusedError):
        nm.load_model("models:/iris@latest")

    loaded = nm.load_model(imported.uri, trust=True)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # the local original still loads without trust
    nm.load_model("models:/iris/1")


def test_an_imported_hostile_pickle_is_not_run_without_trust(
    project: Path, ws: Workspace, tmp_path: Path
) -> None:
    hostile = project / "model.pkl"
    marker = tmp_path / "unpickled"
    hostile.write_bytes(_hostile_pickle(marker))
    version = nm.register_model("evil", hostile, flavor="file")  # registering never unpickles
    assert not marker.exists()
    bundle = nm.export_model(version.uri, tmp_path / "evil.zip")
    # make the bundle claim a pickle flavor, as a hostile exporter could
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("nbmlops-model.json"))
        artifact = zf.read("artifact/model.pkl")
    manifest["flavor"] = "pickle"
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as zf:
        zf.writestr("nbmlops-model.json", json.dumps(manifest))
        zf.writestr("artifact/model.pkl", artifact)

    imported = nm.import_model(forged)
    with pytest.raises(RefusedError, match=r"forged\.zip"):
        nm.load_model(imported.uri)
    assert not marker.exists()


def test_imported_weights_and_files_load_without_trust(project: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    xgb = pytest.importorskip("xgboost")
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
        xgb.DMatrix(XB, label=YB),
        num_boost_round=3,
    )
    (project / "notes.txt").write_text("not a pickle\n")
    nm.register_model("weights", net.state_dict())
    nm.register_model("booster", booster)
    nm.register_model("notes", project / "notes.txt")

    state = nm.load_model(_export_and_import("models:/weights/1", tmp_path / "a").uri)
    loaded_booster = nm.load_model(_export_and_import("models:/booster/1", tmp_path / "b").uri)
    notes = nm.load_model(_export_and_import("models:/notes/1", tmp_path / "c").uri)

    fresh = torch.nn.Linear(4, 3)
    fresh.load_state_dict(state)
    inputs = torch.as_tensor(X[:5], dtype=torch.float32)
    assert torch.equal(fresh(inputs), net(inputs))
    np.testing.assert_array_equal(
        loaded_booster.predict(xgb.DMatrix(XB)), booster.predict(xgb.DMatrix(XB))
    )
    assert notes.name == "notes.txt" and notes.read_text() == "not a pickle\n"


# -- the record decides, not a copy of it ---------------------------------------------------------


def test_a_version_object_cannot_vouch_for_an_imported_pickle(
    project: Path, tmp_path: Path
) -> None:
    nm.register_model("iris", _logreg())
    imported = _export_and_import("models:/iris/1", tmp_path)
    imported.doc["origin"] = {"kind": "local"}  # a stale or made-up copy of the record

    with pytest.raises(RefusedError):
        nm.load_model(imported)
    with pytest.raises(RefusedError):
        imported.load()
    forged = ModelVersion({**imported.doc, "origin": {"kind": "local"}})
    with pytest.raises(RefusedError):
        nm.load_model(forged)


def test_a_version_object_loads_from_its_own_store(project: Path, tmp_path: Path) -> None:
    mine = _logreg(0.01)
    version = nm.register_model("iris", mine)
    other = tmp_path / "other-project"
    other.mkdir()
    nm.init(other)
    theirs = _logreg(1.0)
    assert nm.register_model("iris", theirs).version == 1

    np.testing.assert_array_equal(nm.load_model(version).coef_, mine.coef_)
    np.testing.assert_array_equal(nm.load_model("models:/iris/1").coef_, theirs.coef_)


def test_a_version_object_that_is_not_the_stored_version_is_refused(project: Path) -> None:
    first = nm.register_model("iris", _logreg(0.01))
    second = nm.register_model("iris", _logreg(1.0))
    mixed = ModelVersion({**first.doc, "artifact": second.doc["artifact"]})
    with pytest.raises(ModelNotFound, match=r"models:/iris/1 .* artifact differs"):
        nm.load_model(mixed)


def test_a_deleted_version_object_no_longer_loads(project: Path) -> None:
    nm.register_model("iris", _logreg(0.01))
    doomed = nm.register_model("iris", _logreg(1.0))
    nm.delete_model_version("iris", 2)
    with pytest.raises(ModelNotFound, match="iris has no version 2"):
        nm.load_model(doomed)


# -- not found, bad references --------------------------------------------------------------------


def test_unknown_model_version_or_alias_is_named(project: Path) -> None:
    nm.register_model("iris", _logreg())
    nm.set_alias("iris", "staging", 1)
    cases = {
        "models:/nope/1": "no model named 'nope'; registered: iris",
        "models:/iris/7": "iris has no version 7 (versions: 1)",
        "models:/iris@production": "iris has no alias 'production' (aliases: staging)",
        "models:/nope@latest": "no model named 'nope'",
    }
    for uri, message in cases.items():
        with pytest.raises(ModelNotFound) as info:
            nm.load_model(uri)
        assert message in str(info.value), uri
        assert "\n" not in str(info.value)


def test_nothing_registered_says_so(project: Path) -> None:
    with pytest.raises(ModelNotFound, match="none is registered yet"):
        nm.load_model("models:/iris/1")


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("runs://abc/model", ModelNotFound, "is not a models:/ URI"),
        ("models:iris/1", ModelNotFound, "is not a models:/ URI"),
        ("", ModelNotFound, "models:/NAME/VERSION"),
        ("models:/iris/abc", ModelNotFound, "'abc' is not a version number of iris"),
        ("models:/iris/0", ModelNotFound, "is not a version number"),
        ("models:/..@production", InvalidName, "must not hold"),
        ("models:/my model/1", InvalidName, "model name 'my model'"),
        ("models:/iris@not an alias", InvalidName, "alias 'not an alias'"),
    ],
)
def test_bad_uri_text_is_a_clear_error(project: Path, ref: str, error: type, message: str) -> None:
    nm.register_model("iris", _logreg())
    with pytest.raises(error) as info:
        nm.load_model(ref)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_non_reference_is_a_clear_error(project: Path) -> None:
    with pytest.raises(ModelNotFound, match="a model is named by"):
        nm.load_model(42)  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_folder_model_loads_in_several_processes_at_once(project: Path, ws: Workspace) -> None:
    import subprocess
    import sys

    from conftest import run_env

    folder = project / "saved"
    (folder / "sub").mkdir(parents=True)
    for i in range(150):
        (folder / "sub" / f"f{i}.bin").write_bytes(bytes([i % 256]) * 64)
    nm.register_model("fold", folder)
    code = (
        "import time, sys\n"
        "import nb_mlops as nm\n"
        "start = float(sys.argv[1])\n"
        "while time.time() < start: time.sleep(0.001)\n"
        "path = nm.load_model('models:/fold/1')\n"
        "print(len(list((path / 'sub').iterdir())))\n"
    )
    start = str(time.time() + 1.5)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, start],
            cwd=project,
            env=run_env(project),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in results]
    assert [out.strip() for out, _ in results] == ["150"] * 6


def test_a_stored_file_with_the_right_md5_but_other_bytes_is_not_unpickled(
    project: Path, ws: Workspace, tmp_path: Path
) -> None:
    """md5 names objects (DVC's layout); the sha256 kept at registration is the second check,
    so a planted file that only matches the md5 is refused before it is unpickled."""
    marker = tmp_path / "ran"
    version = nm.register_model("clf", {"weights": [1, 2, 3]})
    assert len(version.doc["artifact"]["sha256"]) == 64
    obj = ws.objects.path_of(version.doc["artifact"]["md5"])
    os.chmod(obj, 0o644)
    obj.write_bytes(_hostile_pickle(marker))
    # stand-in for an md5 collision: make the store's md5 check pass on the planted bytes
    from nb_mlops.store import objects as objects_module

    real = objects_module.md5_bytes
    try:
        objects_module.md5_bytes = lambda data: version.doc["artifact"]["md5"]
        with pytest.raises(ObjectCorrupt, match="sha256 differs"):
            nm.load_model("models:/clf/1")
    finally:
        objects_module.md5_bytes = real
    assert not marker.exists()
