"""The RO-Crate side of a record (records/crate.py): written with `rocrate`, read back by it."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from rocrate.rocrate import ROCrate

from nb_mlops.records.crate import CrateFile, crate_files, crate_metadata, write_crate
from nb_mlops.records.record import RecordError


def make_folder(root: Path) -> dict[str, bytes]:
    files = {
        "notebook.ipynb": b'{"cells": []}',
        "environment/requirements.txt": b"numpy==2.0\n",
        "data/files/md5/ab/" + "c" * 30: bytes(range(256)) * 10,
        "outputs/run one/stdout.txt": b"hello\n",
        "empty.txt": b"",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_write_crate_reads_back_with_rocrate(tmp_path):
    files = make_folder(tmp_path)
    got = write_crate(
        tmp_path,
        "nb-mlops run record: demo",
        descriptions={"notebook.ipynb": ("application/x-ipynb+json", "the cells")},
    )
    want = {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}
    assert got == want
    crate = ROCrate(tmp_path)
    assert crate.name == "nb-mlops run record: demo"
    listed = {e.id: e for e in crate.data_entities if "File" in e.type}
    assert len(listed) == len(files)
    nb = listed["notebook.ipynb"]
    assert nb["encodingFormat"] == "application/x-ipynb+json"
    assert nb["description"] == "the cells"
    assert nb["contentSize"] == str(len(files["notebook.ipynb"]))
    assert crate_files(tmp_path) == want  # ids are unquoted: "outputs/run one/stdout.txt"


def test_crate_metadata_is_json_ld_for_streamed_files(tmp_path):
    data = b"x" * 100
    meta = crate_metadata(
        "nb-mlops run record: r",
        [CrateFile("record.json", hashlib.sha256(data).hexdigest(), 100, "application/json")],
        description="a run",
    )
    doc = json.loads(meta)
    graph = {e["@id"]: e for e in doc["@graph"]}
    assert graph["./"]["name"] == "nb-mlops run record: r"
    assert graph["./"]["hasPart"] == [{"@id": "record.json"}]
    assert graph["record.json"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert graph["ro-crate-metadata.json"]["about"] == {"@id": "./"}
    # written beside its files, the metadata is a crate rocrate reads
    (tmp_path / "record.json").write_bytes(data)
    (tmp_path / "ro-crate-metadata.json").write_bytes(meta)
    assert crate_files(tmp_path) == {"record.json": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a//b", "a\\b", "./a", "C:/x"])
def test_crate_metadata_refuses_unsafe_paths(bad):
    with pytest.raises(RecordError) as exc:
        crate_metadata("n", [CrateFile(bad, "0" * 64, 1)])
    assert "\n" not in str(exc.value)


def test_crate_files_from_a_zip_reads_only_the_metadata(tmp_path):
    folder = tmp_path / "crate"
    folder.mkdir()
    files = make_folder(folder)
    want = write_crate(folder, "z")
    zpath = tmp_path / "crate.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for path in folder.rglob("*"):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    assert crate_files(zpath) == want
    assert len(want) == len(files)


def test_not_a_crate_is_one_line(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(RecordError) as exc:
        crate_files(tmp_path)
    assert "is not an RO-Crate" in str(exc.value) and "\n" not in str(exc.value)
    zpath = tmp_path / "plain.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("a.txt", "x")
    with pytest.raises(RecordError, match=r"holds no ro-crate-metadata\.json"):
        crate_files(zpath)
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("ro-crate-metadata.json", "[1, 2")
    with pytest.raises(RecordError, match="is not JSON"):
        crate_files(zpath)


def test_a_file_without_sha256_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    meta = json.loads(crate_metadata("n", [CrateFile("a.txt", "0" * 64, 1)]))
    for entity in meta["@graph"]:
        entity.pop("sha256", None)
    (tmp_path / "ro-crate-metadata.json").write_text(json.dumps(meta))
    with pytest.raises(RecordError, match=r"'a\.txt' has no sha256"):
        crate_files(tmp_path)
