"""`PATH.dvc`: written exactly as DVC 3 writes it, read back strictly, damage named by line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import nb_mlops as nm
from nb_mlops.data.dvcfile import DvcFileError, read_dvcfile, write_dvcfile
from nb_mlops.store.hashing import hash_tree
from nb_mlops.store.workspace import Workspace


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def data(project: Path) -> Path:
    folder = project / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"alpha\n")
    (folder / "sub" / "b.txt").write_bytes(b"beta\n")
    return folder


def test_exact_text_for_a_file(project: Path) -> None:
    (project / "train.csv").write_bytes(b"id,x\n1,2\n")
    nm.snapshot("train.csv")
    want = md5(b"id,x\n1,2\n")
    assert (project / "train.csv.dvc").read_text() == (
        f"outs:\n- md5: {want}\n  size: 9\n  hash: md5\n  path: train.csv\n"
    )


def test_exact_text_for_a_folder(data: Path, project: Path) -> None:
    nm.snapshot("data")
    dir_md5 = hash_tree(data)[0]
    assert (project / "data.dvc").read_text() == (
        f"outs:\n- md5: {dir_md5}\n  size: 11\n  nfiles: 2\n  hash: md5\n  path: data\n"
    )


def test_nested_data_gets_its_dvc_file_beside_it_with_its_own_name(project: Path) -> None:
    (project / "raw" / "2024").mkdir(parents=True)
    (project / "raw" / "2024" / "x y.bin").write_bytes(b"\x00\x01")
    nm.snapshot("raw/2024/x y.bin")
    text = (project / "raw" / "2024" / "x y.bin.dvc").read_text()
    assert text.endswith("  path: x y.bin\n")
    assert not (project / "x y.bin.dvc").exists()


def test_our_extras_never_go_in_the_dvc_file(project: Path) -> None:
    (project / "t.csv").write_text("id,x\n1,2\n")
    nm.snapshot("t.csv", "a message that must stay in the catalog")
    text = (project / "t.csv.dvc").read_text()
    for extra in ("message", "rows", "columns", "time", "version", "catalog"):
        assert extra not in text


def test_the_dvc_file_follows_each_version(data: Path, project: Path) -> None:
    nm.snapshot("data")
    v1 = (project / "data.dvc").read_text()
    (data / "c.txt").write_text("gamma")
    nm.snapshot("data")
    v2 = (project / "data.dvc").read_text()
    assert "nfiles: 3" in v2 and v1 != v2
    nm.checkout("data", 1)
    assert (project / "data.dvc").read_text() == v1
    nm.checkout("data", "latest")
    assert (project / "data.dvc").read_text() == v2


def test_the_dvc_file_may_name_the_dataset(data: Path, project: Path) -> None:
    nm.snapshot("data.dvc", "by its .dvc file")
    assert nm.versions("data.dvc").to_dict()["path"] == "data"
    assert nm.status("data.dvc").items[0].clean


def test_read_back_what_was_written(tmp_path: Path) -> None:
    target = tmp_path / "d"
    write_dvcfile(target, "0" * 32 + ".dir", 10, 3)
    out = read_dvcfile(tmp_path / "d.dvc")
    assert (out.md5, out.size, out.nfiles, out.path, out.isdir) == (
        "0" * 32 + ".dir",
        10,
        3,
        "d",
        True,
    )
    write_dvcfile(target, "f" * 32, 7, None)
    out = read_dvcfile(tmp_path / "d.dvc")
    assert (out.md5, out.size, out.nfiles, out.isdir) == ("f" * 32, 7, None, False)


# -- damaged .dvc files ---------------------------------------------------------------------

INVALID = "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: [1, 2\n  hash: md5\n"


@pytest.mark.parametrize("verb", ["status", "versions", "checkout", "diff"])
def test_invalid_yaml_is_named_with_its_line(
    data: Path, project: Path, ws: Workspace, verb: str
) -> None:
    nm.snapshot("data")
    dvcfile = project / "data.dvc"
    dvcfile.write_text(INVALID)
    call = {
        "status": lambda: nm.status("data"),
        "versions": lambda: nm.versions("data"),
        "checkout": lambda: nm.checkout("data", 1),
        "diff": lambda: nm.diff("data", 1),
    }[verb]
    with pytest.raises(DvcFileError) as err:
        call()
    msg = str(err.value)
    assert str(dvcfile) in msg and "line 4" in msg and "YAML" in msg
    assert "\n" not in msg
    assert dvcfile.read_text() == INVALID  # left for the user to see and restore


def test_status_of_every_dataset_names_the_damaged_file(data: Path, project: Path) -> None:
    nm.snapshot("data")
    (project / "m.bin").write_bytes(b"m")
    nm.snapshot("m.bin")
    (project / "data.dvc").write_text(INVALID)
    listed = nm.status()  # one damaged .dvc file does not hide the other datasets
    first, second = str(listed).splitlines()
    assert first.startswith("data: ") and "data.dvc is not valid YAML at line 4" in first
    assert second == "m.bin: version 1, unchanged"
    assert "not valid YAML" in listed.to_dict()["datasets"][0]["error"]
    assert listed.failed == ["data"]
    with pytest.raises(DvcFileError, match=r"data\.dvc is not valid YAML at line 4"):
        nm.status("data")  # asked by name, it is an error


def test_snapshot_repairs_an_invalid_dvc_file(data: Path, project: Path) -> None:
    # The error tells the user to "snapshot the data again": that must work, not repeat the error.
    nm.snapshot("data")
    good = (project / "data.dvc").read_text()
    (project / "data.dvc").write_text(INVALID)
    r = nm.snapshot("data")
    assert r.snapshot.version == 1 and r.created is False
    assert (project / "data.dvc").read_text() == good


@pytest.mark.parametrize(
    "text",
    [
        "outs: []\n",
        "foo: 1\n",
        "",
        "- just a list\n",
        "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: a\n"
        "- md5: 0123456789abcdef0123456789abcdef\n  path: b\n",
    ],
    ids=["empty-outs", "no-outs", "empty-file", "a-list", "two-outs"],
)
def test_a_dvc_file_without_one_output_is_named(data: Path, project: Path, text: str) -> None:
    nm.snapshot("data")
    (project / "data.dvc").write_text(text)
    for call in (lambda: nm.versions("data"), lambda: nm.status("data")):
        with pytest.raises(DvcFileError) as err:
            call()
        assert str(project / "data.dvc") in str(err.value) and "outs" in str(err.value)
        assert "\n" not in str(err.value)


def test_a_hash_that_is_not_md5_is_named(data: Path, project: Path) -> None:
    nm.snapshot("data")
    (project / "data.dvc").write_text("outs:\n- etag: abc\n  path: data\n")
    with pytest.raises(DvcFileError) as err:
        nm.versions("data")
    assert str(project / "data.dvc") in str(err.value) and "etag" in str(err.value)
