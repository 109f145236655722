"""Finding every dataset of the project by its `.dvc` file (status, push, pull in a fresh clone)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nb_mlops as nm
from nb_mlops.data.discover import dvcfile_datasets


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("outs: []\n")


def test_every_dvc_file_is_found_and_what_holds_none_is_pruned(tmp_path: Path) -> None:
    root = tmp_path / "p"
    touch(
        root,
        "top.csv.dvc",
        "data/a/raw.dvc",
        "data/한국어 파일.csv.dvc",
        "ds.dvc",
        "ds/inside.dvc",  # inside a dataset's folder: never looked at
        ".git/x.dvc",
        "sub/.hg/y.dvc",
        ".dvc/z.dvc",
        ".nbmlops/cache/w.dvc",
        "nested/.dvc/config",  # another DVC project
        "nested/n.dvc",
        "other/.nbmlops/format.json",  # another nb-mlops workspace
        "other/o.dvc",
        ".venv/pyvenv.cfg",
        ".venv/lib/v.dvc",
        "env/conda-meta/history",
        "env/c.dvc",
        "web/node_modules/pkg/m.dvc",
        "nb/.ipynb_checkpoints/k.dvc",
        "skipped/s.dvc",
        "logs/l.dvc",
    )
    (root / ".dvcignore").write_text("/skipped/\n*.dvc\n!/data/**\n!/top.csv.dvc\n!/ds.dvc\n")
    os.symlink(root / "data", root / "linked")  # links to folders are not followed
    assert dvcfile_datasets(root) == ["data/a/raw", "data/한국어 파일.csv", "ds", "top.csv"]
    (root / ".dvcignore").unlink()
    assert dvcfile_datasets(root) == [
        "data/a/raw",
        "data/한국어 파일.csv",
        "ds",
        "logs/l",
        "skipped/s",
        "top.csv",
    ]


def test_status_lists_dvc_files_this_store_never_read(project: Path, tmp_path: Path) -> None:
    # A fresh clone: the .dvc files came from git, the data and the store did not.
    (project / "data").mkdir()
    (project / "data" / "t.csv").write_text("id\n1\n")
    (project / "m.bin").write_bytes(b"m")
    nm.snapshot("data")
    nm.snapshot("m.bin")
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copy(project / "data.dvc", clone / "data.dvc")
    (clone / "models").mkdir()
    shutil.copy(project / "m.bin.dvc", clone / "models" / "m.bin.dvc")
    (clone / "models" / "m.bin").write_bytes(b"other bytes")
    nm.init(clone / ".nbmlops")
    listed = nm.status()
    assert [s.path for s in listed.items] == ["data", "models/m.bin"]
    data, model = listed.items
    assert data.named == (clone / "data.dvc").read_text().split("md5: ")[1].split()[0]
    assert str(data) == (
        f"data: not in the workspace; data.dvc names {data.named}, which no cache here holds "
        "(fetch it with `pull`, or `dvc pull`)"
    )
    assert str(model).startswith("models/m.bin: changed from what models/m.bin.dvc names (")
    # once the bytes are there, the .dvc file's version is taken in like any `dvc add`
    (clone / "models" / "m.bin").write_bytes(b"m")
    assert str(nm.status(clone / "models" / "m.bin")) == "models/m.bin: version 1, unchanged"


def test_discovery_stays_fast_on_a_big_project(tmp_path: Path) -> None:
    root = tmp_path / "big"
    raw = root / "raw"  # untracked data: walked (dvc walks it too)
    for i in range(40):
        (raw / f"d{i}").mkdir(parents=True)
        for j in range(50):
            (raw / f"d{i}" / f"f{j}.txt").write_bytes(b"")
    touch(root, "ds.dvc", "raw/d7/x.csv.dvc")
    (root / "ds").mkdir()
    for i in range(2000):  # inside a dataset: pruned
        (root / "ds" / f"{i}.bin").write_bytes(b"")
    start = time.perf_counter()
    assert dvcfile_datasets(root) == ["ds", "raw/d7/x.csv"]
    assert time.perf_counter() - start < 1.0  # 2,000 files walked: about 0.02 s here
