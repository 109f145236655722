"""Model bundles: export one version as a zip, import it into another store, refuse bad bundles."""

from __future__ import annotations

import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import nb_mlops as nm
from nb_mlops.errors import InvalidName, ModelNotFound, NbMlopsError, ObjectCorrupt, RefusedError
from nb_mlops.registry.bundle import BUNDLE_FORMAT, MANIFEST, BundleError
from nb_mlops.registry.versions import ModelVersion
from nb_mlops.store.workspace import Workspace

X, Y = load_iris(return_X_y=True)


def _model(c: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=1000).fit(X, Y)


def _second_store(tmp_path: Path) -> Workspace:
    """A second project's store, pinned for this process (the test's own stays on disk)."""
    other = tmp_path / "other-project"
    other.mkdir()
    return nm.init(other)


def _read(bundle: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(bundle) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    return json.loads(members.pop(MANIFEST)), members


def _write(path: Path, manifest: Any, members: dict[str, bytes], **kw: Any) -> Path:
    """A zip holding `manifest` (dumped unless bytes) and `members`."""
    with zipfile.ZipFile(path, "w", **kw) as zf:
        data = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        zf.writestr(MANIFEST, data)
        for name, content in members.items():
            zf.writestr(name, content)
    return path


def _store_state(ws: Workspace) -> tuple[dict, dict, set]:
    """What an import must leave as it was when it fails: versions, models, objects."""
    objects = {md5 for md5, _ in ws.objects.all_objects()}
    return ws.catalog.docs("models"), ws.catalog.docs("registered_models"), objects


def _exported(project: Path, tmp_path: Path, name: str = "iris") -> Path:
    """A bundle of a freshly registered sklearn model."""
    version = nm.register_model(name, _model())
    return nm.export_model(version.uri, tmp_path / f"{name}.zip")


# -- round trip -----------------------------------------------------------------------------------


def test_round_trip_keeps_the_record_in_another_store(project: Path, tmp_path: Path) -> None:
    data = project / "train.csv"
    data.write_text("x,y\n1,0\n2,1\n")
    nm.snapshot(data, "first cut")
    model = _model()
    with nm.start_run("fit", params={"C": 1.0, "solver": "lbfgs"}, data=[data]) as run:
        nm.log_metric("accuracy", 0.97)
        source = nm.register_model(
            "iris", model, description="iris classifier", tags={"team": "vision", "stage": 2}
        )
    source_ws = nm.workspace()
    packages = json.loads(source_ws.objects.read_bytes(source.doc["env"]["packages"]))

    bundle = nm.export_model(source.uri, tmp_path / "iris.zip")

    target_ws = _second_store(tmp_path)
    assert target_ws.home != source_ws.home
    nm.register_model("iris", _model(0.01))
    nm.register_model("iris", _model(0.1))
    imported = nm.import_model(bundle)

    assert imported.version == 3  # the next number in the target store
    assert imported.name == "iris"
    assert imported.flavor == "sklearn"
    assert imported.fingerprint == source.fingerprint
    # a pickle's fingerprint cannot be checked without running it: the bundle's word, marked so
    assert imported.doc["fingerprint_kind"] == "claimed"
    assert imported.description == "iris classifier"
    assert imported.tags == {"team": "vision", "stage": 2}
    assert imported.data == source.data
    assert imported.data[0]["path"] == "train.csv" and imported.data[0]["version"] == 1
    assert imported.doc["artifact"]["md5"] == source.doc["artifact"]["md5"]
    assert imported.doc["run_id"] is None  # the run is not in this store; its record is kept:
    origin = imported.doc["origin"]
    assert origin["kind"] == "imported"
    assert origin["from"] == "iris.zip"
    assert (origin["name"], origin["version"]) == ("iris", 1)
    assert origin["created"] == source.doc["created"]
    assert origin["run"]["run_id"] == run.run_id
    assert origin["run"]["name"] == "fit"
    assert origin["run"]["params"] == {"C": 1.0, "solver": "lbfgs"}
    assert origin["run"]["metrics"]["accuracy"] == 0.97
    env = imported.doc["env"]
    assert env["python"] == source.doc["env"]["python"]
    assert json.loads(target_ws.objects.read_bytes(env["packages"])) == packages
    assert target_ws.objects.has(imported.doc["artifact"]["md5"])
    assert imported.doc["meta"]["source"] == "bundle:iris.zip"

    loaded = nm.load_model(imported.uri, trust=True)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert nm.get_model_version("models:/iris/3") == imported


def test_import_under_another_name(project: Path, tmp_path: Path) -> None:
    bundle = _exported(project, tmp_path)
    _second_store(tmp_path)
    imported = nm.import_model(bundle, name="iris-from-lab")
    assert (imported.name, imported.version) == ("iris-from-lab", 1)
    assert imported.doc["origin"]["name"] == "iris"
    with pytest.raises(ModelNotFound):
        nm.get_model_version("models:/iris/1")


def test_importing_twice_makes_two_versions(project: Path, tmp_path: Path) -> None:
    bundle = _exported(project, tmp_path)
    again = nm.import_model(bundle)
    once_more = nm.import_model(bundle)
    assert (again.version, once_more.version) == (2, 3)
    assert again.fingerprint == once_more.fingerprint


def test_export_to_a_folder_names_the_file_after_the_version(project: Path, tmp_path: Path) -> None:
    nm.register_model("iris", _model(0.1))
    nm.register_model("iris", _model(1.0))
    out = tmp_path / "exports"
    out.mkdir()
    path = nm.export_model("models:/iris/2", out)
    assert path == out / "iris-v2.zip"
    assert path.is_file()
    assert sorted(p.name for p in out.iterdir()) == ["iris-v2.zip"]
    manifest, members = _read(path)
    assert manifest["format"] == BUNDLE_FORMAT
    assert (manifest["name"], manifest["version"], manifest["flavor"]) == ("iris", 2, "sklearn")
    assert list(members) == ["artifact/model.joblib"]
    assert "source" not in manifest["meta"]  # the exporter's local paths stay home


def test_export_by_alias(project: Path, tmp_path: Path) -> None:
    nm.register_model("iris", _model(0.1))
    nm.register_model("iris", _model(1.0))
    nm.set_alias("iris", "production", 1)
    manifest, _ = _read(nm.export_model("models:/iris@production", tmp_path))
    assert manifest["version"] == 1


def test_folder_artifact_round_trips(project: Path, tmp_path: Path) -> None:
    folder = project / "saved_model"
    (folder / "variables").mkdir(parents=True)
    files = {
        "saved_model.pb": b"\x08\x01graph",
        "variables/variables.index": b"index",
        "variables/variables.data": os.urandom(2048),
    }
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    source = nm.register_model("tf-model", folder)
    bundle = nm.export_model(source.uri, tmp_path)
    assert bundle.name == "tf-model-v1.zip"
    _, members = _read(bundle)
    assert members == {f"artifact/{rel}": data for rel, data in files.items()}

    _second_store(tmp_path)
    imported = nm.import_model(bundle)
    assert imported.flavor == "folder"
    assert imported.doc["artifact"]["md5"] == source.doc["artifact"]["md5"]
    path = nm.load_model(imported.uri)  # a folder runs no code: no trust needed
    got = {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    assert got == files


def test_artifact_in_a_subfolder_round_trips(project: Path, tmp_path: Path) -> None:
    """A run artifact logged as `models/clf.joblib` keeps its name through a bundle."""
    model = _model()
    joblib.dump(model, project / "clf.joblib")
    with nm.start_run("fit") as run:
        nm.log_artifact(project / "clf.joblib", name="models/clf.joblib")
    source = nm.register_model("iris", run=run.run_id)
    assert source.doc["artifact"]["file"] == "models/clf.joblib"
    bundle = nm.export_model(source.uri, tmp_path)

    _second_store(tmp_path)
    imported = nm.import_model(bundle)
    assert imported.doc["artifact"]["file"] == "models/clf.joblib"
    loaded = nm.load_model(imported.uri, trust=True)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_reexporting_an_imported_version_keeps_its_origin(project: Path, tmp_path: Path) -> None:
    with nm.start_run("fit", params={"C": 1.0}):
        nm.register_model("iris", _model())
    first = nm.export_model("models:/iris/1", tmp_path / "first.zip")
    _second_store(tmp_path)
    nm.import_model(first)
    second = nm.export_model("models:/iris/1", tmp_path / "second.zip")
    manifest, _ = _read(second)
    assert manifest["run"]["params"] == {"C": 1.0}
    assert manifest["run"]["name"] == "fit"


# -- secrets --------------------------------------------------------------------------------------


def _all_text(bundle: Path) -> bytes:
    """The bundle's bytes on disk and every member's bytes uncompressed."""
    with zipfile.ZipFile(bundle) as zf:
        return bundle.read_bytes() + b"".join(zf.read(i) for i in zf.infolist())


def test_secrets_in_run_params_never_reach_the_bundle(project: Path, tmp_path: Path) -> None:
    params = {"api_key": "sk-123", "db": {"password": "hunter2"}, "lr": 0.1}
    with nm.start_run("fit", params=params):
        nm.register_model("iris", _model(), tags={"hf_token": "hf-abc", "team": "vision"})
    bundle = nm.export_model("models:/iris/1", tmp_path)

    text = _all_text(bundle)
    for secret in (b"sk-123", b"hunter2", b"hf-abc"):
        assert secret not in text
    manifest, _ = _read(bundle)
    assert manifest["run"]["params"]["api_key"] == "[REDACTED]"
    assert manifest["run"]["params"]["lr"] == 0.1
    assert manifest["tags"] == {"hf_token": "[REDACTED]", "team": "vision"}


def test_secrets_from_an_imported_record_are_redacted_on_export(
    project: Path, tmp_path: Path
) -> None:
    """A bundle made by hand may carry secrets; they do not travel on from this store."""
    manifest, members = _read(_exported(project, tmp_path))
    manifest["run"] = {"run_id": "abc", "name": "x", "params": {"api_key": "sk-999"}, "metrics": {}}
    manifest["tags"] = {"password": "pw-777"}
    handmade = _write(tmp_path / "handmade.zip", manifest, members)
    imported = nm.import_model(handmade)
    assert imported.tags == {"password": "[REDACTED]"}

    bundle = nm.export_model(imported.uri, tmp_path / "again.zip")
    text = _all_text(bundle)
    assert b"sk-999" not in text and b"pw-777" not in text


# -- damaged or hostile bundles -------------------------------------------------------------------


def test_changed_artifact_bytes_are_refused_and_nothing_is_registered(
    project: Path, ws: Workspace, tmp_path: Path
) -> None:
    bundle = _exported(project, tmp_path)
    manifest, members = _read(bundle)
    members["artifact/model.joblib"] = members["artifact/model.joblib"] + b"\0"
    changed = _write(tmp_path / "changed.zip", manifest, members)
    before = _store_state(ws)

    with pytest.raises(ObjectCorrupt) as info:
        nm.import_model(changed)

    message = str(info.value)
    assert "changed.zip" in message and manifest["artifact"]["md5"] in message
    assert "\n" not in message
    assert _store_state(ws) == before
    assert [v["version"] for v in ws.catalog.docs("models").values()] == [1]


def test_a_flipped_byte_inside_the_zip_is_refused(
    project: Path, ws: Workspace, tmp_path: Path
) -> None:
    manifest, members = _read(_exported(project, tmp_path))
    stored = _write(tmp_path / "stored.zip", manifest, members, compression=zipfile.ZIP_STORED)
    raw = bytearray(stored.read_bytes())
    artifact = members["artifact/model.joblib"]
    at = raw.index(artifact) + len(artifact) // 2
    raw[at] ^= 0xFF
    stored.write_bytes(bytes(raw))
    before = _store_state(ws)

    with pytest.raises(ObjectCorrupt, match=r"stored\.zip: artifact/model\.joblib is damaged"):
        nm.import_model(stored)
    assert _store_state(ws) == before


def test_a_changed_folder_artifact_adds_nothing_to_the_store(
    project: Path, ws: Workspace, tmp_path: Path
) -> None:
    folder = project / "saved"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a" * 100)
    (folder / "b.bin").write_bytes(b"b" * 100)
    bundle = nm.export_model(nm.register_model("saved", folder).uri, tmp_path)
    manifest, members = _read(bundle)
    members["artifact/b.bin"] = b"B" * 100
    members["artifact/extra.bin"] = b"planted"
    changed = _write(tmp_path / "changed.zip", manifest, members)
    before = _store_state(ws)

    with pytest.raises(ObjectCorrupt, match=r"changed\.zip"):
        nm.import_model(changed)
    assert _store_state(ws) == before  # not even the files' objects went in


def _bundle_parts(project: Path, tmp_path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    return _read(_exported(project, tmp_path))


def _not_a_zip(tmp_path: Path, manifest: dict, members: dict) -> Path:
    path = tmp_path / "bad.zip"
    path.write_text("this is not a zip file\n")
    return path


def _empty_file(tmp_path: Path, manifest: dict, members: dict) -> Path:
    path = tmp_path / "bad.zip"
    path.write_bytes(b"")
    return path


def _no_manifest(tmp_path: Path, manifest: dict, members: dict) -> Path:
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _manifest_not_json(tmp_path: Path, manifest: dict, members: dict) -> Path:
    return _write(tmp_path / "bad.zip", b"{not json", members)


def _manifest_a_list(tmp_path: Path, manifest: dict, members: dict) -> Path:
    return _write(tmp_path / "bad.zip", b"[1, 2]", members)


def _changed(**fields: Any) -> Callable[[Path, dict, dict], Path]:
    def make(tmp_path: Path, manifest: dict, members: dict) -> Path:
        return _write(tmp_path / "bad.zip", {**manifest, **fields}, members)

    return make


def _changed_artifact(**fields: Any) -> Callable[[Path, dict, dict], Path]:
    def make(tmp_path: Path, manifest: dict, members: dict) -> Path:
        changed = {**manifest, "artifact": {**manifest["artifact"], **fields}}
        return _write(tmp_path / "bad.zip", changed, members)

    return make


def _with_member(name: str) -> Callable[[Path, dict, dict], Path]:
    def make(tmp_path: Path, manifest: dict, members: dict) -> Path:
        return _write(tmp_path / "bad.zip", manifest, {**members, name: b"planted"})

    return make


def _artifact_missing(tmp_path: Path, manifest: dict, members: dict) -> Path:
    return _write(tmp_path / "bad.zip", manifest, {})


def _artifact_twice(tmp_path: Path, manifest: dict, members: dict) -> Path:
    path = _write(tmp_path / "bad.zip", manifest, members)
    with warnings.catch_warnings(), zipfile.ZipFile(path, "a") as zf:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
        zf.writestr("artifact/model.joblib", b"the other one")
    return path


def _damaged_manifest(tmp_path: Path, manifest: dict, members: dict) -> Path:
    path = _write(tmp_path / "bad.zip", manifest, members, compression=zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    at = raw.index(b'"fingerprint"') + 2
    raw[at] ^= 0x20  # same length, wrong CRC
    path.write_bytes(bytes(raw))
    return path


BAD_BUNDLES = {
    "not a zip": (_not_a_zip, "is not a model bundle (not a readable zip"),
    "empty file": (_empty_file, "is not a model bundle (not a readable zip"),
    "no manifest": (_no_manifest, f"is not a model bundle (it has no {MANIFEST})"),
    "manifest not json": (_manifest_not_json, "is not valid JSON"),
    "manifest a list": (_manifest_a_list, "bundle format None is not one"),
    "damaged manifest": (_damaged_manifest, f"{MANIFEST} cannot be read from the zip"),
    "format 2": (_changed(format=2), "bundle format 2 is not one this nb-mlops reads (1)"),
    "format '1'": (_changed(format="1"), "bundle format '1' is not one"),
    "format true": (_changed(format=True), "bundle format True is not one"),
    "no format": (_changed(format=None), "bundle format None is not one"),
    "unknown flavor": (_changed(flavor="onnx"), "lacks a known flavor and an artifact record"),
    "no artifact record": (_changed(artifact=None), "lacks a known flavor"),
    "bad model name": (_changed(name="../../etc"), "names the model badly"),
    "no fingerprint": (_changed(fingerprint=None), "lacks the fingerprint"),
    "no hash": (_changed_artifact(md5=None), "lacks the fingerprint or the artifact's hash"),
    "bad hash": (_changed_artifact(md5="../../x"), "as the artifact's hash"),
    "folder hash, file flavor": (
        _changed_artifact(md5="0" * 32 + ".dir"),
        "gives flavor 'sklearn' to a folder",
    ),
    "file name escapes": (_changed_artifact(file="../model.joblib"), "does not hold its artifact"),
    "file name not text": (_changed_artifact(file=7), "not kept in a file named 7"),
    "artifact missing": (_artifact_missing, "does not hold its artifact 'model.joblib'"),
    "member with ../": (_with_member("artifact/../../evil.py"), "unsafe file name in the bundle"),
    "member absolute": (_with_member("artifact//tmp/evil.py"), "unsafe file name in the bundle"),
    "member with backslash": (_with_member("artifact/..\\evil.py"), "unsafe file name"),
    "member twice": (_artifact_twice, "'artifact/model.joblib' is in the bundle twice"),
    "tags not a record": (_changed(tags=["a"]), "field 'tags' is not a dict"),
    "bad tag name": (_changed(tags={"": "x"}), "has a bad tag"),
    "data not records": (_changed(data=["train.csv"]), "field 'data' is not a list of records"),
    "run not a record": (_changed(run="abc"), "field 'run' is not a record"),
    "env not a record": (_changed(env=[]), "field 'env' is not a dict"),
}


@pytest.mark.parametrize("case", list(BAD_BUNDLES))
def test_a_bad_bundle_is_refused_in_one_line_and_nothing_is_registered(
    project: Path, ws: Workspace, tmp_path: Path, case: str
) -> None:
    make, expected = BAD_BUNDLES[case]
    manifest, members = _bundle_parts(project, tmp_path)
    bad = make(tmp_path, manifest, members)
    outside = tmp_path.parent / "evil.py"
    before = _store_state(ws)

    with pytest.raises(BundleError) as info:
        nm.import_model(bad)

    message = str(info.value)
    assert expected in message
    assert str(bad) in message
    assert "\n" not in message
    assert isinstance(info.value, NbMlopsError)
    assert _store_state(ws) == before
    assert not outside.exists()
    assert not any((ws.home / "tmp").iterdir())  # the unpacked files were cleaned up


def test_missing_bundle_or_folder_is_refused(project: Path, ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"no such bundle: .*nowhere\.zip"):
        nm.import_model(tmp_path / "nowhere.zip")
    with pytest.raises(BundleError, match="is a folder, not a model bundle"):
        nm.import_model(tmp_path)
    assert ws.catalog.docs("models") == {}


def test_a_bad_name_override_is_refused_before_reading(project: Path, tmp_path: Path) -> None:
    bundle = _exported(project, tmp_path)
    with pytest.raises(InvalidName, match="model name 'a/b'"):
        nm.import_model(bundle, name="a/b")
    assert [v.version for v in [nm.get_model_version("models:/iris@latest")]] == [1]


def test_a_forged_pickle_flavor_still_needs_trust(project: Path, tmp_path: Path) -> None:
    """Whatever a bundle says its artifact is, a pickle from it loads only with trust."""
    manifest, members = _bundle_parts(project, tmp_path)
    for flavor in ("sklearn", "joblib", "lightgbm"):
        forged = _write(tmp_path / f"{flavor}.zip", {**manifest, "flavor": flavor}, members)
        imported = nm.import_model(forged)
        with pytest.raises(RefusedError, match=f"{flavor}.zip"):
            nm.load_model(imported.uri)


# -- failed exports -------------------------------------------------------------------------------


def _corrupt_object(ws: Workspace, md5: str) -> None:
    path = ws.objects.path_of(md5)
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes() + b"\0")


def test_a_failed_export_leaves_no_file(project: Path, ws: Workspace, tmp_path: Path) -> None:
    version = nm.register_model("iris", _model())
    _corrupt_object(ws, version.doc["artifact"]["md5"])
    out = tmp_path / "exports"
    out.mkdir()

    with pytest.raises(ObjectCorrupt):
        nm.export_model(version.uri, out / "iris.zip")
    with pytest.raises(ObjectCorrupt):
        nm.export_model(version.uri, out)
    assert list(out.iterdir()) == []


def test_a_damaged_file_of_a_folder_is_not_exported(
    project: Path, ws: Workspace, tmp_path: Path
) -> None:
    folder = project / "saved"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a" * 64)
    version = nm.register_model("saved", folder)
    (entry,) = ws.objects.listing(version.doc["artifact"]["md5"])
    _corrupt_object(ws, entry["md5"])

    with pytest.raises(ObjectCorrupt):
        nm.export_model(version.uri, tmp_path)
    assert not any(p.suffix == ".zip" or ".tmp-" in p.name for p in tmp_path.iterdir())


def test_an_existing_bundle_survives_a_failed_export(
    project: Path, ws: Workspace, tmp_path: Path
) -> None:
    version = nm.register_model("iris", _model())
    good = nm.export_model(version.uri, tmp_path / "iris.zip")
    before = good.read_bytes()
    _corrupt_object(ws, version.doc["artifact"]["md5"])
    with pytest.raises(ObjectCorrupt):
        nm.export_model(version.uri, good)
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_into_a_missing_folder_is_a_clear_error(project: Path, tmp_path: Path) -> None:
    version = nm.register_model("iris", _model())
    target = tmp_path / "no" / "such" / "iris.zip"
    with pytest.raises(NbMlopsError, match=r"no such folder to export into: .*no/such$") as info:
        nm.export_model(version.uri, target)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "no").exists()
    with pytest.raises(NbMlopsError, match="no such folder to export into"):
        nm.export_model(version.uri, f"{tmp_path / 'missing'}/")
    assert not (tmp_path / "missing").exists()


def test_export_of_an_unknown_version_writes_nothing(project: Path, tmp_path: Path) -> None:
    nm.register_model("iris", _model())
    with pytest.raises(ModelNotFound, match="iris has no version 4"):
        nm.export_model("models:/iris/4", tmp_path)
    with pytest.raises(ModelNotFound, match="no model named 'nope'"):
        nm.export_model("models:/nope/1", tmp_path)
    assert not list(tmp_path.glob("*.zip"))


def test_an_imported_version_is_a_version_like_any_other(project: Path, tmp_path: Path) -> None:
    bundle = _exported(project, tmp_path)
    _second_store(tmp_path)
    imported = nm.import_model(bundle)
    assert isinstance(imported, ModelVersion)
    nm.set_alias("iris", "production", imported.version)
    assert nm.get_model_version("models:/iris@production").fingerprint == imported.fingerprint
    assert "iris" in str(nm.models())


def test_a_version_whose_run_was_deleted_still_exports_its_run(ws, tmp_path: Path) -> None:
    with nm.start_run("gone", params={"depth": 3}) as run:
        nm.log_metric("accuracy", 0.9)
        run.model({"w": [1]}, "clf")
    nm.delete_run(run.run_id, force=True)
    bundle = nm.export_model("models:/clf/1", tmp_path)
    imported = nm.import_model(bundle, name="clf-copy")
    carried = imported.doc["origin"]["run"]
    assert carried["name"] == "gone" and carried["run_id"] == run.run_id
    assert carried["params"] == {"depth": 3} and carried["metrics"] == {"accuracy": 0.9}


def _bundle_with(tmp_path: Path, version: ModelVersion, **manifest_changes: Any) -> Path:
    """A copy of `version`'s bundle with fields of its manifest changed."""
    src = nm.export_model(version.uri, tmp_path / "src.zip")
    out = tmp_path / "changed.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == MANIFEST:
                manifest = json.loads(data)
                manifest.update(manifest_changes)
                data = json.dumps(manifest).encode()
            zout.writestr(item, data)
    return out


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_passed_off_as_weights_never_runs(project: Path, tmp_path: Path) -> None:
    """A hostile pickle in a bundle that claims to hold weights: refused, and never unpickled."""
    import hashlib
    import pickle

    marker = tmp_path / "ran"

    class Touch:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = pickle.dumps(Touch())
    version = nm.register_model("iris", _model(0.1))
    for file, flavor in (("weights.pt", "pytorch-state-dict"), ("weights.pkl", "file")):
        art = {"md5": hashlib.md5(payload).hexdigest(), "size": len(payload), "nfiles": 1}
        bundle = _bundle_with(tmp_path, version, flavor=flavor, artifact={**art, "file": file})
        with zipfile.ZipFile(bundle, "a") as zf:
            zf.writestr(f"artifact/{file}", payload)
        if flavor == "file":  # kept as a plain file: importable, and loading gives a path
            path = nm.load_model(nm.import_model(bundle, name="plain").uri)
            assert path.read_bytes() == payload
        else:
            with pytest.raises(BundleError, match="does not read"):
                nm.import_model(bundle, name="weights")
    assert not marker.exists()
    with pytest.raises(BundleError, match=r"not kept in a file named 'model\.joblib'"):
        nm.import_model(_bundle_with(tmp_path, version, flavor="pytorch-state-dict"))


def test_a_fingerprint_that_can_be_checked_is_recomputed(project: Path, tmp_path: Path) -> None:
    import torch

    net = torch.nn.Linear(3, 2)
    version = nm.register_model("net", net.state_dict())
    forged = _bundle_with(tmp_path, version, fingerprint="ab" * 32)
    imported = nm.import_model(forged, name="net-copy")
    assert imported.fingerprint == version.fingerprint  # what the file holds, not the claim
    assert imported.doc["fingerprint_kind"] == "state"
    assert imported.doc["meta"]["claimed_fingerprint"] == "ab" * 32
    with pytest.raises(BundleError, match="as fingerprint"):
        nm.import_model(_bundle_with(tmp_path, version, fingerprint="not-a-hash"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"run": {"metrics": "abc"}}, "'run.metrics' is not a record"),
        ({"run": {"params": [1, 2]}}, "'run.params' is not a record"),
        ({"run": {"metrics": {"a": [1]}}}, "holds more than numbers"),
        ({"run": {"name": 3}}, "'run.name' is not text"),
        ({"data": [{}]}, "needs a path and a version"),
        ({"meta": {"class": {"a": 1}}}, "'meta' holds more than plain values"),
    ],
)
def test_inner_fields_of_the_record_are_checked(
    project: Path, tmp_path: Path, changes: dict, message: str
) -> None:
    version = nm.register_model("iris", _model(0.1))
    with pytest.raises(BundleError, match=re.escape(message)):
        nm.import_model(_bundle_with(tmp_path, version, **changes), name="copy")
    with pytest.raises(ModelNotFound):
        nm.get_model_version("copy", 1)
