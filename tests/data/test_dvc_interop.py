"""Against the real `dvc` (installed by ./dev in .venv-dvc): what we write, DVC reads, and back."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import nb_mlops as nm

REPO = Path(__file__).resolve().parents[2]
DVC = Path(os.environ.get("NB_MLOPS_TEST_DVC", REPO / ".venv-dvc" / "bin" / "dvc"))

pytestmark = pytest.mark.slow


def dvc(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    if not DVC.exists():
        pytest.fail(f"the real dvc is needed at {DVC}: run `./dev setup` (or NB_MLOPS_TEST_DVC)")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    out = subprocess.run(
        [str(DVC), *args], cwd=project, capture_output=True, text=True, env=env, check=False
    )
    if check and out.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


def make_data(folder: Path, rows: int = 3) -> None:
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "train.csv").write_text("id,x\n" + "".join(f"{i},{i * 2}\n" for i in range(rows)))
    (folder / "sub" / "학습 데이터.txt").write_text("한국어 텍스트\n", encoding="utf-8")
    (folder / "with space.bin").write_bytes(bytes(range(256)))


@pytest.fixture
def repo(project: Path) -> Path:
    git(project, "init", "-q")
    make_data(project / "data")
    return project


def up_to_date(project: Path) -> bool:
    out = dvc(project, "status")
    return "up to date" in out.stdout


def test_dvc_files_are_byte_identical_to_dvc_add(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    dvc(other, "init", "-q")
    shutil.copytree(repo / "data", other / "data")
    shutil.copy(repo / "data" / "train.csv", other / "train.csv")
    dvc(other, "add", "-q", "data", "train.csv")
    shutil.copy(repo / "data" / "train.csv", repo / "train.csv")
    nm.snapshot("data")
    nm.snapshot("train.csv")
    assert (repo / "data.dvc").read_bytes() == (other / "data.dvc").read_bytes()
    assert (repo / "train.csv.dvc").read_bytes() == (other / "train.csv.dvc").read_bytes()
    assert (repo / ".gitignore").read_text() == (other / ".gitignore").read_text()


def test_dvc_sees_our_snapshot_and_restores_it(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data", "v1")
    assert up_to_date(repo)
    shutil.rmtree(repo / "data")
    dvc(repo, "checkout", "-q", "data.dvc")
    restored = (repo / "data" / "sub" / "학습 데이터.txt").read_text(encoding="utf-8")
    assert restored == "한국어 텍스트\n"
    assert nm.status("data").items[0].clean


def test_dvc_init_after_our_first_snapshot(repo: Path) -> None:
    nm.snapshot("data", "before dvc existed")
    dvc(repo, "init", "-q")
    nm.status("data")  # any nm-mlops command on the dataset brings DVC's cache in line
    assert up_to_date(repo)


def test_dvc_gc_cannot_destroy_our_history(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data", "v1")
    (repo / "data" / "train.csv").write_text("id,x\n9,9\n")
    nm.snapshot("data", "v2")
    dvc(repo, "gc", "--workspace", "--force", "-q")
    nm.checkout("data", 1)
    assert (repo / "data" / "train.csv").read_text().startswith("id,x\n0,0\n")
    assert up_to_date(repo)  # version 1's objects were placed back in DVC's cache


def test_a_version_made_by_dvc_add_is_taken_in(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data", "ours")
    (repo / "data" / "train.csv").write_text("id,x\n0,0\n1,3\n7,7\n")
    (repo / "data" / "with space.bin").unlink()
    dvc(repo, "add", "-q", "data")
    table = nm.versions("data").to_dict()
    assert [v["version"] for v in table["versions"]] == [1, 2]
    assert table["versions"][1]["source"] == "dvc"
    assert table["versions"][1]["message"] == "added with dvc"
    assert table["current"] == 2
    d = nm.diff("data", 1, 2, key="id")
    assert d.deleted == ["with space.bin"] and d.modified == ["train.csv"]
    assert d.tables["train.csv"].added == 1 and d.tables["train.csv"].changed == 1
    nm.checkout("data", 1)
    assert (repo / "data" / "with space.bin").read_bytes() == bytes(range(256))
    assert up_to_date(repo)


# -- overlapping datasets (issue 10, point 14) ------------------------------------------------


def project_files(project: Path) -> dict[str, bytes]:
    """Every file outside the store, `.dvc` and `.git`: the .dvc files and .gitignore lines."""
    skip = (".nbmlops", ".dvc", ".git")
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file() and p.relative_to(project).parts[0] not in skip
    }


def test_a_folder_holding_a_dataset_is_refused_as_dvc_refuses_it(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data/train.csv")
    before = project_files(repo)
    with pytest.raises(nm.NbMlopsError) as err:
        nm.snapshot("data")
    assert str(err.value) == (
        "cannot snapshot data: it overlaps data/train.csv, a dataset of its own "
        "(data/train.csv.dvc); to include it in data, remove data/train.csv.dvc, then snapshot data"
    )
    assert project_files(repo) == before  # no data.dvc, no .gitignore line hiding train.csv.dvc
    assert [d["path"] for d in nm.status().to_dict()["datasets"]] == ["data/train.csv"]
    # the real dvc refuses the same case
    out = dvc(repo, "add", "data", check=False)
    assert out.returncode != 0
    assert "overlapping with other DVC tracked output: 'data/train.csv'" in out.stderr
    # once the inner dataset's .dvc file is gone, the folder is one dataset
    (repo / "data" / "train.csv.dvc").unlink()
    assert nm.snapshot("data").created


def test_a_file_inside_a_dataset_is_refused(repo: Path) -> None:
    dvc(repo, "init", "-q")
    nm.snapshot("data")
    before = project_files(repo)
    with pytest.raises(nm.NbMlopsError) as err:
        nm.snapshot("data/sub/학습 데이터.txt")
    assert str(err.value) == (
        "cannot snapshot data/sub/학습 데이터.txt: it overlaps data, a dataset of its own "
        "(data.dvc); to version this change, snapshot data"
    )
    assert project_files(repo) == before
    # the real dvc never makes an output inside another one either: it updates `data` instead
    dvc(repo, "add", "-q", "data/sub/학습 데이터.txt")
    assert not (repo / "data" / "sub" / "학습 데이터.txt.dvc").exists()
    assert sorted(p.name for p in repo.rglob("*.dvc") if p.is_file()) == ["data.dvc"]
