"""Exporting a run as a record (records/export.py) and reading its manifest back without trusting
it (records/record.py): the zip's layout, the cells in execution order, the crate, secrets,
data objects, fitted arrays, refusals."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from rocrate.rocrate import ROCrate

import nb_mlops as nm
from nb_mlops.errors import NbMlopsError, RunNotFound
from nb_mlops.records import record as rec
from nb_mlops.records.crate import crate_files
from nb_mlops.records.export import ExportResult, export_record, secret_names
from nb_mlops.records.record import RecordError, read_manifest, safe_path

SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a"
ENV_SECRET = "sk-live-0a1b2c3d4e5f6a7b8c9d0e1f2a3b"

LOAD_CELL = f"""\
import numpy as np
api_key = "{SECRET}"
rng = np.random.default_rng(0)
X = rng.normal(size=(120, 4))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
"""
TRACKED_CELL = """\
%%track -n fit --seed 0 --data data/reviews.csv
C = 0.5
from sklearn.linear_model import LogisticRegression
model = LogisticRegression(C=C).fit(X, y)
track.log(accuracy=model.score(X, y))
track.model(model, "clf")
print("trained with", api_key)
"""


def run_cell(ip, source: str) -> None:
    result = ip.run_cell(source)
    assert result.success, result.error_in_exec or result.error_before_exec


@pytest.fixture
def notebook(ip, project, ws, monkeypatch):
    """A session: data snapshotted, an untracked cell that builds X and y (and holds a secret),
    then the tracked cell that fits and registers a model."""
    monkeypatch.setenv("NB_MLOPS_API_TOKEN", ENV_SECRET)  # captured (NB_MLOPS_ prefix), redacted
    (project / "data").mkdir()
    (project / "data" / "reviews.csv").write_text("id,text\n1,good\n2,bad\n")
    run_cell(ip, LOAD_CELL)
    run_cell(ip, TRACKED_CELL)
    return ws


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def manifest_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return read_manifest(zf.read("record.json"))


# --------------------------------------------------------------------------- the zip
def test_layout_hashes_and_result(notebook, project):
    result = export_record(notebook, "fit")
    assert isinstance(result, ExportResult)
    assert result.path == project / "fit.zip"
    files = members(result.path)
    assert set(files) == {
        "record.json",
        "ro-crate-metadata.json",
        "notebook.ipynb",
        "environment/requirements.txt",
        "outputs/fit/stdout.txt",
        "params/clf-v1.npz",
    }
    for name in files:
        safe_path(name)
    blob = result.path.read_bytes()
    assert result.size == len(blob)
    assert result.sha256 == hashlib.sha256(blob).hexdigest()
    manifest = read_manifest(files["record.json"])
    assert set(manifest["files"]) == set(files) - {"record.json", "ro-crate-metadata.json"}
    for name, entry in manifest["files"].items():
        assert entry == {
            "sha256": hashlib.sha256(files[name]).hexdigest(),
            "size": len(files[name]),
        }
    assert result.files["record.json"]["sha256"] == hashlib.sha256(files["record.json"]).hexdigest()
    assert len(result.files) == len(files)
    # what the record says about the run
    run = manifest["run"]
    assert (run["name"], run["status"], run["params"]) == ("fit", "finished", {"C": 0.5})
    assert 0.5 < run["metrics"]["accuracy"] <= 1.0
    assert manifest["determinism"]["seed"] == 0
    assert manifest["determinism"]["seeds"]["numpy"] == 0
    assert set(manifest["determinism"]["threads"]) >= {"OMP_NUM_THREADS", "MKL_NUM_THREADS"}
    assert manifest["environment"]["python"].count(".") == 2
    assert manifest["environment"]["packages"]["numpy"] == np.__version__
    lock = files["environment/requirements.txt"].decode().splitlines()
    assert f"numpy=={np.__version__}" in lock
    assert lock == sorted(lock, key=lambda line: line.split("==")[0].lower())
    (model,) = manifest["models"]
    assert model["params"] == "params/clf-v1.npz" and model["flavor"] == "sklearn"
    assert model["fingerprint"] == nm.get_model_version("models:/clf/1").fingerprint
    assert model["run"] == "fit" and manifest["runs"][0]["models"][0]["version"] == 1
    (data,) = manifest["data"]
    assert (data["path"], data["version"], data["isdir"], data["included"]) == (
        "data/reviews.csv",
        1,
        False,
        False,
    )
    assert data["files"][0]["size"] == len("id,text\n1,good\n2,bad\n")
    assert any("--with-data" in line for line in result.left_out)
    assert "fit.zip" in result.to_text() and result.to_dict()["sha256"] == result.sha256


def test_cells_in_execution_order(ip, project, ws):
    """The notebook holds the cells as the kernel ran them: an untracked cell that built X,
    one run again later with another value, and tracked cells in between."""
    run_cell(ip, "X = [1, 2, 3]")
    run_cell(ip, "%%track -n first\nfirst = sum(X)\ntrack.log(total=first)")
    run_cell(ip, "X = [10, 20, 30]  # the same name, later")
    run_cell(ip, "y = len(X)")
    run_cell(ip, "%%track -n second\ntrack.log(total=sum(X) + y)")
    run_cell(ip, "after = 1  # ran after the target: not recorded")
    result = export_record(ws, "second", project / "out.zip")
    files = members(result.path)
    nb = json.loads(files["notebook.ipynb"])
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert sources == [
        "%load_ext nb_mlops",
        "X = [1, 2, 3]",
        "%%track -n first\nfirst = sum(X)\ntrack.log(total=first)",
        "X = [10, 20, 30]  # the same name, later",
        "y = len(X)",
        "%%track -n second\ntrack.log(total=sum(X) + y)",
    ]
    metas = [c["metadata"]["nbmlops"] for c in nb["cells"]]
    assert metas[0]["status"] == "added"
    assert [m["index"] for m in metas[1:]] == [1, 2, 3, 4, 5]
    assert all(m["status"] == "ok" and len(m["code_hash"]) == 32 for m in metas[1:])
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] == 5
    manifest = read_manifest(files["record.json"])
    assert manifest["cells"]["count"] == 6
    assert [r["name"] for r in manifest["runs"]] == ["first", "second"]  # start order
    assert [r["metrics"]["total"] for r in manifest["runs"]] == [6.0, 63.0]
    assert manifest["run"]["name"] == "second"
    assert manifest["cells"]["hidden_state"] == []
    import nbformat  # the notebook is valid nbformat 4.5

    nbformat.validate(nbformat.reads(files["notebook.ipynb"].decode(), as_version=4))


def test_hidden_state_is_listed(ip, project, ws):
    ip.user_ns["ghost"] = 41  # defined outside any recorded cell
    run_cell(ip, "%%track -n uses-ghost\ntrack.log(v=ghost + 1)")
    manifest = manifest_of(export_record(ws, "uses-ghost").path)
    (finding,) = manifest["cells"]["hidden_state"]
    assert finding["name"] == "ghost" and finding["kind"] == "undefined"


def test_crate_lists_every_file_with_its_sha256(notebook, project, tmp_path):
    result = export_record(notebook, "fit", with_data=True)
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(result.path) as zf:
        zf.extractall(folder)
    crate = ROCrate(folder)
    assert crate.name == "nb-mlops run record: fit"
    listed = {e.id: e for e in crate.data_entities if "File" in e.type}
    on_disk = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "ro-crate-metadata.json"
    }
    assert set(listed) == on_disk
    for rel, entity in listed.items():
        data = (folder / rel).read_bytes()
        assert entity["sha256"] == hashlib.sha256(data).hexdigest(), rel
        assert entity["contentSize"] == str(len(data))
        assert entity["encodingFormat"]
    assert crate_files(result.path) == crate_files(folder)


# ------------------------------------------------------------------------------ secrets
def test_no_secret_in_any_byte(notebook, project):
    result = export_record(notebook, "fit", with_data=True)
    blob = result.path.read_bytes()
    texts = [blob]
    with zipfile.ZipFile(result.path) as zf:
        texts += [zf.read(name) for name in zf.namelist()]  # deflated members, inflated
    for secret in (SECRET, ENV_SECRET):
        for part in (secret, secret[8:30]):
            assert not any(part.encode() in t for t in texts), part
    files = members(result.path)
    assert b"trained with [REDACTED]" in files["outputs/fit/stdout.txt"]
    nb = files["notebook.ipynb"].decode()
    assert 'api_key = \\"[REDACTED]\\"' in nb
    manifest = read_manifest(files["record.json"])
    assert manifest["secrets"] == ["api_key"]


@pytest.mark.parametrize(
    ("source", "names", "unnamed"),
    [
        ('api_key = "[REDACTED]"', ["api_key"], 0),
        ("self.api_key: str = '[REDACTED]'", ["api_key"], 0),
        ('client = OpenAI(api_key="[REDACTED]", base_url=u)', ["api_key"], 0),
        ('cfg = {"db_password": "[REDACTED]", "user": "x"}', ["db_password"], 0),
        ('os.environ["HF_TOKEN"] = "[REDACTED]"', ["HF_TOKEN"], 0),
        ('os.environ.setdefault("HF_TOKEN", "[REDACTED]")', ["HF_TOKEN"], 0),
        ("!curl --token [REDACTED] https://x", ["token"], 0),
        ("%env AWS_SECRET_ACCESS_KEY=[REDACTED]", ["AWS_SECRET_ACCESS_KEY"], 0),
        ('client = OpenAI("[REDACTED]")', [], 1),
        ('note = "[REDACTED]"  # a token shape in a plain string', [], 1),
        ("url = 'postgres://me:[REDACTED]@db/x'", [], 1),
        ('a_token = "[REDACTED]"\nb = 1\na_token = "[REDACTED]"', ["a_token"], 0),
    ],
)
def test_secret_names(source, names, unnamed):
    assert secret_names(source) == (names, unnamed)


def test_unnamed_secret_is_reported(ip, project, ws):
    run_cell(ip, f'%%track -n keyed\nheader = "{SECRET}"\ntrack.log(n=len(header))')
    result = export_record(ws, "keyed")
    assert any(line.startswith("cell 2: 1 secret value") for line in result.left_out)
    assert SECRET.encode() not in members(result.path)["notebook.ipynb"]


# -------------------------------------------------------------------------------- data
def test_with_data_objects_hash_to_their_names(ip, project, ws):
    folder = project / "data" / "ds"
    (folder / "sub").mkdir(parents=True)
    big = np.random.default_rng(1).bytes((1 << 20) + 12345)  # streamed, not read whole
    (folder / "big.bin").write_bytes(big)
    (folder / "sub" / "a.csv").write_text("a,b\n1,2\n")
    (folder / "b.txt").write_text("hello\n")
    run_cell(ip, "%%track -n reads --data data/ds\ntrack.log(n=1)")
    result = export_record(ws, "reads", with_data=True)
    files = members(result.path)
    manifest = read_manifest(files["record.json"])
    (item,) = manifest["data"]
    assert item["isdir"] and item["included"] and item["md5"].endswith(".dir")
    assert {f["relpath"]: f["size"] for f in item["files"]} == {
        "big.bin": len(big),
        "b.txt": 6,
        "sub/a.csv": 8,
    }
    objects = {n: d for n, d in files.items() if n.startswith("data/files/md5/")}
    assert len(objects) == 4  # three files and the folder's listing
    for name, data in objects.items():
        md5 = name.removeprefix("data/files/md5/").replace("/", "")
        assert hashlib.md5(data).hexdigest() == md5.removesuffix(".dir")
        assert manifest["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
    listing = json.loads(objects[rec.object_path(item["md5"])])
    assert sorted(e["relpath"] for e in listing) == ["b.txt", "big.bin", "sub/a.csv"]
    with zipfile.ZipFile(result.path) as zf:
        info = zf.getinfo(rec.object_path(item["files"][0]["md5"]))
        assert info.compress_type == zipfile.ZIP_STORED  # objects are stored as they are
        assert zf.getinfo("record.json").compress_type == zipfile.ZIP_DEFLATED
        assert zf.testzip() is None
    # without data: listed by hash only
    lean = export_record(ws, "reads", project / "lean.zip")
    assert not any(n.startswith("data/") for n in members(lean.path))
    assert manifest_of(lean.path)["data"][0]["included"] is False


def test_npz_reads_back_without_pickle(notebook):
    result = export_record(notebook, "fit")
    with zipfile.ZipFile(result.path) as zf, zf.open("params/clf-v1.npz") as fh:
        data = fh.read()
    model = nm.load_model("models:/clf/1")
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["coef_"], model.coef_)
        np.testing.assert_array_equal(npz["intercept_"], model.intercept_)
        assert list(npz["classes_"]) == [0, 1]


# ---------------------------------------------------------------------- runs and refusals
def test_children_and_runs_without_history(project, ws):
    with nm.start_run("sweep") as parent:
        parent.log_params({"grid": "small"})
        for lr in (0.1, 0.2):
            with nm.start_run(f"lr-{lr}") as child:
                child.log_param("lr", lr)
                child.log_metric("loss", 1 - lr)
    result = export_record(ws, parent.run_id, project / "sweep.zip")
    manifest = manifest_of(result.path)
    children = manifest["run"]["children"]
    assert [(c["name"], c["params"], c["metrics"]) for c in children] == [
        ("lr-0.1", {"lr": 0.1}, {"loss": 0.9}),
        ("lr-0.2", {"lr": 0.2}, {"loss": 0.8}),
    ]
    assert [r["name"] for r in manifest["runs"]] == ["sweep", "lr-0.1", "lr-0.2"]
    assert manifest["cells"]["session"] is None


def test_artifacts_by_hash(project, ws):
    (project / "model.txt").write_text("weights 1 2 3\n")
    (project / "plots").mkdir()
    (project / "plots" / "a.svg").write_text("<svg/>")
    with nm.start_run("arts") as run:
        run.log_artifact(project / "model.txt")
        run.log_artifact(project / "plots")
    manifest = manifest_of(export_record(ws, "arts").path)
    arts = {a["name"]: a for a in manifest["artifacts"]}
    assert set(arts) == {"model.txt", "plots"}
    text = b"weights 1 2 3\n"
    assert arts["model.txt"]["md5"] == hashlib.md5(text).hexdigest()
    assert arts["model.txt"]["sha256"] == hashlib.sha256(text).hexdigest()
    assert arts["model.txt"]["run"] == "arts" and arts["model.txt"]["size"] == len(text)
    listing = ws.objects.read_bytes(arts["plots"]["md5"])  # a folder: its listing's sha256
    assert arts["plots"]["md5"].endswith(".dir")
    assert arts["plots"]["sha256"] == hashlib.sha256(listing).hexdigest()
    assert manifest["runs"][0]["artifacts"] == [
        {k: v for k, v in a.items() if k != "run"} for a in manifest["artifacts"]
    ]


def test_git_commit_and_redacted_dirty_diff(project, ws):
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")

    def sh(*args: str) -> str:
        out = subprocess.run(
            [git, "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    sh("init", "-q", "-b", "main")
    (project / "train.py").write_text("lr = 0.1\n")
    sh("add", "train.py")
    sh("commit", "-q", "-m", "first")
    (project / "train.py").write_text(f'lr = 0.2\napi_key = "{SECRET}"\n')
    with nm.start_run("dirty") as run:
        pass
    for _ in range(200):  # `git status` answers in a thread; the run records it when it does
        if ((ws.catalog.get("runs", run.run_id)["env"]["git"]) or {}).get("dirty") is not None:
            break
        time.sleep(0.05)
    result = export_record(ws, "dirty")
    files = members(result.path)
    manifest = read_manifest(files["record.json"])
    assert manifest["git"] == {
        "commit": sh("rev-parse", "HEAD"),
        "branch": "main",
        "dirty": True,
        "diff": "git/diff.patch",
    }
    diff = files["git/diff.patch"].decode()
    assert "+lr = 0.2" in diff and "-lr = 0.1" in diff
    assert "[REDACTED]" in diff and SECRET not in diff
    # a clean tree: no diff
    sh("commit", "-q", "-am", "second")
    with nm.start_run("clean") as run:
        pass
    for _ in range(200):
        if ((ws.catalog.get("runs", run.run_id)["env"]["git"]) or {}).get("dirty") is not None:
            break
        time.sleep(0.05)
    manifest = manifest_of(export_record(ws, "clean").path)
    assert manifest["git"]["dirty"] is False and manifest["git"]["diff"] is None


def test_refuses_an_unknown_run(notebook, project):
    before = set(os.listdir(project))
    with pytest.raises(RunNotFound) as exc:
        export_record(notebook, "no-such-run")
    assert "\n" not in str(exc.value)
    assert set(os.listdir(project)) == before


def test_refuses_a_running_run(project, ws):
    run = nm.start_run("busy")
    try:
        with pytest.raises(RecordError, match="still running"):
            export_record(ws, run.run_id)
    finally:
        run.end()


def test_destination_folder_and_missing_folder(notebook, project, tmp_path):
    out = tmp_path / "records"
    out.mkdir()
    assert export_record(notebook, "fit", out).path == out / "fit.zip"
    with pytest.raises(RecordError, match="no such folder"):
        export_record(notebook, "fit", tmp_path / "missing" / "x.zip")


def test_failure_leaves_nothing_behind(notebook, project, tmp_path, monkeypatch):
    import nb_mlops.records.crate as crate

    out = tmp_path / "out"
    out.mkdir()

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(crate, "crate_metadata", broken)
    with pytest.raises(KeyboardInterrupt):
        export_record(notebook, "fit", out / "fit.zip", with_data=True)
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------- read_manifest, hostile
@pytest.fixture
def good(notebook) -> dict:
    return manifest_of(export_record(notebook, "fit").path)


def refused(doc, *, raw: bytes | None = None) -> str:
    data = raw if raw is not None else json.dumps(doc).encode()
    with pytest.raises(RecordError) as exc:
        read_manifest(data)
    message = str(exc.value)
    assert "\n" not in message and message.startswith("record.json")
    return message


def changed(doc: dict, path: str, value) -> dict:
    out = copy.deepcopy(doc)
    *parents, last = path.split("/")
    target = out
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is KeyError:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return out


def test_a_good_manifest_reads(good):
    assert read_manifest(json.dumps(good).encode()) == good


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        ("run/metrics/accuracy", "high", "run.metrics.accuracy: expected a number"),
        ("run/params", [1, 2], "run.params: expected a mapping"),
        ("runs/0/name", 7, "runs[0].name: expected text"),
        ("runs/0/models/0/version", True, "runs[0].models[0].version: expected a whole number"),
        ("determinism/seed", -1, "determinism.seed: -1 is outside"),
        ("git", "main", "git: expected a mapping"),
        ("data/0/md5", "../../etc", "data[0].md5: expected an md5"),
        ("data/0/path", "../outside.csv", "data[0].path: path '../outside.csv' has"),
        ("data/0/path", "/etc/passwd", "data[0].path: path '/etc/passwd' is absolute"),
        ("cells/notebook", "C:/x.ipynb", "cells.notebook: path 'C:/x.ipynb' is absolute"),
        ("cells/notebook", "a\\..\\b", "holds a backslash"),
        ("cells/count", 10**12, "cells.count: 1000000000000 is outside"),
        ("models/0/params", "params/missing.npz", "is not among the record's files"),
        ("run", KeyError, "the key 'run' is missing"),
        ("secrets", "api_key", "secrets: expected a list"),
        ("format", 2, "record format 2"),
        ("kind", "zip", "not an nb-mlops record"),
    ],
)
def test_hostile_fields_are_named(good, path, value, says):
    assert says in refused(changed(good, path, value))


def test_hostile_files_and_sizes(good):
    files = dict(good["files"])
    entry = next(iter(files.values()))
    for bad in ("../x", "/abs", "a/./b", "a//b", "x\x00y"):
        assert "files key" in refused({**good, "files": {**files, bad: entry}})
    big = {"sha256": "0" * 64, "size": rec.MAX_FILE_BYTES + 1}
    assert "is outside" in refused({**good, "files": {**files, "x.bin": big}})
    half = {"sha256": "0" * 64, "size": rec.MAX_FILE_BYTES}
    many = {**files, "a.bin": half, "b.bin": half}
    assert "bytes declared" in refused({**good, "files": many})
    assert "lists itself" in refused({**good, "files": {**files, "record.json": entry}})
    with_data = changed(good, "data/0/included", True)
    assert "says included, but object" in refused(with_data)


def test_huge_counts_are_refused(good, monkeypatch):
    runs = [good["runs"][0]] * (rec.MAX_RUNS + 1)
    assert f"more than {rec.MAX_RUNS}" in refused({**good, "runs": runs})
    deep: object = 1
    for _ in range(rec.MAX_DEPTH + 5):
        deep = [deep]
    assert "nested deeper" in refused(changed(good, "run/params/C", deep))
    monkeypatch.setattr(rec, "MAX_MANIFEST_BYTES", 1000)
    assert "more than the" in refused(good)


def test_bytes_that_are_not_a_manifest():
    assert "not valid JSON" in refused(None, raw=b'{"format": 1,')
    assert "not UTF-8" in refused(None, raw=b"\xff\xfe{}")
    assert "appears twice" in refused(None, raw=b'{"kind": "a", "kind": "b"}')
    assert "the top level: expected a mapping" in refused(None, raw=b"[]")
    assert "nested too deeply" in refused(None, raw=b"[" * 100_000)
    assert "not valid JSON" in refused(None, raw=b"9" * 5000)  # int digit limit
    with pytest.raises(RecordError):
        read_manifest("text")  # type: ignore[arg-type]


def test_safe_path_rules():
    assert safe_path("data/files/md5/ab/cd") == "data/files/md5/ab/cd"
    for bad in ("", "..", "a/../b", "/x", "x/", "\\\\server\\x", "a\nb", "D:x", "a" * 2000, 3):
        with pytest.raises(RecordError):
            safe_path(bad)


def test_deflated_bytes_of_zip_are_what_the_manifest_hashes(notebook):
    # the zip is written in one pass with data descriptors: each member still reads whole
    result = export_record(notebook, "fit")
    with zipfile.ZipFile(result.path) as zf:
        for info in zf.infolist():
            assert info.flag_bits & 0x08  # sizes after the data: nothing was rewritten
            raw = zf.read(info)
            assert zlib.crc32(raw) == info.CRC


def test_export_refuses_bad_run_argument(ws):
    with pytest.raises(NbMlopsError):
        export_record(ws, 42)
